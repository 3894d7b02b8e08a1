"""The composition root: the only place that wires real adapters (database, plugins, metrics) together, and
builds the faces (gRPC, HTTP) over the services. Only the entry points (gateway/runtime.py, gateway/cli.py)
import it; the faces know only the service layer's `Services` (an import-linter contract holds this).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from grpc_health.v1 import health
from sqlalchemy import Engine, text
from starlette.applications import Starlette

from channels.contract.payouts import PayoutRail
from channels.contract.protocol import Channel
from channels.contract.statements import StatementSource
from gateway.api.server import create_server
from gateway.config import ConfigError, Settings
from gateway.jobs import Job, JobRunner, counts
from gateway.metrics import Metrics
from gateway.plugins import (
    CashierPluginManager,
    PluggyLifecycleHooks,
    collect_channels_by_plugin,
    collect_payout_rails,
    collect_statement_sources,
    list_plugins,
    make_plugin_manager,
    start_plugins,
)
from gateway.service.admin import AdminService
from gateway.service.auth import Authenticator
from gateway.service.channel_directory import C, ChannelDirectory
from gateway.service.flags import FlagService
from gateway.service.idempotency import IdempotencyService
from gateway.service.lifecycle import LifecycleRunner
from gateway.service.merchant_cache import MerchantCache, merchants_with_applications
from gateway.service.onboarding import OnboardingService
from gateway.service.payments import PaymentService
from gateway.service.payout_transfers import account_transfers
from gateway.service.ports import PayoutAccountTransfers
from gateway.service.recovery import PaymentRecovery
from gateway.service.refunds import RefundService
from gateway.service.routing import Router, RoutingRule
from gateway.service.watch import WatchService
from gateway.service.webhooks import RetryPolicy, WebhookDispatcher, WebhookSender
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from gateway.web.app import create_app, create_ops_app
from settlement.service.reconcile import SettlementOperations, reconcile_job

log = logging.getLogger("cashier.bootstrap")
#: How often `cashier serve` purges expired idempotency keys and delivered events.
PURGE_EVERY_SECONDS = 3600.0


@dataclass
class Gateway:
    """Everything one worker runs on. The faces get it as `gateway.service.services.Services`, which it
    satisfies: the services and what they answer with, not the engine, plugins or settings."""

    settings: Settings
    engine: Engine
    plugins: CashierPluginManager
    channels: list[Channel]
    metrics: Metrics
    authenticator: Authenticator
    payments: PaymentService
    refunds: RefundService
    admin: AdminService
    onboarding: OnboardingService
    flags: FlagService
    watches: WatchService
    directory: ChannelDirectory
    idempotency: IdempotencyService
    settlement: SettlementOperations  # SettlementQueries, and Reconcile
    payout_rails: list[PayoutRail] = field(default_factory=list)
    # The rails' daily statements, for settlement's reconciliation (cashier_register_statement_sources).
    statement_sources: list[StatementSource] = field(default_factory=list)
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
        """Release what the channels and payout rails hold (their connection pools), then the database."""
        _close_channels(self.channels)
        _close_channels(self.payout_rails)
        _close_channels(self.statement_sources)
        self.engine.dispose()


def _close_channels(channels: Sequence[Channel | PayoutRail | StatementSource]) -> None:
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


def payout_transfers(rails: Sequence[PayoutRail], channels: list[Channel]) -> PayoutAccountTransfers | None:
    """What sends onboarding's account-verification transfers: the one payout rail the plugins registered
    (cashier_register_payout_rails; the Alipay payouts plugin in certificate mode), or None when there is
    none, and onboarding then refuses StartAccountVerification (FAILED_PRECONDITION, TRANSFERS_NOT_CONFIGURED)
    before it stores an attempt. Several rails: start-up stops, naming them."""
    try:
        return account_transfers(rails)
    except ValueError as exc:
        _close_channels(channels)
        _close_channels(rails)
        raise ConfigError(str(exc)) from None


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
        # Every loaded channel's fee rate, decided once here (gateway/config.py's SettlementSettings).
        fees = settings.settlement.fee_schedule([c.name for c in channels])
        rails = collect_payout_rails(pm, settings.channels)
        try:
            sources = collect_statement_sources(pm, settings.channels)
        except Exception:
            _close_channels(rails)
            raise
    except Exception:
        _close_channels(channels)
        raise
    transfers = payout_transfers(rails, channels)
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
    # Merchants are cached (with their latest application: what decides collection) as briefly as API keys;
    # AdminService and OnboardingService drop an entry when they change one.
    merchants = MerchantCache(merchants_with_applications(uow), ttl_seconds=settings.auth.cache_seconds)
    directory = ChannelDirectory(channels)
    individuals = settings.onboarding.individuals
    cutoff = settings.settlement.cutoff_time
    payments = PaymentService(uow, router, merchants=merchants, individuals_open=individuals, fees=fees,
                              cutoff=cutoff)
    onboarding = OnboardingService(uow, transfers, individuals_open=individuals,
                                   deposit_required=settings.settlement.deposit_required,
                                   retention_days=settings.onboarding.retention_days, merchants=merchants,
                                   cutoff=cutoff)
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
        refunds=RefundService(uow, directory, refund_fee=fees.refund_policy, cutoff=cutoff),
        admin=AdminService(uow, merchants=merchants),
        onboarding=onboarding,
        flags=FlagService(uow),
        watches=watches,
        directory=directory,
        idempotency=IdempotencyService(uow),
        settlement=SettlementOperations(uow, sources, settings.settlement.reconcile.options),
        payout_rails=rails,
        statement_sources=sources,
        _origins=origins,
    )


# --- the faces, over the gateway's services: each gets its settings and metrics, and nothing of this module ---


def grpc_face(gateway: Gateway, address: str, *, reuse_port: bool = False, tls: tuple[bytes, bytes] | None = None
              ) -> tuple[grpc.Server, int, health.HealthServicer]:
    """The gRPC face (CashierService, MerchantService, health, reflection), bound to `address` but not
    started; with the port bound and the health servicer (gateway/api/server.py)."""
    return create_server(gateway, gateway.metrics, gateway.settings.server, address, reuse_port=reuse_port,
                         tls=tls)


def http_app(gateway: Gateway, *, serve_metrics: bool = True) -> Starlette:
    """The public HTTP face: checkout pages, channels' notifications, /healthz, and /metrics unless
    `serve_metrics` is off because an operations listener serves them (gateway/web/app.py)."""
    return create_app(gateway, gateway.metrics, gateway.settings.public_url, serve_metrics=serve_metrics)


def ops_app(gateway: Gateway) -> Starlette:
    """The operations listener's app (`[server] ops`): /metrics and /healthz."""
    return create_ops_app(gateway, gateway.metrics)


