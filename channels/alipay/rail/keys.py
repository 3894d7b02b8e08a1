"""Loading the RSA keys the rail needs, in every shape merchants actually paste into configuration.

Private keys: PKCS#1 PEM (the "RSA PRIVATE KEY" header), PKCS#8 PEM (the "PRIVATE KEY" header) or the bare
one-line Base64 that Alipay's key tool emits (newer tools: PKCS#8 DER; older ones and the Python SDK:
PKCS#1 DER, so both are tried). Public keys: SPKI as PEM or bare Base64 (Alipay shows ``MIIBIj...``).

Key objects hide their material: ``repr``/``str`` show only the size and where the key came from, and
errors name the source (file path or environment variable), never the text, because configuration
errors are logged and the text may be a working production key.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.alipay.rail.errors import KeyLoadError

#: RSA2 keys are 2048-bit; smaller keys are refused rather than silently weakening signatures.
MIN_KEY_BITS = 2048


class PrivateKey:
    """An RSA private key for signing; never prints or reports its material."""

    __slots__ = ("_key", "source")

    def __init__(self, key: rsa.RSAPrivateKey, source: str) -> None:
        self._key = key
        self.source = source

    @property
    def key_size(self) -> int:
        return self._key.key_size

    @property
    def rsa(self) -> rsa.RSAPrivateKey:
        """The underlying cryptography key (for signing code only)."""
        return self._key

    def public_key(self) -> PublicKey:
        return PublicKey(self._key.public_key(), f"public half of {self.source}")

    def __repr__(self) -> str:
        return f"<PrivateKey RSA-{self._key.key_size} from {self.source}>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the key material into caches or task queues.
        raise TypeError("PrivateKey objects cannot be pickled")

    @classmethod
    def from_text(cls, text: str | bytes, *, source: str = "configuration") -> PrivateKey:
        return load_private_key(text, source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PrivateKey:
        return load_private_key(_read_file(path, "private"), source=f"file {os.fspath(path)}")

    @classmethod
    def from_env(cls, name: str) -> PrivateKey:
        return load_private_key(_read_env(name, "private"), source=name)


class PublicKey:
    """An RSA public key for verifying Alipay's signatures."""

    __slots__ = ("_key", "source")

    def __init__(self, key: rsa.RSAPublicKey, source: str) -> None:
        self._key = key
        self.source = source

    @property
    def key_size(self) -> int:
        return self._key.key_size

    @property
    def rsa(self) -> rsa.RSAPublicKey:
        return self._key

    def __repr__(self) -> str:
        return f"<PublicKey RSA-{self._key.key_size} from {self.source}>"

    __str__ = __repr__

    @classmethod
    def from_text(cls, text: str | bytes, *, source: str = "configuration") -> PublicKey:
        return load_public_key(text, source=source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PublicKey:
        return load_public_key(_read_file(path, "public"), source=f"file {os.fspath(path)}")

    @classmethod
    def from_env(cls, name: str) -> PublicKey:
        return load_public_key(_read_env(name, "public"), source=name)


def load_private_key(text: str | bytes, *, source: str = "configuration") -> PrivateKey:
    """Parse a private key from PEM (PKCS#1 or PKCS#8) or bare Base64 DER (PKCS#8, then PKCS#1)."""
    data = _as_bytes(text, source, "private")
    key: object = None
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            key = None
    else:
        der = _bare_base64(data)
        if der is not None:
            try:
                # load_der_private_key understands both PKCS#8 and "traditional" PKCS#1 DER.
                key = serialization.load_der_private_key(der, password=None)
            except (ValueError, TypeError):
                key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError(f"private key in {source} is not a valid RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise KeyLoadError(f"private key in {source} has {key.key_size} bits; RSA2 needs {MIN_KEY_BITS}")
    return PrivateKey(key, source)


def load_public_key(text: str | bytes, *, source: str = "configuration") -> PublicKey:
    """Parse a public key from SPKI PEM or bare Base64 SPKI (Alipay's ``MIIBIj...`` form)."""
    data = _as_bytes(text, source, "public")
    key: object = None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            der = _bare_base64(data)
            if der is not None:
                key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyLoadError(f"public key in {source} is not a valid RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise KeyLoadError(f"public key in {source} has {key.key_size} bits; RSA2 needs {MIN_KEY_BITS}")
    return PublicKey(key, source)


def _as_bytes(text: str | bytes, source: str, kind: str) -> bytes:
    if isinstance(text, str):
        try:
            data = text.encode("ascii")
        except UnicodeEncodeError:
            raise KeyLoadError(f"{kind} key in {source} is not a valid RSA key") from None
    elif isinstance(text, bytes):
        data = text
    else:
        raise KeyLoadError(f"{kind} key in {source} must be text, got {type(text).__name__}")
    data = data.strip()
    if not data:
        raise KeyLoadError(f"{kind} key in {source} is empty")
    return data


def _bare_base64(data: bytes) -> bytes | None:
    # Tolerate line breaks and spaces from copy-paste, nothing else.
    compact = b"".join(data.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _read_file(path: str | os.PathLike[str], kind: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        # strerror only ("No such file or directory"), never file content.
        raise KeyLoadError(f"{kind} key file {os.fspath(path)} cannot be read: {exc.strerror}") from None


def _read_env(name: str, kind: str) -> str:
    value = os.environ.get(name)
    if value is None or not value.strip():
        raise KeyLoadError(f"{kind} key environment variable {name} is not set")
    # Environment values often carry literal "\n" when a PEM was pasted into a .env file.
    return value.replace("\\n", "\n")
