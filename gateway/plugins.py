"""The gateway's plugin manager (as datasette's plugins.py): load the ``cashier.channels`` and
``cashier.plugins`` entry points, collect the channels, the payout rails and the statement sources, and call
plugins' lifecycle hooks one implementation at a time. The hooks it knows are the contract's
(channels/contract/hookspecs.py).

There is no global manager: every caller (the server, the CLI, each test) makes its own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

import channels
from channels.contract import hookspecs
from channels.contract.payouts import PayoutRail
from channels.contract.protocol import Channel
from channels.contract.statements import StatementSource

ENTRY_POINT_GROUP = "cashier.channels"
# Plugins that add no channel and only react to the lifecycle (e.g. the buyer follow-up message).
ENTRY_POINT_GROUPS = (ENTRY_POINT_GROUP, "cashier.plugins")
#: Outbox event type → the lifecycle hook it calls (see channels/contract/hookspecs.py).
LIFECYCLE_HOOKS = {
    "payment.succeeded": "cashier_payment_succeeded",
    "payment.closed": "cashier_payment_closed",
    "refund.succeeded": "cashier_refund_succeeded",
}
PROJECT = "cashier"
log = logging.getLogger(__name__)


class PluginError(RuntimeError):
    """A plugin failed to load or returned something unusable; the message names the plugin."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]


class CashierPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution each entry-point plugin came from."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.distributions: dict[str, Any] = {}


def make_plugin_manager(
    *, load_entrypoints: bool = True, allow: Collection[str] | None = None, plugins: Iterable[object] = ()
) -> CashierPluginManager:
    """A fresh manager with the hookspecs, the allowed entry-point plugins and any `plugins` given.

    `allow` (from CASHIER_LOAD_CHANNELS) names the entry points to load, of either group; None loads all.
    """
    if not getattr(channels, "IS_CASHIER_CHANNELS", False):
        raise PluginError(
            f"the 'channels' package at {getattr(channels, '__file__', '?')} is not Unified Cashier's "
            "(Django Channels installed in the same environment?); use a separate virtualenv"
        )
    pm = CashierPluginManager()
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        for ep in (ep for group in ENTRY_POINT_GROUPS for ep in entry_points(group=group)):
            if allow is not None and ep.name not in allow:
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            pm.register(plugin, name=ep.name)
            pm.distributions[ep.name] = ep.dist
    for plugin in plugins:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    return pm


def collect_channels(pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]],
                     gateway_url: str = "http://127.0.0.1:8080") -> list[Channel]:
    """Ask every plugin for its channels; check each satisfies the protocol and names are unique."""
    return [channel for channel, _plugin in collect_channels_by_plugin(pm, config, gateway_url)]


def collect_channels_by_plugin(
    pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]], gateway_url: str = "http://127.0.0.1:8080"
) -> list[tuple[Channel, str]]:
    """Like collect_channels, with the name of the plugin that registered each channel."""
    found: dict[str, tuple[Channel, str]] = {}
    # Each implementation is called on its own (not through pm.hook) so that a failure names its plugin.
    arguments = {"config": config, "gateway_url": gateway_url.rstrip("/")}
    for impl in pm.hook.cashier_register_channels.get_hookimpls():
        plugin_name = plugin_display_name(pm, impl.plugin)
        try:
            result = impl.function(**{name: arguments[name] for name in impl.argnames})
        except Exception as exc:
            raise PluginError(f"channel plugin {plugin_name!r} failed to register its channels: {exc}") from exc
        if result is None:
            continue
        if not isinstance(result, list | tuple):
            raise PluginError(f"plugin {plugin_name!r} returned {type(result).__name__}, "
                              "not a list of channels")
        for channel in result:
            if not isinstance(channel, Channel):
                raise PluginError(f"plugin {plugin_name!r} returned {channel!r}, which is not a Channel")
            if channel.name in found:
                raise PluginError(f"plugin {plugin_name!r} registers channel {channel.name!r} twice")
            found[channel.name] = (channel, plugin_name)
    return [found[name] for name in sorted(found)]


def collect_payout_rails(pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]]) -> list[PayoutRail]:
    """Ask every plugin for its payout rails (cashier_register_payout_rails), checked as channels are: each
    satisfies the protocol, names are unique, and a failure names its plugin. Sorted by name."""
    return _collect_named(pm, "cashier_register_payout_rails", config, PayoutRail, "payout", "payout rail")


