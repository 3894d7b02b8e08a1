"""API keys: generated once, shown once, stored only as a hash.

Keys carry 256 bits of randomness, so a single SHA-256 is enough to make the stored hash useless to a
thief (no dictionary to try); a slow password hash would only slow down every call.
"""

from __future__ import annotations

import hashlib
import secrets

APP_KEY_PREFIX = "ck_app_"
OPERATOR_KEY_PREFIX = "ck_op_"


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The part of a key safe to show in listings and logs to tell keys apart."""
    return key[: len(APP_KEY_PREFIX) + 4] if key.startswith(APP_KEY_PREFIX) else key[: len(OPERATOR_KEY_PREFIX) + 4]
