"""Money is integer minor units (fen) everywhere inside the gateway; this module holds the rules."""

from __future__ import annotations

SUPPORTED_CURRENCIES = frozenset({"CNY"})
# Alipay's own ceiling, 100,000,000.00 CNY, is the highest amount any channel can take.
MAX_AMOUNT_MINOR = 10_000_000_000
MIN_AMOUNT_MINOR = 1


def format_minor(amount: int, currency: str = "CNY") -> str:
    """Human display, e.g. 1234 → "12.34 CNY". Exact: integer arithmetic only."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d} {currency}"
