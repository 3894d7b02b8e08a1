"""The composition root: the only place that wires real adapters (database, plugins, metrics) together."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from channels.contract.protocol import Channel
from gateway.config import ConfigError, Settings
from gateway.metrics import Metrics
from gateway.plugins import (
    CashierPluginManager,
    collect_channels_by_plugin,
    list_plugins,
    make_plugin_manager,
    start_plugins,
)
from gateway.service.admin import AdminService
from gateway.service.auth import Authenticator
from gateway.service.channel_directory import C, ChannelDirectory
from gateway.service.flags import FlagService
from gateway.service.idempotency import IdempotencyService
from gateway.service.merchant_cache import MerchantCache
from gateway.service.payments import PaymentService
from gateway.service.refunds import RefundService
from gateway.service.routing import Router, RoutingRule
from gateway.service.watch import WatchService
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work import SqlUnitOfWorkFactory


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    plugins: CashierPluginManager
    channels: list[Channel]
    metrics: Metrics
    authenticator: Authenticator
    payments: PaymentService
    refunds: RefundService
    admin: AdminService
    flags: FlagService
    watches: WatchService
    directory: ChannelDirectory
    idempotency: IdempotencyService
    _origins: dict[str, tuple[str, str]] = field(default_factory=dict)

    def database_ok(self) -> bool:
        """Whether the database answers a trivial query now (for /healthz: the web face knows no SQL)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means: not healthy
            return False

    def capable(self, name: str, capability: type[C]) -> C | None:
        """The channel `name` if it has `capability` (a protocol of channels/contract/protocol.py), else None."""
        return self.directory.capable(name, capability)

    def channel_origin(self, channel_name: str) -> tuple[str, str]:
        """(distribution, version) of the plugin that registered a channel."""
        return self._origins.get(channel_name, ("", ""))

    def close(self) -> None:
        """Release what the channels hold (e.g. their rails' connection pools), then the database."""
        _close_channels(self.channels)
        self.engine.dispose()


def _close_channels(channels: list[Channel]) -> None:
    for channel in channels:
        close = getattr(channel, "close", None)
        if callable(close):
            close()


def allowed_channels(env: dict[str, str] | None = None) -> set[str] | None:
    """CASHIER_LOAD_CHANNELS=a,b loads only those entry points; unset loads all."""
    value = (env if env is not None else os.environ).get("CASHIER_LOAD_CHANNELS")
    return None if value is None else {name.strip() for name in value.split(",") if name.strip()}


def check_rules(rules: list[RoutingRule], channel_names: set[str]) -> None:
    """A rule naming a channel that is not installed would silently refuse or allow payments: stop."""
    for rule in rules:
        unknown = sorted(({rule.pin} if rule.pin else set()) | set(rule.deny) - channel_names)
        unknown = [name for name in unknown if name not in channel_names]
        if unknown:
            raise ConfigError(f"routing rule {rule.name!r} names channels that are not installed: "
                              f"{', '.join(unknown)} (installed: {', '.join(sorted(channel_names)) or 'none'})")


def rules_from(settings: Settings) -> list[RoutingRule]:
    return [
        RoutingRule(
            name=r.name, merchants=frozenset(r.merchants), business_categories=frozenset(r.business_categories),
            platforms=frozenset(r.platforms), scenarios=frozenset(r.scenarios), app_version=r.app_version,
            pin=r.pin, deny=frozenset(r.deny),
        )
        for r in settings.routing.rules
    ]


def build_plugins(plugins: tuple[object, ...] = ()) -> CashierPluginManager:
    return make_plugin_manager(allow=allowed_channels(), plugins=plugins)


def bootstrap(settings: Settings, *, plugins: tuple[object, ...] = (), run_migrations: bool = True,
              metrics: Metrics | None = None) -> Gateway:
    # Plugins and rules first: a configuration mistake stops start-up before anything is opened.
    pm = build_plugins(plugins)
    start_plugins(pm, settings.plugins)
    registered = collect_channels_by_plugin(pm, settings.channels, settings.public_url)
    channels = [channel for channel, _plugin in registered]
    rules = rules_from(settings)
    try:
        check_rules(rules, {c.name for c in channels})
    except ConfigError:
        _close_channels(channels)
        raise
    engine = make_engine(settings.database.url, pool_size=settings.database.pool_size,
                         sqlite_synchronous=settings.database.sqlite_synchronous)
    if run_migrations:
        migrate.upgrade(engine)
    metrics = metrics or Metrics()
    uow = SqlUnitOfWorkFactory(engine)
    router = Router(channels, rules, observe=metrics.observe_channel)
    infos = {info.name: info for info in list_plugins(pm)}
    origins = {channel.name: (infos[plugin].distribution, infos[plugin].version) if plugin in infos else ("", "")
               for channel, plugin in registered}
    # Merchants are cached as briefly as API keys; AdminService drops an entry when it changes one.
    merchants = MerchantCache(ttl_seconds=settings.auth.cache_seconds)
    directory = ChannelDirectory(channels)
    payments = PaymentService(uow, router, merchants=merchants)
    server = settings.server
    authenticator = Authenticator(uow, cache_seconds=settings.auth.cache_seconds)
    watches = WatchService(uow, payments, authenticator, poll_seconds=server.watch_poll_seconds,
                           max_seconds=server.watch_max_seconds, max_streams=server.watch_streams,
                           max_streams_per_app=server.watch_streams_per_app,
                           recheck_seconds=settings.auth.cache_seconds)
    return Gateway(
        settings=settings,
        engine=engine,
        plugins=pm,
        channels=channels,
        metrics=metrics,
        authenticator=authenticator,
        payments=payments,
        refunds=RefundService(uow, directory),
        admin=AdminService(uow, merchants=merchants),
        flags=FlagService(uow),
        watches=watches,
        directory=directory,
        idempotency=IdempotencyService(uow),
        _origins=origins,
    )
