"""The three files of certificate mode, read bounded and checked, and trust in an Alipay certificate.

* the **app certificate** (``appCertPublicKey_<app_id>.crt``): Alipay's CA certifies the app's public key.
* the **Alipay certificate** (``alipayCertPublicKey_RSA2.crt``): Alipay's own signing key, certified by
  Alipay's CA; the file may go on with the issuing intermediate.
* the **root file** (``alipayRootCert.crt``): several root certificates concatenated, RSA and not (the real
  file holds an SM2 root, an ECDSA root and two RSA roots).

Trust (``AntCertificationUtil.isTrusted`` in JV, PHP and Alipay's .NET SDK, checked before a downloaded
certificate is used): the chain from the Alipay certificate must end at a certificate of the root file,
every signature must verify and every certificate must be valid now. ``cryptography``'s path builder does
the work, with one relaxation Alipay's real roots need: a CA's ``basicConstraints`` may be non-critical.

Errors name the file or field and what is wrong, never certificate text.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import verification

from channels.alipay.rail.cert_serials import cert_sn, is_rsa_signed
from channels.alipay.rail.errors import CertificateError

#: A certificate file larger than this is not one of Alipay's (the real root file is about 5 KB).
MAX_CERTIFICATE_FILE_BYTES = 64 * 1024
#: More PEM blocks than this in one file is not one of Alipay's files (the root file has four).
MAX_CERTIFICATES_PER_FILE = 16
#: RSA2 keys are 2048-bit; an Alipay or app certificate with a smaller RSA key is refused.
MIN_KEY_BITS = 2048

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_SN = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------- reading files


def pem_certificates(text: str | bytes, *, source: str) -> list[bytes]:
    """The DER of each ``CERTIFICATE`` PEM block, in file order; bounded in size and count."""
    data = text.encode("ascii", errors="replace") if isinstance(text, str) else text
    if not isinstance(data, bytes):
        raise CertificateError(f"{source}: certificate text must be str or bytes")
    if len(data) > MAX_CERTIFICATE_FILE_BYTES:
        raise CertificateError(f"{source}: {len(data)} bytes, more than {MAX_CERTIFICATE_FILE_BYTES} for a certificate file")
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise CertificateError(f"{source}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    if len(blocks) > MAX_CERTIFICATES_PER_FILE:
        raise CertificateError(f"{source}: {len(blocks)} certificates, more than {MAX_CERTIFICATES_PER_FILE}")
    ders = []
    for number, body in enumerate(blocks, start=1):
        try:
            ders.append(base64.b64decode(b"".join(body.split()), validate=True))
        except (binascii.Error, ValueError):
            raise CertificateError(f"{source}: certificate {number} is not valid Base64") from None
    return ders


def read_certificate_file(path: str | os.PathLike[str]) -> bytes:
    """A certificate file's bytes, refusing a missing, unreadable or oversized file by name."""
    name = os.fspath(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CERTIFICATE_FILE_BYTES + 1)
    except OSError as exc:
        raise CertificateError(f"certificate file {name} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_CERTIFICATE_FILE_BYTES:
        raise CertificateError(f"certificate file {name} is larger than {MAX_CERTIFICATE_FILE_BYTES} bytes")
    return data


def _parse(der: bytes, source: str, number: int) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateError(f"{source}: certificate {number} is not a readable X.509 certificate") from None


def _rsa_public_key(certificate: x509.Certificate, source: str) -> rsa.RSAPublicKey:
    try:
        key = certificate.public_key()
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError(f"{source}: the certificate's public key is not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise CertificateError(f"{source}: the certificate's RSA key has {key.key_size} bits; RSA2 needs {MIN_KEY_BITS}")
    return key


# ---------------------------------------------------------------- the three files


@dataclass(frozen=True, slots=True)
class AppCertificate:
    """The app's public-key certificate; requests carry :attr:`sn` as ``app_cert_sn``."""

    certificate: x509.Certificate
    sn: str
    source: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return _rsa_public_key(self.certificate, self.source)

    def check_private_key(self, private_key: rsa.RSAPrivateKey) -> None:
        """Refuse an app certificate that certifies another key than the app private key signing requests."""
        if self.public_key.public_numbers() != private_key.public_key().public_numbers():
            raise CertificateError(
                f"{self.source}: the app certificate is for another key than the configured app private key"
            )


@dataclass(frozen=True, slots=True)
class AlipayCertificate:
    """Alipay's signing certificate (first in its file) and the intermediates that follow it."""

    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    sn: str
    source: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The key that verifies responses whose ``alipay_cert_sn`` is :attr:`sn`, and notifications."""
        return _rsa_public_key(self.certificate, self.source)

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True, slots=True)
class AlipayRootCertificates:
    """Alipay's root file: :attr:`sn` for ``alipay_root_cert_sn``; the readable roots as trust anchors."""

    anchors: tuple[x509.Certificate, ...]
    sn: str
    source: str
    #: Blocks ``cryptography`` cannot read (never RSA-signed; they take no part in ``sn`` or trust).
    unreadable: int = 0

    def verify(self, alipay: AlipayCertificate, *, now: datetime) -> None:
        """Refuse an Alipay certificate that is expired, not yet valid or not issued under these roots."""
        leaf = alipay.certificate
        now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
        if now > leaf.not_valid_after_utc:
            raise CertificateError(f"{alipay.source}: the Alipay certificate {alipay.sn} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
        if now < leaf.not_valid_before_utc:
            raise CertificateError(f"{alipay.source}: the Alipay certificate {alipay.sn} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d}")
        if not self.anchors:
            raise CertificateError(f"{self.source}: no readable root certificate to trust")
        # Alipay's real roots mark basicConstraints non-critical, which the web-PKI CA policy refuses; a CA
        # must still say it is one. The Alipay certificate itself carries only keyUsage.
        ca_policy = verification.ExtensionPolicy.permit_all().require_present(
            x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
        )
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store(list(self.anchors)))
            .time(now.replace(tzinfo=None))
            .extension_policies(ca_policy=ca_policy, ee_policy=verification.ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, list(alipay.intermediates))
        except verification.VerificationError as exc:
            reason = str(exc)[:300]
            raise CertificateError(
                f"{alipay.source}: the Alipay certificate {alipay.sn} is not trusted by {self.source}: {reason}"
            ) from None


def load_app_certificate(text: str | bytes, *, source: str = "app certificate") -> AppCertificate:
    """The app certificate file (``appCertPublicKey_<app_id>.crt``): its first certificate, RSA, 2048+ bits."""
    ders = pem_certificates(text, source=source)
    certificate = _parse(ders[0], source, 1)
    _rsa_public_key(certificate, source)
    return AppCertificate(certificate, cert_sn(certificate), source)


def load_alipay_certificate(text: str | bytes, *, source: str = "Alipay certificate") -> AlipayCertificate:
    """Alipay's certificate file (``alipayCertPublicKey_RSA2.crt``): Alipay's certificate, then intermediates."""
    ders = pem_certificates(text, source=source)
    certificates = [_parse(der, source, number) for number, der in enumerate(ders, start=1)]
    _rsa_public_key(certificates[0], source)
    # The SDKs read the first certificate for the key and the serial (JV generateCertificate, NODE fromPEM).
    return AlipayCertificate(certificates[0], tuple(certificates[1:]), cert_sn(certificates[0]), source)


def load_root_certificates(text: str | bytes, *, source: str = "Alipay root certificates") -> AlipayRootCertificates:
    """Alipay's root file (``alipayRootCert.crt``); refuses one without an RSA-signed certificate."""
    anchors: list[x509.Certificate] = []
    unreadable = 0
    sns = []
    for number, der in enumerate(pem_certificates(text, source=source), start=1):
        rsa_signed = is_rsa_signed(der)
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            if rsa_signed:
                raise CertificateError(f"{source}: certificate {number} is RSA-signed but not readable") from None
            unreadable += 1
            continue
        anchors.append(certificate)
        if rsa_signed:
            sns.append(cert_sn(certificate))
    if not sns:
        raise CertificateError(f"{source}: no RSA-signed certificate, so no alipay_root_cert_sn")
    return AlipayRootCertificates(tuple(anchors), "_".join(sns), source, unreadable)


def decode_alipay_cert_content(content: object) -> bytes:
    """The PEM inside ``alipay.open.app.alipaycert.download``'s ``alipay_cert_content`` (Base64 of the file)."""
    if not isinstance(content, str) or not content:
        raise CertificateError("alipay_cert_content: missing or not a string")
    if len(content) > MAX_CERTIFICATE_FILE_BYTES * 4 // 3 + 4:
        raise CertificateError("alipay_cert_content: too long for a certificate")
    try:
        return base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("alipay_cert_content: not valid Base64") from None


def is_cert_sn(value: object) -> bool:
    """Whether ``value`` has the shape of one serial number (32 lower-case hex digits)."""
    return isinstance(value, str) and _SN.fullmatch(value) is not None


