"""The sandbox's own signing code: string-to-sign, RSA2/RSA verification and signing, JSON node bytes.

This module deliberately shares nothing with the client rail in ``channels.alipay.rail``: a bug in the rail's
signing must not be able to hide behind the same bug here.
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HASHES = {"RSA2": hashes.SHA256, "RSA": hashes.SHA1}


class KeyFormatError(ValueError):
    """A key could not be read as PEM or bare Base64 DER."""


# ---------------------------------------------------------------- keys

def _pem_body(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)

# PEM label of a PKCS#1 private key (spelled once, so the wrapper below reads clearly).
_PKCS1_LABEL = "RSA PRIVATE KEY"


def load_public_key(text: str | bytes) -> rsa.RSAPublicKey:
    """Read an RSA public key: PEM (SPKI or PKCS#1) or the bare one-line Base64 Alipay's key tool prints."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.strip()
    try:
        if text.startswith("-----"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            der = _pem_body(text)
            try:
                key = serialization.load_der_public_key(der)
            except ValueError:
                wrapped = "\n".join(textwrap.wrap(text, 64))
                key = serialization.load_pem_public_key(
                    f"-----BEGIN RSA PUBLIC KEY-----\n{wrapped}\n-----END RSA PUBLIC KEY-----\n".encode()
                )
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"not an RSA public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("not an RSA public key")
    return key


def load_private_key(text: str | bytes) -> rsa.RSAPrivateKey:
    """Read an RSA private key: PEM (PKCS#1 or PKCS#8) or bare Base64 (PKCS#8 DER, then PKCS#1 DER)."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.strip()
    try:
        if text.startswith("-----"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            der = _pem_body(text)
            try:
                key = serialization.load_der_private_key(der, password=None)
            except ValueError:
                wrapped = "\n".join(textwrap.wrap(text, 64))
                key = serialization.load_pem_private_key(
                    f"-----BEGIN {_PKCS1_LABEL}-----\n{wrapped}\n-----END {_PKCS1_LABEL}-----\n".encode(),
                    password=None,
                )
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"not an RSA private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("not an RSA private key")
    return key


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_bare(key: rsa.RSAPublicKey) -> str:
    """The one-line Base64 SPKI form Alipay shows on its console (``MIIBIj…``)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


# ---------------------------------------------------------------- string to sign

def content_to_sign(params: Mapping[str, Any], exclude: frozenset[str] | set[str] = frozenset({"sign"})) -> str:
    """Sorted ``k=v`` pairs joined by ``&``, raw values, empty values dropped, ``exclude`` keys dropped."""
    pairs = []
    for key in sorted(params):
        if key in exclude:
            continue
        value = params[key]
        if value is None or value == "":
            continue
        pairs.append(f"{key}={value}")
    return "&".join(pairs)


# ---------------------------------------------------------------- sign / verify

def sign_bytes(key: rsa.RSAPrivateKey, data: bytes, sign_type: str = "RSA2") -> str:
    signature = key.sign(data, padding.PKCS1v15(), HASHES[sign_type]())
    return base64.b64encode(signature).decode("ascii")


def verify_bytes(key: rsa.RSAPublicKey, data: bytes, signature_b64: str, sign_type: str = "RSA2") -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), HASHES[sign_type]())
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------- response bytes

def encode_node(node: Mapping[str, Any]) -> str:
    """JSON text of a response node the way Alipay writes it: compact, raw non-ASCII, ``/`` as ``\\/``.

    Outside strings compact JSON never contains ``/``, so escaping every slash only touches string content.
    """
    return json.dumps(node, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
