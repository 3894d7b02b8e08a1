"""Opaque page tokens: the last id seen, bound to the filters they were issued for."""

from __future__ import annotations

import base64
import hashlib
import json

from gateway.domain.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_CURSOR = 128


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(last_id: str, filters: object) -> str:
    raw = json.dumps({"after": last_id, "f": _digest(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, filters: object) -> str | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, digest = str(data["after"]), data["f"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument([FieldViolation("page_token", "is not a token this service issued")]) from None
    # Tokens are not secret, so one can be forged: its cursor must still look like an id before it reaches
    # a query (PostgreSQL cannot even hold a NUL in text).
    if not 1 <= len(after) <= MAX_CURSOR or not after.isprintable():
        raise InvalidArgument([FieldViolation("page_token", "is not a token this service issued")])
    if digest != _digest(filters):
        raise InvalidArgument([FieldViolation("page_token", "was issued for a request with other filters")])
    return after


def _digest(filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]
