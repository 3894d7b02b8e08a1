"""Built-in plugin: Alipay's bills as statement sources (channels.contract.StatementSource), for settlement's
reconciliation: the ``trade`` bill (payments and refunds made through the API, with Alipay's service fee) and
the ``signcustomer`` account bill (every movement of the platform's balance: collections, refunds, fees,
transfers out).

Registered through the `cashier.plugins` entry point `alipay_statements`, exactly like a third-party plugin; it
adds no payment channel and implements `cashier_register_statement_sources`. It asks with the platform's app of
the shared `[channels.alipay]` table (channels/alipay/toolkit/settings.py), in key or certificate mode (bills
need no transfer permission); without that table it registers nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.alipay.toolkit import AlipaySettings
from channels.alipay_statements.source import AlipayStatementSource
from channels.contract import StatementSource, hookimpl

log = logging.getLogger(__name__)

__all__ = ["AlipayStatementSource", "cashier_register_statement_sources"]


@hookimpl
def cashier_register_statement_sources(config: Mapping[str, Mapping[str, Any]]) -> list[StatementSource]:
    if "alipay" not in config:
        log.info("statement source alipay not registered: the configuration has no [channels.alipay] table")
        return []
    return [AlipayStatementSource(AlipaySettings.from_table(config["alipay"]).client())]
