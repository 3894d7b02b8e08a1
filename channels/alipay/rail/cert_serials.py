"""Serial numbers of Alipay's certificate mode, computed exactly as Alipay's SDKs compute them.

Sources: JV ``internal/util/AlipaySignature.getCertSN`` and ``AntCertificationUtil.getCertSN`` /
``getRootCertSN``; NODE alipay/alipay-sdk-nodejs-all ``src/antcertutil.ts``; PHP alipay/alipay-sdk-php-all
``aop/AopCertClient.php``; FZ ``DCAliPay.get_cert_sn`` / ``get_root_cert_sn``.

* ``cert_sn`` = lower-case hex MD5 of (the issuer's name as Java's ``X500Principal.getName()`` writes it,
  i.e. RFC 2253: RDNs from last to first, ``CN=…,OU=…,O=…,C=…``) + (the serial number in decimal).
* ``alipay_root_cert_sn`` = ``cert_sn`` of every certificate in the root file whose signature algorithm is
  RSA, in file order, joined with ``_``. JV and NODE test the algorithm OID with
  ``startsWith("1.2.840.113549.1.1")`` (PKCS#1); PHP keeps only sha1WithRSA and sha256WithRSA, FZ the
  PKCS#1 v1.5 hashes. They agree on every certificate of Alipay's real root file; here JV's test is used.

Where the SDKs disagree, on names Alipay never issues (e-mail attributes, escaped characters; FZ writes
exactly ``CN=…,OU=…,O=…,C=…`` whatever the name holds), JV wins as Alipay's primary SDK, so
:func:`issuer_name` walks the issuer's DER itself rather than trust a library's string form; the signature
algorithm is read from the DER too, because ``cryptography`` cannot parse every root Alipay ships.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from channels.alipay.rail.errors import CertificateError

#: JV/NODE: ``sigAlgOID.startsWith("1.2.840.113549.1.1")``: the PKCS#1 arc, i.e. RSA signatures.
RSA_SIGNATURE_OID_PREFIX = "1.2.840.113549.1.1"



def cert_sn(certificate: x509.Certificate) -> str:
    """The serial number Alipay's SDKs compute for one certificate (``app_cert_sn``, ``alipay_cert_sn``)."""
    text = issuer_name(certificate) + str(certificate.serial_number)
    # JV hashes String.getBytes() (UTF-8 on every JDK since 18, and where Alipay's names are ASCII anyway);
    # NODE hashes UTF-8 explicitly.
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def root_cert_sn(certificates: Iterable[bytes | x509.Certificate]) -> str:
    """``alipay_root_cert_sn``: the ``cert_sn`` of each RSA-signed certificate (DER or parsed), joined by ``_``.

    DER is accepted because ``cryptography`` cannot parse every certificate of Alipay's real root file
    (its ECDSA root carries NULL algorithm parameters); those are never RSA-signed, so they are skipped
    by their signature algorithm, read from the DER directly.
    """
    sns = []
    for item in certificates:
        der = item.public_bytes(serialization.Encoding.DER) if isinstance(item, x509.Certificate) else item
        if is_rsa_signed(der):
            parsed = item if isinstance(item, x509.Certificate) else x509.load_der_x509_certificate(der)
            sns.append(cert_sn(parsed))
    return "_".join(sns)


def is_rsa_signed(der: bytes) -> bool:
    """Whether the certificate's outer signature algorithm is in the PKCS#1 (RSA) arc, tested as JV does."""
    return _signature_algorithm_oid(der).startswith(RSA_SIGNATURE_OID_PREFIX)


def issuer_name(certificate: x509.Certificate) -> str:
    """The issuer as Java's ``X500Principal.getName()`` (RFC 2253) writes it, read from the issuer's DER.

    Java (``sun.security.x509.AVA.toRFC2253String``): RDNs from the last to the first, joined by ``,``;
    attributes of one RDN in encoded order, joined by ``+``; ``CN C L ST O OU STREET DC UID`` as keywords,
    any other type as its dotted OID with the value as ``#`` + the hex of its DER; a value of a string type
    decoded as UTF-8, with ``, = + < > # ; " \\`` escaped by a backslash, NUL as ``\\00``, and leading or
    trailing spaces (and carriage returns) escaped.
    """
    return ",".join(
        "+".join(_ava_rfc2253(oid, tag, content, tlv) for oid, tag, content, tlv in rdn)
        for rdn in reversed(_name_rdns(certificate.issuer.public_bytes()))
    )