# --- background jobs (gateway/jobs.py): what `cashier serve` runs, and the one-shot CLI commands run once ---


def make_recovery(gateway: Gateway) -> PaymentRecovery:
    """Recovery of payments over the gateway's own unit of work (one SQLite write lock per process),
    channels, payment service and metrics, tuned by `[recovery]`."""
    config = gateway.settings.recovery
    return PaymentRecovery(
        gateway.payments.uow, gateway.channels,
        pending_age=timedelta(seconds=config.pending_after_seconds), batch=config.batch,
        revisit=timedelta(seconds=config.revisit_seconds), payments=gateway.payments,
        observe_channel=gateway.metrics.observe_channel, observe_result=gateway.metrics.observe_recovered)


def recover_payments_job(gateway: Gateway, *, max_batches: int = 10) -> Job:
    """PENDING payments whose notification never came, and expired ones to close (`[recovery]`)."""
    recovery = make_recovery(gateway)
    return Job("recover-payments", gateway.settings.recovery.every_seconds,
               lambda: counts(recovery.run_until_done(max_batches=max_batches)))


def recover_refunds_job(gateway: Gateway, *, min_age: timedelta | None = None) -> Job:
    """Refunds whose answer was unknown, left PENDING: settled by the channel's answer, never a guess.
    `min_age` (default `[recovery] pending_after_seconds`) keeps it off refunds in flight."""
    config = gateway.settings.recovery
    age = timedelta(seconds=config.pending_after_seconds) if min_age is None else min_age
    return Job("recover-refunds", config.every_seconds,
               lambda: counts(gateway.refunds.resolve_pending_refunds(min_age=age)))


