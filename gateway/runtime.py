"""Running the gateway: start() runs one worker in this process (tests, demo, and every worker of
`cashier serve`, which gateway/supervisor.py runs, alone or as N processes sharing the ports)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2

from gateway.api.server import SERVICE_NAMES, create_server
from gateway.bootstrap import Gateway, bootstrap
from gateway.config import Settings
from gateway.plugins import PluggyLifecycleHooks
from gateway.service.lifecycle import LifecycleRunner
from gateway.service.reconcile import Reconciler
from gateway.service.webhooks import RetryPolicy, WebhookDispatcher
from gateway.web.app import create_app, create_ops_app
from gateway.web.server import OPS_LIMITS, HttpFace, HttpLimits

log = logging.getLogger("cashier.runtime")
PURGE_EVERY_SECONDS = 3600.0


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def bind_socket(address: str, reuse_port: bool) -> socket.socket:
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP, and
    # without it uvicorn's separate header and body writes meet Nagle and delayed ACK (~40 ms a response).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def listening_socket(address: str, reuse_port: bool) -> socket.socket:
    """Bound and listening before the address is announced, so that no early client is refused."""
    sock = bind_socket(address, reuse_port)
    sock.listen(2048)
    return sock


@dataclass
class RunningGateway:
    gateway: Gateway
    grpc_server: grpc.Server
    grpc_port: int
    health: health.HealthServicer
    http: HttpFace
    _stop_purge: threading.Event
    ops: HttpFace | None = None  # the operations listener (`[server] ops`), when configured

    @property
    def grpc_target(self) -> str:
        host, _ = split_address(self.gateway.settings.server.grpc)
        return f"{host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        host, _ = split_address(self.gateway.settings.server.http)
        return f"http://{host}:{self.http.port}"

    @property
    def ops_url(self) -> str | None:
        if self.ops is None:
            return None
        host, _ = split_address(self.gateway.settings.server.ops)
        return f"http://{host}:{self.ops.port}"

    def stop(self, grace: float | None = None) -> None:
        """Graceful: report NOT_SERVING, refuse new calls, let in-flight calls finish within `grace`."""
        grace = self.gateway.settings.server.grace_seconds if grace is None else grace
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._stop_purge.set()
        self.gateway.watches.close()  # WatchPayment streams end now, not at the end of the grace period
        self.grpc_server.stop(grace).wait()
        self.http.stop()
        if self.ops is not None:
            self.ops.stop()
        self.gateway.close()

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()


def _tls(settings: Settings) -> tuple[bytes, bytes] | None:
    server = settings.server
    if not server.tls_cert and not server.tls_key:
        return None
    if not (server.tls_cert and server.tls_key):
        raise ValueError("TLS needs both server.tls_cert and server.tls_key")
    return Path(server.tls_key).read_bytes(), Path(server.tls_cert).read_bytes()


def start(settings: Settings, *, plugins: tuple[object, ...] = (), reuse_port: bool = False,
          run_migrations: bool = True, housekeeping: bool = True) -> RunningGateway:
    """Start one worker in this process and return once both faces accept connections."""
    tls = _tls(settings)
    http_sock = listening_socket(settings.server.http, reuse_port)
    try:
        ops_sock = listening_socket(settings.server.ops, reuse_port) if settings.server.ops else None
    except BaseException:
        http_sock.close()
        raise
    if not settings.server.public_url:
        # Channels hand this URL to their rails (notifications), so it must carry the port really bound.
        host, _ = split_address(settings.server.http)
        scheme = "https" if tls else "http"
        settings = settings.model_copy(update={"server": settings.server.model_copy(
            update={"public_url": f"{scheme}://{host}:{http_sock.getsockname()[1]}"})})
    try:
        gateway = bootstrap(settings, plugins=plugins, run_migrations=run_migrations)
        server, port, health_servicer = create_server(gateway, settings.server.grpc, reuse_port=reuse_port, tls=tls)
    except BaseException:
        http_sock.close()
        if ops_sock is not None:
            ops_sock.close()
        raise
    http = HttpFace(create_app(gateway, metrics=ops_sock is None), http_sock, HttpLimits.of(settings.server),
                    (settings.server.tls_key, settings.server.tls_cert) if tls else None)
    # Plain HTTP on a private address: what scrapers and probes reach, never the internet.
    ops = None if ops_sock is None else HttpFace(create_ops_app(gateway), ops_sock, OPS_LIMITS, name="ops")
    server.start()
    http.start()
    if ops is not None:
        ops.start()
    stop_purge = threading.Event()
    if housekeeping:
        threading.Thread(target=_purge_loop, args=(gateway, stop_purge), name="purge", daemon=True).start()
        threading.Thread(target=_reconcile_loop, args=(gateway, stop_purge), name="reconcile", daemon=True).start()
        threading.Thread(target=_webhook_loop, args=(gateway, stop_purge), name="webhooks", daemon=True).start()
        threading.Thread(target=_hooks_loop, args=(gateway, stop_purge), name="hooks", daemon=True).start()
    return RunningGateway(gateway, server, port, health_servicer, http, stop_purge, ops)


def _purge_loop(gateway: Gateway, stop: threading.Event) -> None:
    keys = timedelta(hours=gateway.settings.idempotency.retention_hours)
    delivered = timedelta(days=gateway.settings.webhooks.retention_days)
    jobs: tuple[tuple[str, Callable[[], int]], ...] = (
        ("idempotency keys", lambda: gateway.admin.purge_idempotency_keys(keys)),
        ("delivered events", lambda: gateway.admin.purge_delivered_events(delivered)),
    )
    while not stop.wait(PURGE_EVERY_SECONDS):
        for what, purge in jobs:  # each on its own: one failing never holds the other back
            try:
                log.info("purged %s", what, extra={"count": purge()})
            except Exception:
                log.exception("purging %s failed; will try again", what)


def make_reconciler(gateway: Gateway) -> Reconciler:
    """The reconciler over the gateway's own unit of work (one SQLite write lock per process), channels,
    payment service and metrics, tuned by `[reconcile]`."""
    config = gateway.settings.reconcile
    return Reconciler(
        gateway.payments.uow, gateway.channels,
        pending_age=timedelta(seconds=config.pending_after_seconds), batch=config.batch,
        revisit=timedelta(seconds=config.revisit_seconds), payments=gateway.payments,
        observe_channel=gateway.metrics.observe_channel, observe_result=gateway.metrics.observe_reconciled)


def _reconcile_loop(gateway: Gateway, stop: threading.Event) -> None:
    reconciler = make_reconciler(gateway)
    while not stop.wait(gateway.settings.reconcile.every_seconds):
        try:
            report = reconciler.run_until_done(max_batches=10)
            if report.claimed:
                log.info("reconciled payments", extra={"claimed": len(report.claimed), "queried": report.queried,
                                                       "paid": report.paid, "closed": report.closed,
                                                       "pending": report.pending, "flagged": report.flagged})
        except Exception:
            log.exception("reconciling payments failed; will try again")
        try:
            # Refunds whose answer was unknown, left PENDING: settled by the channel's answer, never a guess.
            refunds = gateway.refunds.resolve_pending_refunds(
                min_age=timedelta(seconds=gateway.settings.reconcile.pending_after_seconds))
            if refunds.succeeded or refunds.failed:
                log.info("resolved pending refunds", extra={
                    "succeeded": len(refunds.succeeded), "failed": len(refunds.failed),
                    "pending": len(refunds.pending)})
        except Exception:
            log.exception("resolving pending refunds failed; will try again")


def make_dispatcher(gateway: Gateway, sender: object | None = None) -> WebhookDispatcher:
    """The webhook dispatcher over the gateway's unit of work, tuned by `[webhooks]`, rendering bodies in
    cashier.v1's shape; without `sender`, an HTTP sender the caller closes through `dispatcher.sender.close()`."""
    from gateway.api.webhook_bodies import ProtobufWebhookBodies
    from gateway.webhook_http import HttpWebhookSender
    from gateway.webhook_targets import TargetPolicy

    config = gateway.settings.webhooks
    targets = TargetPolicy.from_settings(config)
    return WebhookDispatcher(
        gateway.payments.uow, sender or HttpWebhookSender(config.timeout_seconds, targets),  # type: ignore[arg-type]
        policy=RetryPolicy(timedelta(seconds=config.retry_base_seconds),
                           timedelta(seconds=config.retry_cap_seconds), config.max_attempts),
        batch=config.batch, lease=timedelta(seconds=config.lease_seconds),
        attempt_timeout=timedelta(seconds=config.timeout_seconds), concurrency=config.concurrency,
        app_budget=timedelta(seconds=config.app_budget_seconds), targets=targets,
        observe=gateway.metrics.observe_webhook, renderer=ProtobufWebhookBodies())


def _webhook_loop(gateway: Gateway, stop: threading.Event) -> None:
    dispatcher = make_dispatcher(gateway)
    try:
        while not stop.wait(gateway.settings.webhooks.every_seconds):
            try:
                # Hands each app's events to the pool without waiting (a slow app holds only its own
                # thread; each app's turn logs "dispatched webhooks"); a full batch: more may be due.
                for _ in range(10):
                    if dispatcher.pump() < dispatcher.batch:
                        break
            except Exception:
                log.exception("dispatching webhooks failed; will try again")
    finally:
        dispatcher.close()
        dispatcher.sender.close()  # type: ignore[attr-defined]


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


def _hooks_loop(gateway: Gateway, stop: threading.Event) -> None:
    runner = make_lifecycle_runner(gateway)
    while not stop.wait(gateway.settings.hooks.every_seconds):
        try:
            report = runner.run_until_done(max_batches=10)
            if report.done or report.retried or report.parked:
                log.info("called lifecycle hooks", extra={
                    "done": len(report.done), "retried": report.retried, "parked": report.parked})
        except Exception:
            log.exception("calling lifecycle hooks failed; will try again")
