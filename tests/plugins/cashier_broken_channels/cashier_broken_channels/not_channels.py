"""Breaks "the hook returns channels": returns a description of a channel instead of one."""

from channels.contract import hookimpl


@hookimpl
def cashier_register_channels() -> list[object]:
    return [{"name": "a dict is not a channel"}]
