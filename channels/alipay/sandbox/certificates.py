"""The sandbox as Alipay's certificate authority, for apps in public-key certificate mode (公钥证书模式).

Shaped like Alipay's real hierarchy so a client meets the same files and the same traps:

* a **root file** of three roots in this order: an ECDSA root (as Alipay's file holds SM2 and ECDSA roots,
  which ``alipay_root_cert_sn`` leaves out), then two RSA roots whose serial numbers make
  ``alipay_root_cert_sn`` (``<sn of R1>_<sn of G2>``);
* two intermediates under R1: ``Class 1 R1`` issues **app certificates** (for the app's own public key),
  ``Class 2 R1`` issues the **Alipay certificate** whose key signs the sandbox's answers; the Alipay
  certificate file carries the intermediate after it, as Alipay's does;
* names written ``C, O, OU, CN`` in the DER, so the issuer string is ``CN=…,OU=…,O=…,C=CN`` like Alipay's.

The Alipay certificate can be rotated (new key, new serial). The old ones stay downloadable through
``alipay.open.app.alipaycert.download``, whose answer carries the certificate file as Base64 in
``alipay_cert_content`` (``AlipayOpenAppAlipaycertDownloadResponse`` in Alipay's SDKs).

Serial numbers are computed here by the sandbox's own code (from ``cryptography``'s parsed names, for the
plain names the sandbox issues), never by the rail's: the sandbox checks the rail, so it must not share
the rail's mistakes. Rule: MD5 hex of the issuer written RDN-last-first as ``CN=…,OU=…,O=…,C=…`` followed by
the decimal serial; the root value joins the RSA-signed roots' serials with ``_``.

Answers to wrong certificate parameters, as Alipay gives them (code 40002 "Invalid Arguments"):
``isv.missing-app-cert-sn`` (a transfer in key mode: yansongda/pay#325, #378), ``isv.app-cert-not-exist``
(alipay/alipay-sdk-nodejs-all#56, yansongda/pay#405), ``isv.invalid-alipay-root-cert-sn``
(yansongda/pay#491). The sandbox compares ``alipay_root_cert_sn`` exactly, stricter than Alipay may be, so a
client that lets the ECDSA root into it is caught. The download's answer for an unknown serial is the
sandbox's own choice (Alipay's is not documented publicly).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .cert_serials import sandbox_cert_sn, sandbox_root_cert_sn

#: Methods Alipay accepts only in certificate mode (a key-mode call is refused).
CERTIFICATE_ONLY_METHODS = frozenset({"alipay.fund.trans.uni.transfer"})
DOWNLOAD_METHOD = "alipay.open.app.alipaycert.download"

ORGANISATION = "Cashier Sandbox CA"
CA_UNIT = "Certification Authority"
RSA_KEY_BITS = 2048
CA_VALIDITY = timedelta(days=20 * 365)
CERT_VALIDITY = timedelta(days=5 * 365)

_SN = re.compile(r"[0-9a-f]{32}")
_APP_ID = re.compile(r"[0-9A-Za-z_]{1,32}")


def _name(common_name: str, *, organisation: str = ORGANISATION, unit: str = CA_UNIT) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(*certificates: x509.Certificate) -> bytes:
    # Blank lines between blocks, as in Alipay's files (FZ's reader splits on them).
    return b"\n".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate file as the sandbox hands it out, with the serial number the sandbox expects."""

    pem: bytes
    sn: str
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class SandboxAlipayCertificate:
    """One Alipay certificate of the sandbox: the file (certificate, then intermediate) and its signing key."""

    pem: bytes
    sn: str
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:  # never print the key
        return f"<SandboxAlipayCertificate {self.sn}>"


@dataclass(frozen=True, slots=True)
class CertificateRefusal:
    """An answer Alipay gives instead of running a call whose certificate parameters are wrong."""

    code: str
    msg: str
    sub_code: str
    sub_msg: str

    def node(self) -> dict[str, str]:
        return {"code": self.code, "msg": self.msg, "sub_code": self.sub_code, "sub_msg": self.sub_msg}


MISSING_APP_CERT_SN = CertificateRefusal("40002", "Invalid Arguments", "isv.missing-app-cert-sn", "缺少应用公钥证书序列号")
APP_CERT_NOT_EXIST = CertificateRefusal("40002", "Invalid Arguments", "isv.app-cert-not-exist", "应用公钥证书不存在")
INVALID_ROOT_CERT_SN = CertificateRefusal(
    "40002", "Invalid Arguments", "isv.invalid-alipay-root-cert-sn", "无效支付宝根证书序列号"
)
ALIPAY_CERT_NOT_EXIST = CertificateRefusal("40004", "Business Failed", "ALIPAY_CERT_NOT_EXIST", "支付宝公钥证书不存在")


