"""Every hook a Unified Cashier plugin can implement. pluggy project name: ``cashier``.

Plugins are found through the ``cashier.channels`` entry-point group; built-in channels register the
same way. Hooks are synchronous and called with keyword arguments; an implementation may accept a
subset of the arguments. ``docs/plugin_hooks.rst`` documents each hook with its signature; a test
fails when a hook here lacks documentation or a ``test_hook_<name>`` test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from channels.protocol import Channel

hookspec = pluggy.HookspecMarker("cashier")
hookimpl = pluggy.HookimplMarker("cashier")


# --- Channels -------------------------------------------------------------------------------------


@hookspec
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel] | None:
    """Called once per gateway process at start-up (and by ``cashier channels``), after the
    configuration is loaded and before the server accepts calls.

    ``config`` maps a channel name to its table from the configuration file's ``[channels.<name>]``
    section (an empty mapping when the file has none). A plugin reads only its own tables.
    ``gateway_url`` is the public base URL of the gateway's HTTP face (``server.public_url``), for the
    notification and return URLs a channel hands its rail.

    Return a list of objects satisfying ``channels.protocol.Channel``, or ``None`` (or an empty list)
    to register nothing, e.g. when its configuration is missing. Raising stops start-up with the
    plugin's name in the error, so raise only for configuration that is present and wrong.
    """
