"""Serial numbers as the sandbox computes them, by its own code (from ``cryptography``'s parsed names, for the
plain names the sandbox issues), never by the rail's: the sandbox checks the rail, so it must not share the
rail's mistakes. Rule: MD5 hex of the issuer written RDN-last-first as ``CN=…,OU=…,O=…,C=…`` followed by the
decimal serial; the root value joins the RSA-signed roots' serials with ``_``.
"""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

# The RSA signature algorithms, named one by one (the rail tests the OID arc; a different rule on purpose).
_RSA_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_MD5,
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.RSA_WITH_SHA224,
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
    }
)
_SHORT_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.COUNTRY_NAME: "C",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
}
# Characters a distinguished-name string would escape; the sandbox never puts them in a name.
_SPECIAL = re.compile(r'[,=+<>#;"\\\x00]|^\s|\s$')

def sandbox_cert_sn(certificate: x509.Certificate) -> str:
    """The serial number of a certificate whose issuer has plain one-attribute RDNs (all the sandbox issues)."""
    parts = []
    for rdn in reversed(certificate.issuer.rdns):
        attributes = list(rdn)
        if len(attributes) != 1:
            raise ValueError("the sandbox computes serial numbers for one-attribute RDNs only")
        attribute = attributes[0]
        short = _SHORT_NAMES.get(attribute.oid)
        value = attribute.value
        if short is None or not isinstance(value, str) or _SPECIAL.search(value):
            raise ValueError(f"the sandbox computes serial numbers for plain names only, not {attribute.oid.dotted_string}")
        parts.append(f"{short}={value}")
    text = ",".join(parts) + str(certificate.serial_number)
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def sandbox_root_cert_sn(roots: list[x509.Certificate]) -> str:
    return "_".join(sandbox_cert_sn(c) for c in roots if c.signature_algorithm_oid in _RSA_SIGNATURES)
