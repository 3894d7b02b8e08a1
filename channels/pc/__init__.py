"""Built-in channel: Alipay in a PC browser, by redirect to Alipay's checkout page or by a QR code.

Registered through the `cashier.channels` entry point `pc`, exactly like a third-party plugin.
Needs the shared `[channels.alipay]` table; `[channels.pc]` is optional:

    [channels.pc]
    priority = 60     # the offer's priority for PC browsers
    qr_size = 8       # pixels per QR module in the PNG and SVG
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.alipay.toolkit import AlipaySettings
from channels.contract import Channel, hookimpl
from channels.pc.channel import PcChannel, PcSettings

log = logging.getLogger(__name__)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    settings = PcSettings.from_table(config.get("pc", {}))  # a wrong table is reported either way
    if "alipay" not in config:
        log.info("channel pc not registered: the configuration has no [channels.alipay] table")
        return []
    return [PcChannel(AlipaySettings.from_table(config["alipay"]), settings, gateway_url)]
