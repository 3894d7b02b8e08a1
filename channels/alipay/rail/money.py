"""Exact conversion between integer fen (the cashier's unit) and Alipay's yuan strings ("12.34").

Floats never appear: a float cannot hold 0.1 exactly, and one lost fen is a reconciliation break.
Text is checked with a regular expression before ``Decimal`` sees it, so exponents ("1e3"), NaN,
infinity, signs, spaces and a third decimal are refused instead of being silently normalised.
"""

from __future__ import annotations

import re

from channels.alipay.rail.errors import AmountError

#: Alipay's per-call bounds for trade amounts (JV javadoc): 0.01 to 100,000,000.00 yuan.
MIN_AMOUNT_FEN = 1
MAX_AMOUNT_FEN = 100_000_000_00

_YUAN = re.compile(r"(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?")
_SIGNED_YUAN = re.compile(r"(-?)(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?")


def fen_to_yuan(fen: int, *, field: str = "amount") -> str:
    """Format non-negative integer fen as Alipay's yuan text with exactly two decimals."""
    # bool is an int subclass; True fen is a bug, not one fen.
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise AmountError(field, f"must be an integer number of fen, got {type(fen).__name__}")
    if fen < 0:
        raise AmountError(field, "must not be negative")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str, *, field: str = "amount") -> int:
    """Parse a non-negative yuan string with at most two decimals into fen (no limits applied)."""
    if not isinstance(text, str):
        raise AmountError(field, f"must be a yuan string, got {type(text).__name__}")
    match = _YUAN.fullmatch(text)
    if match is None:
        raise AmountError(field, f"{_shorten(text)!r} is not a yuan amount with at most 2 decimals")
    whole, frac = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(frac.ljust(2, "0"))


def signed_yuan_to_fen(text: str, *, field: str = "amount") -> int:
    """Like :func:`yuan_to_fen` but allows a leading minus, as bill refund rows carry."""
    if not isinstance(text, str):
        raise AmountError(field, f"must be a yuan string, got {type(text).__name__}")
    match = _SIGNED_YUAN.fullmatch(text)
    if match is None:
        raise AmountError(field, f"{_shorten(text)!r} is not a yuan amount with at most 2 decimals")
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    fen = int(whole) * 100 + int(frac.ljust(2, "0"))
    return -fen if sign else fen


def check_amount_limits(fen: int, *, field: str = "amount") -> int:
    """Refuse amounts Alipay would reject, before spending a network round trip. Returns ``fen``."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise AmountError(field, f"must be an integer number of fen, got {type(fen).__name__}")
    if fen < MIN_AMOUNT_FEN:
        raise AmountError(field, "must be at least 0.01 yuan (1 fen)")
    if fen > MAX_AMOUNT_FEN:
        raise AmountError(field, "must be at most 100000000.00 yuan")
    return fen


def _shorten(text: str) -> str:
    # Garbage can be huge; the message only needs enough to recognise it.
    return text if len(text) <= 32 else text[:29] + "..."