def make_dispatcher(gateway: Gateway, sender: WebhookSender | None = None) -> WebhookDispatcher:
    """The webhook dispatcher over the gateway's unit of work, tuned by `[webhooks]`, rendering bodies in
    cashier.v1's shape; without `sender`, an HTTP sender the caller closes through `dispatcher.sender.close()`."""
    from gateway.api.webhook_bodies import ProtobufWebhookBodies
    from gateway.webhook_http import HttpWebhookSender
    from gateway.webhook_targets import TargetPolicy

    config = gateway.settings.webhooks
    targets = TargetPolicy.from_settings(config)
    return WebhookDispatcher(
        gateway.payments.uow, sender or HttpWebhookSender(config.timeout_seconds, targets),
        policy=RetryPolicy(timedelta(seconds=config.retry_base_seconds),
                           timedelta(seconds=config.retry_cap_seconds), config.max_attempts),
        batch=config.batch, lease=timedelta(seconds=config.lease_seconds),
        attempt_timeout=timedelta(seconds=config.timeout_seconds), concurrency=config.concurrency,
        app_budget=timedelta(seconds=config.app_budget_seconds), targets=targets,
        observe=gateway.metrics.observe_webhook, renderer=ProtobufWebhookBodies())


def webhooks_job(gateway: Gateway) -> Job:
    """Hands each app's due events to the dispatcher's pool without waiting (a slow app holds only its own
    thread; each app's turn logs "dispatched webhooks"); a full batch: more may be due, up to 10 a turn."""
    dispatcher = make_dispatcher(gateway)

    def pump() -> dict[str, int]:
        handed = 0
        for _ in range(10):
            claimed = dispatcher.pump()
            handed += claimed
            if claimed < dispatcher.batch:
                break
        return {"handed": handed}

    def close() -> None:  # attempts under way finish; then the HTTP sender's connections go
        dispatcher.close()
        dispatcher.sender.close()  # type: ignore[attr-defined]

    return Job("webhooks", gateway.settings.webhooks.every_seconds, pump, close)


def make_lifecycle_runner(gateway: Gateway) -> LifecycleRunner:
    """Plugins' lifecycle hooks called from the outbox, tuned by `[hooks]`."""
    config = gateway.settings.hooks
    hooks = PluggyLifecycleHooks(gateway.plugins, enabled=gateway.settings.plugins.keys())
    for name in hooks.disabled():
        log.info("lifecycle plugin installed but not enabled: add a [plugins.%s] table to call it", name,
                 extra={"plugin": name})
    return LifecycleRunner(
        gateway.payments.uow, hooks, gateway.settings.plugins,
        policy=RetryPolicy(timedelta(seconds=config.retry_base_seconds),
                           timedelta(seconds=config.retry_cap_seconds), config.max_attempts),
        batch=config.batch, lease=timedelta(seconds=config.lease_seconds))


def hooks_job(gateway: Gateway) -> Job:
    runner = make_lifecycle_runner(gateway)
    return Job("hooks", gateway.settings.hooks.every_seconds, lambda: counts(runner.run_until_done(max_batches=10)))


def purge_jobs(gateway: Gateway) -> list[Job]:
    """Housekeeping: expired idempotency keys, delivered events, old applications' documents (each on its own: one failing never holds
    the other back)."""
    keys = timedelta(hours=gateway.settings.idempotency.retention_hours)
    delivered = timedelta(days=gateway.settings.webhooks.retention_days)
    return [
        Job("purge-idempotency-keys", PURGE_EVERY_SECONDS,
            lambda: {"purged": gateway.admin.purge_idempotency_keys(keys)}),
        Job("purge-delivered-events", PURGE_EVERY_SECONDS,
            lambda: {"purged": gateway.admin.purge_delivered_events(delivered)}),
        # Documents of applications rejected or withdrawn more than `[onboarding] retention_days` ago.
        Job("purge-application-documents", PURGE_EVERY_SECONDS,
            lambda: {"purged": gateway.onboarding.purge_documents()}),
    ]


def background_jobs(gateway: Gateway, extra: Sequence[Job] = ()) -> JobRunner:
    """Every job `cashier serve` runs in each worker, counted in the gateway's metrics; `extra` for jobs
    registered by the caller. Started by the caller (gateway/runtime.py), stopped before the gateway closes."""
    return JobRunner(gateway.metrics.observe_job_run, gateway.metrics.observe_job_success).register(
        recover_payments_job(gateway), recover_refunds_job(gateway), webhooks_job(gateway), hooks_job(gateway),
        *purge_jobs(gateway), *settlement_jobs(gateway), *extra)


def settlement_jobs(gateway: Gateway) -> list[Job]:
    """Reconciliation of yesterday's statements (`[settlement.reconcile]`), when a plugin registered a statement
    source."""
    if not gateway.statement_sources:
        return []
    return [reconcile_job(gateway.settlement.settlement_uow, gateway.statement_sources,
                          gateway.settings.settlement.reconcile.options)]
