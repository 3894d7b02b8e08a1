"""Identifiers. Payment ids sort by creation time (a ULID in Crockford base32), so that the primary key
index serves "newest first" listing and creation-time filters without a second index."""

from __future__ import annotations

import os
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAYMENT_PREFIX = "pay_"
_REFUND_PREFIX = "ref_"


#: Every pair of base32 digits, so that one step encodes ten bits: each payment takes three encodings.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)


def _encode(value: int, length: int) -> str:
    """The last `length` base32 digits of `value` (of its two's complement when negative, as floor
    division by 32 gives)."""
    value &= (1 << 5 * length) - 1
    parts = []
    if length & 1:
        parts.append(_ALPHABET[value & 31])
        value >>= 5
    for _ in range(length >> 1):
        parts.append(_PAIRS[value & 1023])
        value >>= 10
    return "".join(reversed(parts))


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
