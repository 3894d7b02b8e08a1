"""create_server(): the gRPC server with health checking, reflection and the cashier interceptor."""

from __future__ import annotations

from concurrent import futures
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cashier.v1 import (
    cashier_service_pb2,
    cashier_service_pb2_grpc,
    operator_service_pb2,
    operator_service_pb2_grpc,
)
from gateway.api.interceptor import CashierInterceptor
from gateway.api.servicers import CashierServicer, OperatorServicer

if TYPE_CHECKING:
    from gateway.bootstrap import Gateway

SERVICE_NAMES = (
    cashier_service_pb2.DESCRIPTOR.services_by_name["CashierService"].full_name,
    operator_service_pb2.DESCRIPTOR.services_by_name["OperatorService"].full_name,
)


def create_server(gateway: Gateway, address: str, *, reuse_port: bool = False,
                  tls: tuple[bytes, bytes] | None = None) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and bind (not start) the server. Returns it with the bound port (address may end in :0)
    and the health servicer, so that shutdown can report NOT_SERVING first."""
    settings = gateway.settings.server
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="grpc"),
        interceptors=[CashierInterceptor(gateway.authenticator, gateway.metrics)],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    cashier_service_pb2_grpc.add_CashierServiceServicer_to_server(CashierServicer(gateway), server)
    operator_service_pb2_grpc.add_OperatorServiceServicer_to_server(OperatorServicer(gateway), server)
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
