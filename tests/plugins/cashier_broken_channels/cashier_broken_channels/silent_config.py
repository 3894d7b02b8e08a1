"""Breaks "configuration errors name the key": converts its table without saying which key was wrong."""

from collections.abc import Mapping
from typing import Any

from cashier_broken_channels.base import GoodChannel
from channels.contract import hookimpl


class Limited(GoodChannel):
    name = "limited"

    def __init__(self, limit: int):
        self.limit = limit


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]]) -> list[object]:
    table = config.get("broken_config", {})
    return [Limited(int(table.get("limit", 100)))]
