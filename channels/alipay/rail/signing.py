"""RSA2 signing and verification, and the credential abstraction callers sign through.

Alipay's string-to-sign is the parameters sorted by key (ASCII), empty values dropped, joined as raw
``k=v`` pairs with ``&`` and no URL-encoding. Requests sign everything but ``sign`` (``sign_type`` *is*
signed); notifications are verified without ``sign`` *and* ``sign_type`` (Java SDK ``rsaCheckV1``).

RSA2 is SHA256withRSA with PKCS#1 v1.5 padding, Base64 on one line. PKCS#1 v1.5 is deterministic, which
is what lets the tests pin exact signatures.

Callers never touch keys: they go through an :class:`AlipayCredentials`. Public-key mode is implemented
here; certificate mode (``app_cert_sn``/``alipay_root_cert_sn`` in every request, Alipay's key chosen by
the response's ``alipay_cert_sn``) is :class:`channels.alipay.rail.certificates.CertificateCredentials`, the
same five members.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from channels.alipay.rail.errors import AlipayConfigError
from channels.alipay.rail.keys import PrivateKey, PublicKey

SIGN_TYPE_RSA2 = "RSA2"

#: Request signing leaves out only the signature itself.
REQUEST_UNSIGNED_KEYS: frozenset[str] = frozenset({"sign"})
#: Notification verification also leaves out sign_type (rsaCheckV1; verifyV2 is for other messages).
NOTIFY_UNSIGNED_KEYS: frozenset[str] = frozenset({"sign", "sign_type"})


def string_to_sign(
    params: Mapping[str, str | None], *, exclude: Iterable[str] = REQUEST_UNSIGNED_KEYS
) -> str:
    """Alipay's canonical content: sorted ``k=v`` joined by ``&``, raw values, empty/None dropped."""
    skipped = frozenset(exclude)
    pairs = sorted(
        (key, value)
        for key, value in params.items()
        if key not in skipped and value is not None and value != ""
    )
    # Python sorts str by code point, which for Alipay's ASCII keys is the SDKs' ASCII order.
    return "&".join(f"{key}={value}" for key, value in pairs)


def rsa2_sign(private_key: PrivateKey, content: str, *, charset: str = "utf-8") -> str:
    """SHA256withRSA (PKCS#1 v1.5) over ``content`` encoded in ``charset``; one-line Base64."""
    signature = private_key.rsa.sign(content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(public_key: PublicKey, content: bytes, signature: str) -> bool:
    """True only if ``signature`` (Base64) is a valid RSA2 signature of exactly ``content``."""
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.rsa.verify(raw, content, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@runtime_checkable
class AlipayCredentials(Protocol):
    """Who we are to Alipay and how we prove it; how we check that Alipay is Alipay.

    ``common_params`` returns the identity parameters every request carries (``app_id``,
    ``sign_type`` and, in certificate mode, ``app_cert_sn``/``alipay_root_cert_sn``). ``cert_sn`` in
    the verify methods is the response's or notification's ``alipay_cert_sn`` (None in key mode).
    """

    @property
    def app_id(self) -> str: ...

    def common_params(self) -> dict[str, str]: ...

    def sign(self, content: str) -> str: ...

    def verify_response(self, content: bytes, sign: str, cert_sn: str | None) -> bool: ...

    def verify_notification(self, content: bytes, sign: str, cert_sn: str | None) -> bool: ...


class PublicKeyCredentials:
    """Public-key mode: our app private key signs, Alipay's public key verifies."""

    __slots__ = ("_alipay_public_key", "_app_id", "_app_private_key")

    def __init__(self, app_id: str, app_private_key: PrivateKey, alipay_public_key: PublicKey) -> None:
        if not isinstance(app_id, str) or not app_id.strip() or len(app_id) > 32:
            raise AlipayConfigError("app_id must be a non-empty string of at most 32 characters")
        if not isinstance(app_private_key, PrivateKey):
            raise AlipayConfigError("app_private_key must be a channels.alipay.rail.keys.PrivateKey")
        if not isinstance(alipay_public_key, PublicKey):
            raise AlipayConfigError("alipay_public_key must be a channels.alipay.rail.keys.PublicKey")
        if alipay_public_key.rsa.public_numbers() == app_private_key.rsa.public_key().public_numbers():
            # The most common integration mistake (FZ #21, #66): pasting the *app* public key where
            # Alipay's belongs. Every response would then fail verification in production.
            raise AlipayConfigError("alipay_public_key is the app's own public key, not Alipay's")
        self._app_id = app_id
        self._app_private_key = app_private_key
        self._alipay_public_key = alipay_public_key

    @property
    def app_id(self) -> str:
        return self._app_id

    def common_params(self) -> dict[str, str]:
        return {"app_id": self._app_id, "sign_type": SIGN_TYPE_RSA2}

    def sign(self, content: str) -> str:
        return rsa2_sign(self._app_private_key, content)

    def verify_response(self, content: bytes, sign: str, cert_sn: str | None) -> bool:
        # cert_sn is meaningless in key mode: there is exactly one Alipay key to try.
        return rsa2_verify(self._alipay_public_key, content, sign)

    def verify_notification(self, content: bytes, sign: str, cert_sn: str | None) -> bool:
        return rsa2_verify(self._alipay_public_key, content, sign)

    def __repr__(self) -> str:
        return (
            f"<PublicKeyCredentials app_id={self._app_id} private={self._app_private_key!r} "
            f"alipay={self._alipay_public_key!r}>"
        )
