"""Built-in channel: native Alipay payment inside the platform's own mobile app.

Registered through the `cashier.channels` entry point `mobile`, exactly like a third-party plugin.
Needs the shared `[channels.alipay]` table; `[channels.mobile]` sets the minimum app versions:

    [channels.mobile.min_native_version]
    ios = "8.0"
    android = "8.0"
    harmonyos = "1.0"
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from channels.alipay.toolkit import AlipaySettings
from channels.contract import Channel, hookimpl
from channels.mobile.channel import DEFAULT_MIN_VERSIONS, MobileChannel

log = logging.getLogger(__name__)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    if "alipay" not in config:
        log.info("channel mobile not registered: the configuration has no [channels.alipay] table")
        return []
    versions = {**DEFAULT_MIN_VERSIONS, **_min_versions(config.get("mobile", {}))}
    return [MobileChannel(AlipaySettings.from_table(config["alipay"]), versions, gateway_url)]


def _min_versions(table: Mapping[str, Any]) -> Mapping[str, Any]:
    """`[channels.mobile]`'s one key, checked before anything is built: a misspelt key would otherwise be
    ignored and the default versions apply without a word."""
    unknown = sorted(set(table) - {"min_native_version"})
    if unknown:
        raise ValueError(f"[channels.mobile] has no key {', '.join(unknown)} (it knows min_native_version)")
    versions = table.get("min_native_version", {})
    if not isinstance(versions, Mapping):
        raise ValueError("[channels.mobile] min_native_version must be a table of platform = version, "
                         'e.g. [channels.mobile.min_native_version] ios = "8.0"')
    return versions
