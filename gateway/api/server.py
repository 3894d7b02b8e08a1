"""create_server(): the gRPC server with health checking, reflection and the cashier interceptor, bounded
by `[server]` so that a stranger cannot hold what others need (grpcio's C core accepts without a cap).

- **connections**: at most `grpc_max_connections` at once (core's `grpc.max_allowed_incoming_connections`:
  one more is closed as soon as it is accepted), lowered so that the gRPC connections, the HTTP face's
  and a reserve for the database and logs together fit the open-file limit (gateway/open_files.py);
  a connection that has not completed its HTTP/2 handshake (client preface and SETTINGS) within
  `grpc_handshake_timeout_seconds` is closed, and one with no call in progress after `grpc_idle_seconds`.
- **lifetime**: after `grpc_max_connection_age_seconds` a connection is told to go away (GOAWAY: its client
  reconnects for new calls); its calls in progress get `watch_max_seconds` + 30 s, so that a WatchPayment
  stream, which ends by itself after `watch_max_seconds`, is never cut short.
- **calls**: `grpc_max_concurrent_streams` per connection; `grpc_rpcs` in progress or waiting for one of
  `threads` in the whole worker, beyond which grpcio answers RESOURCE_EXHAUSTED at once instead of queueing
  without bound; a request message over `grpc_max_message_bytes` or metadata over `grpc_max_metadata_bytes`
  is refused (RESOURCE_EXHAUSTED) before our code sees it.
- **pings**: a client may ping at most every PING_INTERVAL_MS and not while it has no call; two strikes and
  the connection is closed. The server pings a connection quiet for KEEPALIVE_MS and drops it when
  unanswered within KEEPALIVE_TIMEOUT_MS (its peer vanished).
"""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cashier.v1 import (
    cashier_service_pb2,
    cashier_service_pb2_grpc,
    merchant_service_pb2,
    merchant_service_pb2_grpc,
    settlement_service_pb2,
    settlement_service_pb2_grpc,
)
from gateway.api.interceptor import CashierInterceptor
from gateway.api.merchant_servicer import MerchantServicer
from gateway.api.servicers import CashierServicer
from gateway.api.settlement_servicer import SettlementServicer
from gateway.config import ServerSettings
from gateway.metrics import Metrics
from gateway.open_files import grpc_connection_budget
from gateway.service.services import Services

SERVICE_NAMES = (
    cashier_service_pb2.DESCRIPTOR.services_by_name["CashierService"].full_name,
    merchant_service_pb2.DESCRIPTOR.services_by_name["MerchantService"].full_name,
    settlement_service_pb2.DESCRIPTOR.services_by_name["SettlementService"].full_name,
)

PING_INTERVAL_MS = 10_000
KEEPALIVE_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
#: What calls in progress get after their connection's maximum age, beyond the longest WatchPayment stream.
AGE_GRACE_MARGIN_SECONDS = 30.0


def server_options(server: ServerSettings, *, reuse_port: bool = False) -> list[tuple[str, int]]:
    """grpcio's channel arguments for the bounds described above."""
    grace = server.watch_max_seconds + AGE_GRACE_MARGIN_SECONDS
    return [
        ("grpc.so_reuseport", 1 if reuse_port else 0),
        ("grpc.max_allowed_incoming_connections", grpc_connection_budget(server)),
        ("grpc.server_handshake_timeout_ms", int(server.grpc_handshake_timeout_seconds * 1000)),
        ("grpc.max_connection_idle_ms", int(server.grpc_idle_seconds * 1000)),
        ("grpc.max_connection_age_ms", int(server.grpc_max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", int(grace * 1000)),
        ("grpc.max_concurrent_streams", server.grpc_max_concurrent_streams),
        ("grpc.max_receive_message_length", server.grpc_max_message_bytes),
        ("grpc.max_metadata_size", server.grpc_max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", server.grpc_max_metadata_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", PING_INTERVAL_MS),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ]


def create_server(services: Services, metrics: Metrics, settings: ServerSettings, address: str, *,
                  reuse_port: bool = False, tls: tuple[bytes, bytes] | None = None
                  ) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and bind (not start) the server over `services`, bounded by `settings` (`[server]`). Returns it
    with the bound port (address may end in :0) and the health servicer, so that shutdown can report
    NOT_SERVING first. Called by the composition root (gateway/bootstrap.py)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="grpc"),
        interceptors=[CashierInterceptor(services.authenticator, metrics)],
        options=server_options(settings, reuse_port=reuse_port),
        maximum_concurrent_rpcs=settings.grpc_rpcs,
    )
    cashier_service_pb2_grpc.add_CashierServiceServicer_to_server(CashierServicer(services), server)
    merchant_service_pb2_grpc.add_MerchantServiceServicer_to_server(
        MerchantServicer(services.onboarding, services.admin, services.idempotency), server)
    settlement_service_pb2_grpc.add_SettlementServiceServicer_to_server(SettlementServicer(services.settlement),
                                                                        server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server)
    if tls is not None:
        key, cert = tls
        port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind gRPC to {address}")
    return server, port, health_servicer
