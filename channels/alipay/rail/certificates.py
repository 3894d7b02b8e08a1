"""Alipay's public-key certificate mode (公钥证书模式): what an app in that mode holds and how it signs.

An app in certificate mode holds three files from Alipay's open platform (read by
:mod:`channels.alipay.rail.cert_files`): its **app certificate**, whose serial number every request carries as
``app_cert_sn``; **Alipay's certificate**, whose key verifies responses and notifications; and Alipay's
**root file**, whose RSA roots give ``alipay_root_cert_sn`` and anchor trust. Serial numbers are computed as
Alipay's SDKs compute them (:mod:`channels.alipay.rail.cert_serials`).

An app signs in one mode: once the three files are configured, :class:`CertificateCredentials` makes every
call certificate-mode (trades, refunds, transfers, notification checks). Responses name their signer in
``alipay_cert_sn``; one not held yet raises :class:`UnknownAlipayCertificateError` while verifying, the
transport downloads it once (``alipay.open.app.alipaycert.download``), :meth:`AlipayCertificates.check_download`
checks it against the roots, and only then is it used (rotation). Alipay's official Python SDK (PY) has no
certificate mode at all; JV's ``AbstractAlipayClient.checkResponseCertSign`` is the behaviour followed.

Depends on ``cryptography`` and the standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from channels.alipay.rail.cert_files import (
    MAX_CERTIFICATE_FILE_BYTES,
    MAX_CERTIFICATES_PER_FILE,
    MIN_KEY_BITS,
    AlipayCertificate,
    AlipayRootCertificates,
    AppCertificate,
    decode_alipay_cert_content,
    is_cert_sn,
    load_alipay_certificate,
    load_app_certificate,
    load_root_certificates,
    pem_certificates,
    read_certificate_file,
)
from channels.alipay.rail.cert_serials import (
    RSA_SIGNATURE_OID_PREFIX,
    cert_sn,
    is_rsa_signed,
    issuer_name,
    root_cert_sn,
)
from channels.alipay.rail.errors import AlipayConfigError, CertificateError, UnknownAlipayCertificateError
from channels.alipay.rail.keys import PrivateKey, PublicKey
from channels.alipay.rail.signing import SIGN_TYPE_RSA2, rsa2_sign, rsa2_verify

#: How many Alipay certificates (the configured one plus rotations) are kept, by serial number.
MAX_KEPT_ALIPAY_CERTIFICATES = 4
#: The call that fetches a rotated Alipay certificate by its serial number.
CERT_DOWNLOAD_METHOD = "alipay.open.app.alipaycert.download"


class AlipayCertificates:
    """The Alipay certificates the rail trusts, by serial number: the configured one, then rotations.

    A response names its signer in ``alipay_cert_sn``. :meth:`get` answers a known one; for an unknown one
    the client calls ``alipay.open.app.alipaycert.download``, :meth:`check_download` checks the answer
    against the roots, and :meth:`adopt` keeps it, before anything signed with it is believed. Thread-safe.
    """

    def __init__(self, configured: AlipayCertificate, roots: AlipayRootCertificates) -> None:
        self.roots = roots
        self._lock = threading.Lock()
        self._by_sn: dict[str, AlipayCertificate] = {configured.sn: configured}
        self._current = configured.sn

    @classmethod
    def start(cls, configured: AlipayCertificate, roots: AlipayRootCertificates, *, now: datetime) -> AlipayCertificates:
        """Trust the configured certificate only if the configured roots do (configuration errors surface at start)."""
        roots.verify(configured, now=now)
        return cls(configured, roots)

    @property
    def current(self) -> AlipayCertificate:
        with self._lock:
            return self._by_sn[self._current]

    def get(self, sn: str) -> AlipayCertificate | None:
        with self._lock:
            return self._by_sn.get(sn)

    def check_download(self, alipay_cert_content: object, *, expected_sn: str, now: datetime) -> AlipayCertificate:
        """A downloaded certificate, checked (the one asked for, chained to the roots, valid now); not kept yet."""
        pem = decode_alipay_cert_content(alipay_cert_content)
        downloaded = load_alipay_certificate(pem, source=CERT_DOWNLOAD_METHOD)
        if downloaded.sn != expected_sn:
            raise CertificateError(f"{CERT_DOWNLOAD_METHOD}: asked for certificate {expected_sn[:32]}, got {downloaded.sn}")
        self.roots.verify(downloaded, now=now)
        return downloaded

    def adopt(self, certificate: AlipayCertificate) -> None:
        """Keep a checked certificate and make it the current one (it is what Alipay signs with now)."""
        with self._lock:
            self._by_sn[certificate.sn] = certificate
            self._current = certificate.sn
            # Keep a few (a response signed just before a rotation may still arrive), never an unbounded set.
            while len(self._by_sn) > MAX_KEPT_ALIPAY_CERTIFICATES:
                oldest = next(sn for sn in self._by_sn if sn != self._current)
                del self._by_sn[oldest]

    def accept_download(self, alipay_cert_content: object, *, expected_sn: str, now: datetime) -> AlipayCertificate:
        """:meth:`check_download` then :meth:`adopt`."""
        downloaded = self.check_download(alipay_cert_content, expected_sn=expected_sn, now=now)
        self.adopt(downloaded)
        return downloaded


@dataclass(frozen=True, slots=True)
class CertificateMode:
    """What certificate mode adds to an app's credentials: the two request parameters and the keyring."""

    app: AppCertificate
    roots: AlipayRootCertificates
    alipay: AlipayCertificates

    @property
    def request_params(self) -> dict[str, str]:
        """Common parameters every request of a certificate-mode app carries (and signs)."""
        return {"app_cert_sn": self.app.sn, "alipay_root_cert_sn": self.roots.sn}


