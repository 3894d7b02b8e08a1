"""Built-in channel: a hosted checkout page on the gateway, for links opened outside the platform.

Registered through the `cashier.channels` entry point `shared_link`, exactly like a third-party plugin.
Needs the shared `[channels.alipay]` table; `[channels.shared_link]` is optional:

    [channels.shared_link]
    qr_size = 6       # pixels per QR module on the page's scan-to-pay view
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.alipay.toolkit import AlipaySettings
from channels.contract import Channel, hookimpl
from channels.shared_link.channel import SharedLinkChannel, SharedLinkSettings

log = logging.getLogger(__name__)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    settings = SharedLinkSettings.from_table(config.get("shared_link", {}))  # a wrong table is reported either way
    if "alipay" not in config:
        log.info("channel shared_link not registered: the configuration has no [channels.alipay] table")
        return []
    return [SharedLinkChannel(AlipaySettings.from_table(config["alipay"]), settings, gateway_url)]