class SandboxCertificateAuthority:
    """Roots, intermediates, app certificates and rotating Alipay certificates for one sandbox. Thread-safe."""

    def __init__(self, *, now: datetime | None = None, state: Mapping[str, object] | None = None) -> None:
        self._lock = threading.Lock()
        self._apps: dict[str, IssuedCertificate] = {}
        self._alipay: dict[str, SandboxAlipayCertificate] = {}
        self._current = ""
        if state is not None:
            self._restore(state)
            return
        start = (now or datetime.now(timezone.utc)) - timedelta(days=1)
        self._start = start
        ec_key = ec.generate_private_key(ec.SECP256R1())
        self._e1 = self._self_signed(ec_key, "Cashier Sandbox Certification Authority E1", start)
        r1_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        self._r1 = self._self_signed(r1_key, "Cashier Sandbox Certification Authority R1", start)
        g2_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        self._g2 = self._self_signed(g2_key, "Cashier Sandbox Root CA G2", start)
        self._class1_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        self._class1 = self._intermediate(self._class1_key, "Class 1 R1", self._r1, r1_key, start)
        self._class2_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        self._class2 = self._intermediate(self._class2_key, "Class 2 R1", self._r1, r1_key, start)
        self._roots = [self._e1, self._r1, self._g2]
        self._root_sn = sandbox_root_cert_sn(self._roots)
        self.rotate_alipay_certificate(now=start + timedelta(days=1))

    # ------------------------------------------------------------ the state file

    def to_state(self) -> dict[str, object]:
        """Everything needed to be the same CA after a restart, keys included (the state file is the sandbox's
        own, written owner-only; these are TEST-ONLY keys of a local stand-in)."""
        with self._lock:
            return {
                "roots": [_cert_pem(c) for c in self._roots],
                "class1": [_cert_pem(self._class1), _key_pem(self._class1_key)],
                "class2": [_cert_pem(self._class2), _key_pem(self._class2_key)],
                "apps": {app_id: issued.pem.decode("ascii") for app_id, issued in self._apps.items()},
                "alipay": [[c.pem.decode("ascii"), _key_pem(c.private_key)] for c in self._alipay.values()],
                "current": self._current,
            }

    def _restore(self, state: Mapping[str, object]) -> None:
        def cert(text: object) -> x509.Certificate:
            return x509.load_pem_x509_certificate(str(text).encode("ascii"))

        def key(text: object) -> rsa.RSAPrivateKey:
            loaded = serialization.load_pem_private_key(str(text).encode("ascii"), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError("sandbox CA state: not an RSA key")
            return loaded

        roots, class1, class2 = state["roots"], state["class1"], state["class2"]
        apps, alipay = state["apps"], state["alipay"]
        assert isinstance(roots, list) and isinstance(class1, list) and isinstance(class2, list)
        assert isinstance(apps, dict) and isinstance(alipay, list)
        self._roots = [cert(c) for c in roots]
        self._class1, self._class1_key = cert(class1[0]), key(class1[1])
        self._class2, self._class2_key = cert(class2[0]), key(class2[1])
        self._root_sn = sandbox_root_cert_sn(self._roots)
        for app_id, pem in apps.items():
            issued = cert(pem)
            self._apps[str(app_id)] = IssuedCertificate(str(pem).encode("ascii"), sandbox_cert_sn(issued), issued)
        for pem, private in alipay:
            first = cert(pem)
            held = SandboxAlipayCertificate(str(pem).encode("ascii"), sandbox_cert_sn(first), first, key(private))
            self._alipay[held.sn] = held
        self._current = str(state["current"])

    # ------------------------------------------------------------ issuing

    @staticmethod
    def _serial() -> int:
        # Alipay's serials are 16 bytes with the issue date in front; random 127-bit ones do as well here.
        return secrets.randbits(127) | (1 << 126)

    def _self_signed(
        self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, common_name: str, start: datetime
    ) -> x509.Certificate:
        name = _name(common_name)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(self._serial())
            .not_valid_before(start)
            .not_valid_after(start + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )

    def _intermediate(
        self, key: rsa.RSAPrivateKey, label: str, issuer: x509.Certificate, issuer_key: rsa.RSAPrivateKey, start: datetime
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(f"Cashier Sandbox Certification Authority {label}"))
            .issuer_name(issuer.subject)
            .public_key(key.public_key())
            .serial_number(self._serial())
            .not_valid_before(start)
            .not_valid_after(start + CA_VALIDITY - timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
            .sign(issuer_key, hashes.SHA256())
        )

    def _leaf(
        self,
        public_key: rsa.RSAPublicKey,
        subject: x509.Name,
        issuer: x509.Certificate,
        issuer_key: rsa.RSAPrivateKey,
        not_before: datetime,
        not_after: datetime,
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(self._serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=True, key_encipherment=True,
                    data_encipherment=True, key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(issuer_key, hashes.SHA256())
        )

    def issue_app_certificate(
        self, app_id: str, app_public_key: rsa.RSAPublicKey, *, holder: str = "Cashier Sandbox Merchant",
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """Certify an app's public key; the app is in certificate mode from now on (a new one replaces the old)."""
        if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
            raise ValueError("app_id must be 1 to 32 letters, digits or underscores")
        if not isinstance(app_public_key, rsa.RSAPublicKey) or app_public_key.key_size < RSA_KEY_BITS:
            raise ValueError(f"app {app_id}: the app key must be RSA with at least {RSA_KEY_BITS} bits")
        # An hour's grace before "now", so a client whose clock runs a little behind still accepts it.
        start = (now or datetime.now(timezone.utc)) - timedelta(hours=1)
        subject = _name(app_id, organisation=holder, unit="Alipay")
        cert = self._leaf(app_public_key, subject, self._class1, self._class1_key, start, start + CERT_VALIDITY)
        issued = IssuedCertificate(_pem(cert), sandbox_cert_sn(cert), cert)
        with self._lock:
            self._apps[app_id] = issued
        return issued

    def rotate_alipay_certificate(
        self, *, now: datetime | None = None, not_before: datetime | None = None, not_after: datetime | None = None
    ) -> SandboxAlipayCertificate:
        """A new Alipay key and certificate (new serial), used for every answer from now on."""
        start = (now or datetime.now(timezone.utc)) - timedelta(hours=1)
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        subject = _name("Cashier Sandbox Alipay", organisation="Cashier Sandbox", unit="Alipay")
        begin = not_before or start
        cert = self._leaf(key.public_key(), subject, self._class2, self._class2_key, begin, not_after or begin + CERT_VALIDITY)
        issued = SandboxAlipayCertificate(_pem(cert, self._class2), sandbox_cert_sn(cert), cert, key)
        with self._lock:
            self._alipay[issued.sn] = issued
            self._current = issued.sn
        return issued

    # ------------------------------------------------------------ what clients are given

    @property
    def root_pem(self) -> bytes:
        """The root file (``alipayRootCert.crt``)."""
        return _pem(*self._roots)

    @property
    def root_cert_sn(self) -> str:
        return self._root_sn

    @property
    def alipay_certificate(self) -> SandboxAlipayCertificate:
        """The certificate whose key signs answers now; answers carry its ``sn`` as ``alipay_cert_sn``."""
        with self._lock:
            return self._alipay[self._current]

    def alipay_certificate_by_sn(self, sn: str) -> SandboxAlipayCertificate | None:
        with self._lock:
            return self._alipay.get(sn)

    def app_certificate(self, app_id: str) -> IssuedCertificate | None:
        with self._lock:
            return self._apps.get(app_id)

    def app_public_key(self, app_id: str) -> rsa.RSAPublicKey | None:
        """The key that verifies a certificate-mode app's requests: the one its certificate certifies."""
        issued = self.app_certificate(app_id)
        if issued is None:
            return None
        key = issued.certificate.public_key()
        return key if isinstance(key, rsa.RSAPublicKey) else None

    # ------------------------------------------------------------ checking calls

    def check_request(self, app_id: str, method: str, params: Mapping[str, str]) -> CertificateRefusal | None:
        """The refusal Alipay would give for these common parameters, or None when they are right.

        An app signs in one mode: once it has a certificate every call must carry both serial numbers, and
        without one a certificate-only method (a transfer) is refused as Alipay refuses it.
        """
        issued = self.app_certificate(app_id)
        app_sn = params.get("app_cert_sn") or ""
        root_sn = params.get("alipay_root_cert_sn") or ""
        if issued is None:
            if app_sn:
                return APP_CERT_NOT_EXIST
            if method in CERTIFICATE_ONLY_METHODS:
                return MISSING_APP_CERT_SN
            return None
        if not app_sn:
            return MISSING_APP_CERT_SN
        if app_sn != issued.sn:
            return APP_CERT_NOT_EXIST
        if root_sn != self._root_sn:
            return INVALID_ROOT_CERT_SN
        return None

    def download(self, biz: Mapping[str, object]) -> dict[str, str]:
        """The node of ``alipay.open.app.alipaycert.download`` for ``{"alipay_cert_sn": …}``."""
        sn = biz.get("alipay_cert_sn")
        found = self.alipay_certificate_by_sn(sn) if isinstance(sn, str) and _SN.fullmatch(sn) else None
        if found is None:
            return ALIPAY_CERT_NOT_EXIST.node()
        return {
            "code": "10000",
            "msg": "Success",
            "alipay_cert_content": base64.b64encode(found.pem).decode("ascii"),
        }


def check_without_ca(method: str, params: Mapping[str, str]) -> CertificateRefusal | None:
    """:meth:`SandboxCertificateAuthority.check_request` for a sandbox that has issued no certificate yet."""
    if params.get("app_cert_sn"):
        return APP_CERT_NOT_EXIST
    if method in CERTIFICATE_ONLY_METHODS:
        return MISSING_APP_CERT_SN
    return None


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )
