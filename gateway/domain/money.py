"""Money is integer minor units (fen) everywhere inside the gateway; this module holds the rules."""

from __future__ import annotations

from channels.contract.money import format_minor  # one definition, shared with plugins

__all__ = ["MAX_AMOUNT_MINOR", "MIN_AMOUNT_MINOR", "SUPPORTED_CURRENCIES", "format_minor"]

SUPPORTED_CURRENCIES = frozenset({"CNY"})
# Alipay's own ceiling, 100,000,000.00 CNY, is the highest amount any channel can take.
MAX_AMOUNT_MINOR = 10_000_000_000
MIN_AMOUNT_MINOR = 1


