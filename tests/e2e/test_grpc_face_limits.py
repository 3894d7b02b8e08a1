"""The gRPC face under attack (issue 12, item 2): a real `cashier serve` (open-file limit 1024) keeps serving
HTTP and gRPC, and its database keeps opening files, through hundreds of idle HTTP/2 connections, a few
hundred open streams, and a flood of connections past the open-file limit; connections that never finish
their handshake, or never call, are closed; calls beyond the worker's cap and oversized messages are
refused at once."""

from __future__ import annotations

import os
import queue
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cashier.v1 import cashier_service_pb2 as svc
from gateway.config import ConfigError, load_settings
from tests.e2e.test_http_face_limits import LimitedServe
from tests.support import CashierClient, Tenant, make_settings, running_gateway, seed_with_cli

#: The client preface and an empty SETTINGS frame: an HTTP/2 connection that then never calls.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def _own_channel(target: str) -> grpc.Channel:
    """A channel with a connection of its own (grpcio shares one between channels with equal arguments)."""
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def _healthy(target: str, timeout: float = 10) -> bool:
    with _own_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def _open(target: str, count: int, send: bytes) -> list[socket.socket]:
    host, port = target.rsplit(":", 1)
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=10)
        if send:
            sock.sendall(send)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        while sock.recv(65536):  # the server's SETTINGS, or its GOAWAY, then EOF
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _wait_closed(socks: list[socket.socket], within: float) -> float:
    """Seconds until the server closed every one of `socks` (failing after `within`)."""
    started = time.monotonic()
    open_ = list(socks)
    while open_ and time.monotonic() - started < within:
        open_ = [sock for sock in open_ if not _closed_by_server(sock)]
        time.sleep(0.2)
    assert not open_, f"{len(open_)} of {len(socks)} connections still open after {within} s"
    return time.monotonic() - started


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def many_files() -> None:
    """This process sends the floods: it needs the descriptors the server must not spend."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def test_a_flooded_grpc_face_leaves_http_grpc_and_the_database_serving(
        database_url: str, tmp_path: Path, many_files: None) -> None:
    tenant: Tenant = seed_with_cli(database_url)
    config = tmp_path / "cashier.toml"
    # 200 HTTP connections leave the gRPC face 1024 - 200 - 200 (HTTP accept bursts) - 128 = 496 connections.
    # 256 threads, so that 200 WatchPayment streams (polling every 5 s) leave threads for everything else.
    config.write_text("[server]\nhttp_max_connections = 200\ngrpc_handshake_timeout_seconds = 2\n"
                      "grpc_idle_seconds = 3\nthreads = 256\nwatch_max_streams = 200\n"
                      "watch_max_streams_per_app = 200\nwatch_poll_seconds = 5\n")
    serve = LimitedServe(database_url, config, 1024)
    target, pid = serve.grpc_target, serve.proc.pid
    channels = [_own_channel(target) for _ in range(4)]
    streams: list[grpc.Call] = []
    silent: list[socket.socket] = []
    idle: list[socket.socket] = []
    flood: list[socket.socket] = []
    try:
        with _own_channel(target) as channel:
            payment = CashierClient(channel, tenant).create()
        base = _fds(pid)
        # 200 open streams from 4 connections, each having sent its first state: the calls are in progress.
        for i in range(200):
            client = CashierClient(channels[i % 4], tenant)
            call = client.stub.WatchPayment(svc.WatchPaymentRequest(name=payment.name), timeout=120,
                                            metadata=client.metadata())
            streams.append(call)
        for call in streams:
            next(call)  # type: ignore[call-overload]
        # 300 idle connections: half sent the HTTP/2 preface and SETTINGS and never called, half sent nothing.
        opened = time.monotonic()
        idle = _open(target, 150, PREFACE)
        silent = _open(target, 150, b"")
        time.sleep(0.5)
        flooded, rss = _fds(pid), serve.rss_mb()
        health = httpx.get(f"{serve.http_url}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["database"] is True
        assert _healthy(target)
        with _own_channel(target) as channel:
            assert CashierClient(channel, tenant).create().name
        # The silent ones are closed after the handshake timeout, the preface ones after the idle one; the
        # streams' connections have calls in progress and are kept.
        _wait_closed(silent, within=15)
        silent_closed = time.monotonic() - opened
        _wait_closed(idle, within=15)
        idle_closed = time.monotonic() - opened
        assert all(call.is_active() for call in streams)  # type: ignore[attr-defined]
        print(f"\n200 streams + 300 idle connections: {flooded} fds (from {base}), RSS {rss:.0f} MB; "
              f"silent ones closed {silent_closed:.1f} s after opening, idle ones {idle_closed:.1f} s")
        for call in streams:
            call.cancel()  # type: ignore[attr-defined]

        # Past the open-file limit: 1100 connections. The gRPC face takes at most its 496, the rest are
        # closed as they come; the HTTP face and the database keep their descriptors.
        flood = _open(target, 1100, b"")
        time.sleep(1)
        peak = _fds(pid)
        health = httpx.get(f"{serve.http_url}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["database"] is True
        assert peak < 1024 - 200, peak
        started = time.monotonic()
        _wait_closed(flood, within=15)
        while True:  # new connections are taken again once the handshake timeout has closed the flood
            try:
                assert _healthy(target, timeout=2)
                break
            except grpc.RpcError:
                assert time.monotonic() - started < 15
                time.sleep(0.5)
        print(f"1100 silent connections: {peak} fds at peak, RSS {serve.rss_mb():.0f} MB, gRPC back after "
              f"{time.monotonic() - started:.1f} s")
        log = "".join(serve.stderr)
        assert "unable to open database" not in log and "Too many open files" not in log
        loud = [line for line in serve.stderr if '"level": "INFO"' not in line]
        assert len(loud) < 20, loud[:20]
    finally:
        for sock in (*silent, *idle, *flood):
            sock.close()
        for channel in channels:
            channel.close()
        serve.kill()


# --- calls and messages, in process ---------------------------------------------------------------------


@pytest.fixture
def small_gateway(database_url: str) -> Iterator[str]:
    settings = make_settings(database_url, server={"threads": 4, "grpc_max_rpcs": 8, "watch_max_streams": 1})
    with running_gateway(settings, housekeeping=False) as running:
        yield running.grpc_target


def _stalled_call(channel: grpc.Channel, release: queue.Queue[object]) -> grpc.Future:
    """A unary call whose request message never comes (until `release` is fed): it holds its place."""
    def requests() -> Iterator[bytes]:
        release.get()
        yield health_pb2.HealthCheckRequest().SerializeToString()

    call = channel.stream_unary(HEALTH_CHECK, request_serializer=None, response_deserializer=None)
    return call.future(requests(), timeout=60)


def test_calls_beyond_the_cap_are_refused_at_once(small_gateway: str) -> None:
    release: queue.Queue[object] = queue.Queue()
    with _own_channel(small_gateway) as channel:
        stalled = [_stalled_call(channel, release) for _ in range(8)]
        time.sleep(1)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=20)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 5
        for _ in stalled:
            release.put(None)
        assert all(call.result(timeout=20) for call in stalled)
        assert _healthy(small_gateway)


def test_an_oversized_message_is_refused_before_it_is_read(small_gateway: str) -> None:
    big = svc.CreatePaymentRequest(subject="x" * (2 * 1024 * 1024)).SerializeToString()
    with _own_channel(small_gateway) as channel:
        create = channel.unary_unary("/cashier.v1.CashierService/CreatePayment", request_serializer=None,
                                     response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            create(big, timeout=20, metadata=[("authorization", "Bearer nope")])
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (refused.value.details() or "")
    assert _healthy(small_gateway)


def test_the_grpc_limits_are_validated_by_key() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, env={}, overrides={"server": {
            "grpc_max_connections": 0, "grpc_handshake_timeout_seconds": 0, "grpc_max_message_bytes": 10}})
    for key in ("server.grpc_max_connections", "server.grpc_handshake_timeout_seconds",
                "server.grpc_max_message_bytes"):
        assert key in str(refused.value)