# RFC 2253 keywords (JV's AVAKeyword table, the entries valid in RFC 2253 form).
_RFC2253_KEYWORDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
# JV's AVA.isDerString(value, false): PrintableString, T61String, IA5String, GeneralString, BMPString,
# UTF8String. Anything else is written as hex.
_DER_STRING_TAGS = frozenset({0x13, 0x14, 0x16, 0x1B, 0x1E, 0x0C})
_RFC2253_ESCAPED = ',=+<>#;"\\'


def _ava_rfc2253(oid: str, tag: int, content: bytes, tlv: bytes) -> str:
    keyword = _RFC2253_KEYWORDS.get(oid, oid)
    if keyword[0].isdigit() or tag not in _DER_STRING_TAGS:
        return f"{keyword}=#{tlv.hex()}"
    # JV decodes the content bytes as UTF-8 whatever the string type (so a BMPString comes out garbled
    # there too); a malformed sequence becomes U+FFFD, as Java's decoder does.
    value = content.decode("utf-8", errors="replace")
    escaped: list[str] = []
    for char in value:
        if char in _RFC2253_ESCAPED:
            escaped.append("\\" + char)
        elif char == "\x00":
            escaped.append("\\00")
        else:
            escaped.append(char)
    chars = "".join(escaped)
    lead = 0
    while lead < len(chars) and chars[lead] in " \r":
        lead += 1
    trail = len(chars) - 1
    while trail >= 0 and chars[trail] in " \r":
        trail -= 1
    # JV escapes the leading and trailing whitespace of the already-escaped text, one backslash each.
    out = "".join("\\" + c if (i < lead or i > trail) else c for i, c in enumerate(chars))
    return f"{keyword}={out}"


# ---------------------------------------------------------------- a little DER, for what cryptography hides


def _der_element(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``offset``; refuses anything truncated."""
    if offset + 2 > end:
        raise CertificateError("certificate DER is truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise CertificateError("certificate DER uses a multi-byte tag")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise CertificateError("certificate DER has a bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise CertificateError("certificate DER is truncated")
    return tag, pos, pos + length


def _der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element between ``start`` and ``end``."""
    children = []
    pos = start
    while pos < end:
        tag, content_start, content_end = _der_element(data, pos, end)
        children.append((tag, pos, content_start, content_end))
        pos = content_end
    return children


def _oid_text(content: bytes) -> str:
    if not content:
        raise CertificateError("certificate DER has an empty object identifier")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise CertificateError("certificate DER has a truncated object identifier")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _signature_algorithm_oid(der: bytes) -> str:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, ... }, signature }."""
    tag, start, end = _der_element(der, 0, len(der))
    if tag != 0x30:
        raise CertificateError("certificate DER is not a SEQUENCE")
    parts = _der_children(der, start, end)
    if len(parts) != 3 or parts[1][0] != 0x30:
        raise CertificateError("certificate DER is not a certificate")
    algorithm = _der_children(der, parts[1][2], parts[1][3])
    if not algorithm or algorithm[0][0] != 0x06:
        raise CertificateError("certificate DER has no signature algorithm")
    return _oid_text(der[algorithm[0][2] : algorithm[0][3]])


def _name_rdns(der: bytes) -> list[list[tuple[str, int, bytes, bytes]]]:
    """Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }: (oid, tag, content, full TLV) per AVA."""
    tag, start, end = _der_element(der, 0, len(der))
    if tag != 0x30:
        raise CertificateError("issuer name DER is not a SEQUENCE")
    rdns = []
    for set_tag, _, set_start, set_end in _der_children(der, start, end):
        if set_tag != 0x31:
            raise CertificateError("issuer name DER has an RDN that is not a SET")
        avas = []
        for ava_tag, _, ava_start, ava_end in _der_children(der, set_start, set_end):
            pair = _der_children(der, ava_start, ava_end)
            if ava_tag != 0x30 or len(pair) != 2 or pair[0][0] != 0x06:
                raise CertificateError("issuer name DER has a malformed attribute")
            (_, _, oid_start, oid_end), (value_tag, value_at, value_start, value_end) = pair
            avas.append(
                (_oid_text(der[oid_start:oid_end]), value_tag, der[value_start:value_end], der[value_at:value_end])
            )
        rdns.append(avas)
    return rdns


