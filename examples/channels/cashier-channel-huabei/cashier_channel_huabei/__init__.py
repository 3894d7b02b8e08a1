"""Huabei instalments: registers the `huabei` channel from `[channels.huabei]`, on the shared `[channels.alipay]`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cashier_channel_huabei.channel import HuabeiChannel, Settings
from channels.alipay.toolkit import AlipaySettings
from channels.contract import Channel, hookimpl

log = logging.getLogger(__name__)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    if "alipay" not in config:
        log.info("channel huabei not registered: the configuration has no [channels.alipay] table")
        return []
    # A wrong table stops start-up with a message naming the key (Settings.from_table raises ValueError).
    settings = Settings.from_table(config.get("huabei", {}))
    return [HuabeiChannel(settings, AlipaySettings.from_table(config["alipay"]), gateway_url)]