def load_certificate_mode(
    *,
    app_cert: str | bytes,
    alipay_cert: str | bytes,
    alipay_root_cert: str | bytes,
    app_private_key: rsa.RSAPrivateKey | None = None,
    now: datetime,
    sources: Sequence[str] = ("app_cert_file", "alipay_cert_file", "alipay_root_cert_file"),
) -> CertificateMode:
    """Read the three files (their text), check they belong together, and return certificate mode."""
    app = load_app_certificate(app_cert, source=sources[0])
    if app_private_key is not None:
        app.check_private_key(app_private_key)
    roots = load_root_certificates(alipay_root_cert, source=sources[2])
    configured = load_alipay_certificate(alipay_cert, source=sources[1])
    return CertificateMode(app, roots, AlipayCertificates.start(configured, roots, now=now))


class CertificateCredentials:
    """Certificate mode as :class:`~channels.alipay.rail.signing.AlipayCredentials`: the app private key signs
    (RSA2, as in key mode), requests add ``app_cert_sn`` and ``alipay_root_cert_sn``, and Alipay's key is the
    one of the certificate a response names."""

    __slots__ = ("_app_id", "_app_private_key", "mode")

    def __init__(self, app_id: str, app_private_key: PrivateKey, mode: CertificateMode) -> None:
        if not isinstance(app_id, str) or not app_id.strip() or len(app_id) > 32:
            raise AlipayConfigError("app_id must be a non-empty string of at most 32 characters")
        if not isinstance(app_private_key, PrivateKey):
            raise AlipayConfigError("app_private_key must be a channels.alipay.rail.keys.PrivateKey")
        if not isinstance(mode, CertificateMode):
            raise AlipayConfigError("mode must be a CertificateMode (see load_certificate_mode)")
        mode.app.check_private_key(app_private_key.rsa)
        self._app_id = app_id
        self._app_private_key = app_private_key
        self.mode = mode

    @property
    def app_id(self) -> str:
        return self._app_id

    def common_params(self) -> dict[str, str]:
        return {"app_id": self._app_id, "sign_type": SIGN_TYPE_RSA2, **self.mode.request_params}

    def sign(self, content: str) -> str:
        return rsa2_sign(self._app_private_key, content)

    def verify_response(self, content: bytes, sign: str, cert_sn: str | None) -> bool:
        """Verify with the certificate the response names; raise UnknownAlipayCertificateError for a new one.

        JV verifies with the held certificate when ``alipay_cert_sn`` is absent, and downloads when it differs.
        """
        if cert_sn is None:
            return self._verify(self.mode.alipay.current, content, sign)
        if not is_cert_sn(cert_sn):
            return False
        known = self.mode.alipay.get(cert_sn)
        if known is None:
            raise UnknownAlipayCertificateError(cert_sn)
        return self._verify(known, content, sign)

    def verify_notification(self, content: bytes, sign: str, cert_sn: str | None) -> bool:
        """Notifications are checked with the certificate they name when held, else the current one (a
        notification cannot wait for a download; refused, Alipay sends it again later)."""
        known = self.mode.alipay.get(cert_sn) if cert_sn else None
        return self._verify(known or self.mode.alipay.current, content, sign)

    @staticmethod
    def _verify(certificate: AlipayCertificate, content: bytes, sign: str) -> bool:
        return rsa2_verify(PublicKey(certificate.public_key, certificate.source), content, sign)

    def __repr__(self) -> str:
        return (
            f"<CertificateCredentials app_id={self._app_id} private={self._app_private_key!r} "
            f"app_cert_sn={self.mode.app.sn} alipay_cert_sn={self.mode.alipay.current.sn}>"
        )


__all__ = [
    "CERT_DOWNLOAD_METHOD",
    "MAX_CERTIFICATES_PER_FILE",
    "MAX_CERTIFICATE_FILE_BYTES",
    "MAX_KEPT_ALIPAY_CERTIFICATES",
    "MIN_KEY_BITS",
    "RSA_SIGNATURE_OID_PREFIX",
    "AlipayCertificate",
    "AlipayCertificates",
    "AlipayRootCertificates",
    "AppCertificate",
    "CertificateCredentials",
    "CertificateError",
    "CertificateMode",
    "UnknownAlipayCertificateError",
    "cert_sn",
    "decode_alipay_cert_content",
    "is_cert_sn",
    "is_rsa_signed",
    "issuer_name",
    "load_alipay_certificate",
    "load_app_certificate",
    "load_certificate_mode",
    "load_root_certificates",
    "pem_certificates",
    "read_certificate_file",
    "root_cert_sn",
]
