"""Showing amounts to people. Money is integer minor units (fen) on both sides of the contract; the gateway
formats with this same function (gateway/domain/money.py), so a buyer's message and an operator's screen
always agree."""

from __future__ import annotations


def format_minor(amount: int, currency: str = "CNY") -> str:
    """Human display, e.g. 1234 → "12.34 CNY". Exact: integer arithmetic only."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d} {currency}"
