"""Identifiers. Payment ids sort by creation time (a ULID in Crockford base32), so that the primary key
index serves "newest first" listing and creation-time filters without a second index."""

from __future__ import annotations

import os
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAYMENT_PREFIX = "pay_"
_REFUND_PREFIX = "ref_"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _ulid(at: datetime, randomness: int) -> str:
    ms = int(at.timestamp() * 1000)
    return _encode(ms, 10) + _encode(randomness, 16)


def new_payment_id(at: datetime) -> str:
    return _PAYMENT_PREFIX + _ulid(at, int.from_bytes(os.urandom(10), "big"))


def new_refund_id(at: datetime) -> str:
    return _REFUND_PREFIX + _ulid(at, int.from_bytes(os.urandom(10), "big"))


def new_checkout_token() -> str:
    """16 characters of Crockford base32 over 80 random bits: unguessable, URL-safe, easy to read out."""
    return _encode(int.from_bytes(os.urandom(10), "big"), 16)


def payment_id_floor(at: datetime) -> str:
    """The smallest payment id that can have been created at or after `at`."""
    return _PAYMENT_PREFIX + _ulid(at, 0)


def utcnow() -> datetime:
    return datetime.now(UTC)
