"""Running the gateway: start() runs one worker in this process (tests, demo, and every worker of
`cashier serve`, which gateway/supervisor.py runs, alone or as N processes sharing the ports)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2

from gateway.api.server import SERVICE_NAMES
from gateway.bootstrap import Gateway, background_jobs, bootstrap, grpc_face, http_app, ops_app
from gateway.config import Settings
from gateway.jobs import Job, JobRunner
from gateway.web.server import OPS_LIMITS, HttpFace, HttpLimits

log = logging.getLogger("cashier.runtime")


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
    jobs: JobRunner | None  # the background jobs (gateway/jobs.py), unless started without housekeeping
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
        if self.jobs is not None:
            self.jobs.stop()  # each job ends its current run (webhook attempts under way finish)
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
          run_migrations: bool = True, housekeeping: bool = True, jobs: Sequence[Job] = ()) -> RunningGateway:
    """Start one worker in this process and return once both faces accept connections. `housekeeping`:
    run the background jobs (bootstrap.background_jobs, and `jobs` besides)."""
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
        server, port, health_servicer = grpc_face(gateway, settings.server.grpc, reuse_port=reuse_port, tls=tls)
    except BaseException:
        http_sock.close()
        if ops_sock is not None:
            ops_sock.close()
        raise
    http = HttpFace(http_app(gateway, serve_metrics=ops_sock is None), http_sock, HttpLimits.of(settings.server),
                    (settings.server.tls_key, settings.server.tls_cert) if tls else None)
    # Plain HTTP on a private address: what scrapers and probes reach, never the internet.
    ops = None if ops_sock is None else HttpFace(ops_app(gateway), ops_sock, OPS_LIMITS, name="ops")
    server.start()
    http.start()
    if ops is not None:
        ops.start()
    runner = None
    if housekeeping:
        runner = background_jobs(gateway, jobs)
        runner.start()
    return RunningGateway(gateway, server, port, health_servicer, http, runner, ops)
