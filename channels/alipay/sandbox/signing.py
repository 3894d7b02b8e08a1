"""The sandbox's keys and what it signs with them: its own "Alipay" key, the apps' public keys it verifies
requests with, and the two signatures it writes (a response node's bytes; notification and return fields).

The primitives are :mod:`.crypto`'s, never the rail's.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from . import crypto
from .config import SandboxConfig
from .store import App
from .values import codec_of


class SandboxKeys:
    """``key`` signs every answer; ``key_origin`` says where it came from: "given" (config text), "loaded" or
    "created" (key_file), or "fresh" (this run only). A second, wrong key serves the wrong-key faults."""

    def __init__(self, config: SandboxConfig) -> None:
        self.key, self.origin = _load_key(config)
        self._wrong_key: rsa.RSAPrivateKey | None = None
        self._app_keys: dict[str, tuple[str, Any]] = {}

    @property
    def public_key_pem(self) -> str:
        return crypto.public_key_pem(self.key.public_key())

    @property
    def public_key_bare(self) -> str:
        return crypto.public_key_bare(self.key.public_key())

    def signing_key(self, wrong: bool) -> rsa.RSAPrivateKey:
        if not wrong:
            return self.key
        if self._wrong_key is None:
            self._wrong_key = crypto.generate_private_key()
        return self._wrong_key

    def app_key(self, app: App) -> Any:
        """The app's public key, parsed once per registered key text."""
        cached = self._app_keys.get(app.app_id)
        if cached and cached[0] == app.public_key:
            return cached[1]
        key = crypto.load_public_key(app.public_key)
        self._app_keys[app.app_id] = (app.public_key, key)
        return key

    def sign_node(self, node_text: bytes, wrong_key: bool = False, key: rsa.RSAPrivateKey | None = None) -> str:
        """``key`` replaces the sandbox key (a certificate-mode app's answers are signed by Alipay's certificate)."""
        return crypto.sign_bytes(self._key(wrong_key, key), node_text)

    def _key(self, wrong: bool, key: rsa.RSAPrivateKey | None) -> rsa.RSAPrivateKey:
        return self.signing_key(True) if wrong else (key or self.key)

    def sign_v1(self, fields: dict[str, str], wrong_key: bool = False, key: rsa.RSAPrivateKey | None = None) -> str:
        """Signature for notifications and return parameters: all non-empty fields but sign and sign_type,
        over the string-to-sign encoded in the fields' own ``charset`` (what Alipay's rsaCheckV1 verifies)."""
        content = crypto.content_to_sign(fields, exclude={"sign", "sign_type"})
        data = content.encode(codec_of(fields.get("charset")), errors="replace")
        return crypto.sign_bytes(self._key(wrong_key, key), data)


def _load_key(config: SandboxConfig) -> tuple[rsa.RSAPrivateKey, str]:
    if config.private_key:
        return crypto.load_private_key(config.private_key), "given"
    if config.key_file:
        if config.key_file.exists():
            return crypto.load_private_key(config.key_file.read_text()), "loaded"
        key = crypto.generate_private_key()
        # created owner-only from the first byte: it is the key every answer is signed with
        fd = os.open(config.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(crypto.private_key_pem(key))
        return key, "created"
    return crypto.generate_private_key(), "fresh"
