"""Breaks "names are well formed": a name that cannot be a configuration table or a URL path segment."""

from cashier_broken_channels.base import GoodChannel
from channels.contract import hookimpl


class BadName(GoodChannel):
    name = "acme pay/v2"


@hookimpl
def cashier_register_channels() -> list[object]:
    return [BadName()]
