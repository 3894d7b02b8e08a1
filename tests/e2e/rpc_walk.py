"""What a client written from reflection alone has: the services' descriptors, a raw channel, bytes.
And what a test needs to prove that a refused call changed nothing: every row of every table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
import sqlalchemy as sa
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from gateway.bootstrap import Gateway
from gateway.storage import tables

CALL_TIMEOUT = 20.0


def all_methods(service_names: Iterable[str]) -> list[MethodDescriptor]:
    """Every RPC of the named services, from the descriptors the server registers for reflection."""
    pool = descriptor_pool.Default()
    return [m for name in service_names for m in pool.FindServiceByName(name).methods]


def invoke_raw(channel: grpc.Channel, method: MethodDescriptor, payload: bytes,
               metadata: Sequence[tuple[str, str]], *, with_trailers: bool = False):  # type: ignore[no-untyped-def]
    """Send `payload` as the request bytes. Returns (code, details) or, with_trailers, (code, details, the
    size of the trailing metadata). A stream is read up to its first message, then cancelled."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    trailers: Sequence[tuple[str, str | bytes]] = ()
    if method.server_streaming:
        stream = channel.unary_stream(path, request_serializer=None, response_deserializer=None)(
            payload, metadata=metadata, timeout=CALL_TIMEOUT)
        try:
            next(stream, None)
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            code, details, trailers = err.code(), err.details() or "", err.trailing_metadata() or ()  # type: ignore[attr-defined]
        finally:
            stream.cancel()
    else:
        try:
            channel.unary_unary(path, request_serializer=None, response_deserializer=None)(
                payload, metadata=metadata, timeout=CALL_TIMEOUT)
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            code, details, trailers = err.code(), err.details() or "", err.trailing_metadata() or ()  # type: ignore[attr-defined]
    if with_trailers:
        return code, details, sum(len(k) + len(v) for k, v in trailers)
    return code, details


def count_rows(gateway: Gateway) -> dict[str, int]:
    with gateway.engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in tables.metadata.sorted_tables}


def snapshot(gateway: Gateway) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing was written."""
    with gateway.engine.connect() as conn:
        return {t.name: sorted((tuple(row) for row in conn.execute(sa.select(t))), key=repr)
                for t in tables.metadata.sorted_tables}