def collect_statement_sources(
    pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]]
) -> list[StatementSource]:
    """Ask every plugin for its statement sources (cashier_register_statement_sources), checked as payout rails
    are: each satisfies the protocol, names are unique, and a failure names its plugin. Sorted by name."""
    return _collect_named(pm, "cashier_register_statement_sources", config, StatementSource, "statement",
                          "statement source")


def _collect_named(pm: pluggy.PluginManager, hook: str, config: Mapping[str, Mapping[str, Any]],
                   protocol: Any, kind: str, noun: str) -> list[Any]:
    """`protocol` is a runtime-checkable Protocol (mypy accepts no protocol class as a `type[T]`)."""
    found: dict[str, Any] = {}
    # Each implementation is called on its own (not through pm.hook) so that a failure names its plugin.
    for impl in getattr(pm.hook, hook).get_hookimpls():
        plugin_name = plugin_display_name(pm, impl.plugin)
        try:
            result = impl.function(**{name: {"config": config}[name] for name in impl.argnames})
        except Exception as exc:
            raise PluginError(f"{kind} plugin {plugin_name!r} failed to register its {noun}s: {exc}") from exc
        if result is None:
            continue
        if not isinstance(result, list | tuple):
            raise PluginError(f"plugin {plugin_name!r} returned {type(result).__name__}, not a list of {noun}s")
        for item in result:
            if not isinstance(item, protocol):
                raise PluginError(f"plugin {plugin_name!r} returned {item!r}, which is not a {protocol.__name__}")
            name = item.name
            if name in found:
                raise PluginError(f"plugin {plugin_name!r} registers {noun} {name!r} twice")
            found[name] = item
    return [found[name] for name in sorted(found)]


def start_plugins(pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]]) -> None:
    """Call every `cashier_startup` implementation on its own, so that a failure names its plugin."""
    for impl in pm.hook.cashier_startup.get_hookimpls():
        try:
            impl.function(**({"config": config} if "config" in impl.argnames else {}))
        except Exception as exc:
            raise PluginError(f"plugin {plugin_display_name(pm, impl.plugin)!r} refused its configuration: "
                              f"{exc}") from exc


def plugin_display_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """The entry-point name, or for plugins registered as objects, their module or class."""
    name = pm.get_name(plugin) or ""
    if name and not name.isdigit():  # pluggy names unnamed plugins by id()
        return name
    return getattr(plugin, "__name__", None) or type(plugin).__qualname__


def list_plugins(pm: CashierPluginManager) -> list[PluginInfo]:
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        dist = pm.distributions.get(name)
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(
            name=name,
            distribution=dist.metadata["name"] if dist else "",
            version=dist.version if dist else "",
            hooks=hooks,
        ))
    return infos


class PluggyLifecycleHooks:
    """The lifecycle hooks of a plugin manager, for gateway.service.lifecycle.LifecycleRunner: who
    implements what, and calling one plugin's implementation alone (so a retry never calls another).

    Only plugins named in `enabled` (the configuration's `[plugins.<name>]` tables) are called: a hook
    hands over payments and buyer ids, so installing a package is not enough to receive them."""

    def __init__(self, pm: pluggy.PluginManager, enabled: Collection[str]):
        self.pm = pm
        self.enabled = frozenset(enabled)

    def _impls(self, hook: str) -> list[Any]:
        return list(getattr(self.pm.hook, hook).get_hookimpls())

    def subscribers(self) -> dict[str, list[tuple[str, str]]]:
        return {event_type: [(name, hook) for impl in self._impls(hook)
                             if (name := plugin_display_name(self.pm, impl.plugin)) in self.enabled]
                for event_type, hook in LIFECYCLE_HOOKS.items()}

    def disabled(self) -> list[str]:
        """Plugins that implement a lifecycle hook but have no `[plugins.<name>]` table."""
        names = {plugin_display_name(self.pm, impl.plugin) for hook in LIFECYCLE_HOOKS.values()
                 for impl in self._impls(hook)}
        return sorted(names - self.enabled)

    def call(self, plugin: str, hook: str, arguments: Mapping[str, Any]) -> None:
        for impl in self._impls(hook):
            if plugin_display_name(self.pm, impl.plugin) == plugin:
                impl.function(**{name: arguments[name] for name in impl.argnames})
                return
        raise LookupError(f"plugin {plugin!r} with hook {hook} is not installed in this gateway process")
