"""The HTTP face under attack: bodies bounded before they are read, header and idle timeouts, a cap on
connections per worker, /metrics on a separate operations listener, no SQL parameters in errors, and a
real `cashier serve` (open-file limit 1024, or less where this machine's own limit is too low to flood it)
that keeps serving HTTP and gRPC through a flood of idle
connections and 256 MiB uploads."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.config import ConfigError, load_settings
from gateway.runtime import RunningGateway
from gateway.storage.engine import make_engine
from gateway.web.server import RepeatLimit
from tests.e2e.test_payment_completion import _post, _signed, pay_at_alipay, wait_for_state
from tests.support import CASHIER, CashierClient, Tenant, make_settings, running_gateway, seed_with_cli

MIB = 1024 * 1024


def _limits(**server: object) -> dict[str, object]:
    return {"http_header_timeout_seconds": 1.0, "http_body_timeout_seconds": 1.0, "http_keepalive_seconds": 1.0,
            **server}


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table}, server=_limits())
    with running_gateway(settings, housekeeping=False) as running:
        yield running


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True once the server closed the connection (EOF or reset), reading and discarding any answer."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# --- bodies ---------------------------------------------------------------------------------------------


def test_an_oversized_notification_is_refused_before_its_body_is_sent(gateway: RunningGateway) -> None:
    with _connect(gateway.http_url) as sock:
        sock.sendall(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 268435456\r\n\r\n")
        answer = _answer(sock)  # not one byte of the body sent
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert _closed_within(sock, 5)


def test_a_chunked_notification_is_cut_off_at_the_limit(gateway: RunningGateway) -> None:
    chunk = b"a" * 8192
    with _connect(gateway.http_url) as sock:
        sock.sendall(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(9):  # 72 KiB: past the 64 KiB limit; the rest (as much again) never read
            sock.sendall(b"2000\r\n" + chunk + b"\r\n")
        answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert _closed_within(sock, 5)


def test_an_early_answer_keeps_a_small_body_s_connection(gateway: RunningGateway) -> None:
    # Headers and body sent apart (as http.client does), the answer (unknown channel) comes in between:
    # the rest of the small body is read and dropped, and the connection serves the next request.
    with _connect(gateway.http_url) as sock:
        sock.sendall(b"POST /notify/nosuch/shop-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n")
        assert _answer(sock).startswith(b"HTTP/1.1 404")
        sock.sendall(b"a=1&b=2GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        seen = b""
        while b"HTTP/1.1 200" not in seen:
            chunk = sock.recv(65536)
            assert chunk, seen
            seen += chunk


def test_streamed_256_mib_uploads_are_stopped_early(gateway: RunningGateway) -> None:
    for declared in (True, False):
        sent = _upload(f"{gateway.http_url}/notify/mobile/shop-1", declared)
        assert sent < 32 * MIB, sent


def _upload(url: str, declared: bool, size: int = 256 * MIB) -> int:
    """POST `size` bytes from a generator (never held in memory); the bytes the server let us send."""
    sent = 0
    piece = b"x" * (64 * 1024)

    def body() -> Iterator[bytes]:
        nonlocal sent
        while sent < size:
            sent += len(piece)
            yield piece

    headers = {"content-type": "application/x-www-form-urlencoded"}
    if declared:
        headers["content-length"] = str(size)
    try:
        answer = httpx.post(url, content=body(), headers=headers, timeout=30)
        assert answer.status_code in (404, 413), answer.status_code  # refused (too large, or unknown)
    except httpx.TransportError:
        pass  # the server dropped the connection instead of reading the rest: what it should do
    return sent


# --- merchant segment and SQL parameters (issue 12, item 8) ---------------------------------------------


@pytest.mark.parametrize("segment", ["m" * 210, "Shop_1", "x" * 41])
def test_a_notification_for_a_malformed_merchant_writes_nothing(
        segment: str, app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = app.create(amount=4200)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    # Genuine (signed by Alipay) but for another app: at a well-formed merchant this raises APP_MISMATCH.
    answer = _post(gateway, segment, _signed(alipay, app_id="2021000000009999"))
    assert (answer.status_code, answer.text) == (404, "unknown merchant")
    assert gateway.gateway.flags.list() == []


def test_the_database_never_shows_sql_parameters(database_url: str) -> None:
    # What a too-long merchant id did on PostgreSQL (StringDataRightTruncation): the error, and so the log
    # line, carried the stranger's value.
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe_hidden (x VARCHAR(4) NOT NULL CHECK (length(x) <= 4))"))
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.execute(text("INSERT INTO probe_hidden (x) VALUES (:x)"), {"x": "secret-from-a-stranger"})
        assert "secret-from-a-stranger" not in str(refused.value)
        assert "hidden" in str(refused.value)
    finally:
        engine.dispose()


# --- timeouts and the connection cap --------------------------------------------------------------------


def test_half_sent_headers_and_idle_connections_are_closed(gateway: RunningGateway,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with _connect(gateway.http_url) as half, _connect(gateway.http_url) as idle, \
            _connect(gateway.http_url) as slow_body:
        half.sendall(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nContent-")
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(idle).startswith(b"HTTP/1.1 200")
        slow_body.sendall(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        # Timeouts are 1 s in this test's configuration; each gets ten times that.
        assert _closed_within(half, 10)
        assert _closed_within(idle, 10)
        assert _closed_within(slow_body, 10)
    assert httpx.get(f"{gateway.http_url}/healthz").status_code == 200
    # A client cut off mid-body is no error of ours: no traceback in the log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_connections_over_the_cap_are_turned_away(database_url: str) -> None:
    settings = make_settings(database_url, server=_limits(
        http_max_connections=6, http_header_timeout_seconds=30.0, http_body_timeout_seconds=30.0))
    with running_gateway(settings, housekeeping=False) as gateway:
        # Six requests in progress (bodies still on their way): none may be pushed out.
        busy = [_connect(gateway.http_url) for _ in range(6)]
        for sock in busy:
            sock.sendall(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        time.sleep(0.5)
        with _connect(gateway.http_url) as extra:
            try:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
            assert _closed_within(extra, 10)  # closed at once, unanswered
        for sock in busy:
            sock.close()
        # Stalled connections (headers half sent) give way to a fresh one: the oldest is closed.
        stalled = [_connect(gateway.http_url) for _ in range(6)]
        for sock in stalled:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.05)
        assert httpx.get(f"{gateway.http_url}/healthz", timeout=10).status_code == 200
        assert _closed_within(stalled[0], 10)
        assert not _closed_within(stalled[-1], 0.5)
        for sock in stalled:
            sock.close()
        assert httpx.get(f"{gateway.http_url}/healthz", timeout=10).status_code == 200


def test_the_limits_are_validated_by_key() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, env={}, overrides={"server": {
            "http_header_timeout_seconds": 0, "http_max_connections": 0, "ops": "9090"}})
    for key in ("server.http_header_timeout_seconds", "server.http_max_connections", "server.ops"):
        assert key in str(refused.value)


def test_a_flood_of_one_warning_is_logged_a_few_times_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.repeats")
    logger.addFilter(RepeatLimit(burst=3, window=60))
    with caplog.at_level(logging.WARNING, logger="test.repeats"):
        for _ in range(1000):
            logger.warning("socket.accept() out of system resource")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["socket.accept() out of system resource"] * 3 + [
        "something else"]


# --- the operations listener (issue 12, item 11) --------------------------------------------------------


def test_metrics_move_to_the_operations_listener(database_url: str) -> None:
    settings = make_settings(database_url, server={"ops": "127.0.0.1:0"})
    with running_gateway(settings, housekeeping=False) as gateway:
        assert gateway.ops_url is not None and gateway.ops_url != gateway.http_url
        assert httpx.get(f"{gateway.http_url}/metrics").status_code == 404
        assert httpx.get(f"{gateway.http_url}/healthz").status_code == 200
        scraped = httpx.get(f"{gateway.ops_url}/metrics")
        assert scraped.status_code == 200 and "cashier_" in scraped.text
        assert httpx.get(f"{gateway.ops_url}/healthz").json()["database"] is True
        assert httpx.get(f"{gateway.ops_url}/notify/mobile/shop-1").status_code == 404
    with running_gateway(make_settings(database_url), housekeeping=False) as without:
        assert without.ops_url is None
        assert httpx.get(f"{without.http_url}/metrics").status_code == 200


# --- the flood, against a real `cashier serve` limited to at most 1024 open files ------------------------

SERVER_NOFILE = 1024
#: Descriptors this test process needs besides the flood (pytest, xdist, the database, gRPC, logs).
CLIENT_RESERVE = 250
_ANNOUNCE = re.compile(r"gRPC on (\S+), HTTP on (\S+?)(,|$)")


class LimitedServe:
    """`cashier serve` in a subprocess whose open-file limit (soft and hard) is `nofile`."""

    def __init__(self, database_url: str, config: Path, nofile: int):
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [CASHIER, "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"],
            env={**os.environ, "CASHIER_DATABASE_URL": database_url, "CASHIER_CONFIG": str(config)}, preexec_fn=limit,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        match = _ANNOUNCE.search(line)
        if match is None:
            self.kill()
            raise AssertionError(f"cashier serve did not start: {line!r}\n{''.join(self.stderr)}")
        self.grpc_target, self.http_url = match.group(1), match.group(2)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


async def _flood(url: str, count: int, hold: threading.Event) -> tuple[int, int]:
    """`count` connections that send half their headers and wait until `hold` is set: (how many were
    opened, how many of them the server closed meanwhile)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    writers: list[asyncio.StreamWriter] = []
    closed = 0

    async def one() -> None:
        nonlocal closed
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 15)
            writer.write(b"POST /notify/mobile/shop-1 HTTP/1.1\r\nHost: x\r\nContent-Ty")
            writers.append(writer)
            await reader.read()  # returns (or raises) once the server closes the connection
        except (OSError, TimeoutError):
            pass
        closed += 1

    waiting = [asyncio.ensure_future(one()) for _ in range(count)]
    while not hold.is_set():
        await asyncio.sleep(0.1)
    opened, closed_by_server = len(writers), closed
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    for writer in writers:
        writer.close()
    return opened, closed_by_server


def flood_limits() -> tuple[int, int]:
    """(the server's open-file limit, the flood's size): the flood outnumbers what the server may open, and
    this process, which sends it, must hold the whole flood; where its hard limit cannot be raised (CI's may
    be 1024), the server is limited lower instead of the flood falling short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * SERVER_NOFILE
    for limits in ((wanted, max(hard, wanted)), (min(hard, wanted), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    client = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    server = min(SERVER_NOFILE, (client - CLIENT_RESERVE) * 9 // 10)
    assert server >= 600, f"this machine's open-file limit ({client}) is too low to flood a server"
    return server, server + server // 10


def test_a_flooded_worker_keeps_serving_within_its_memory(database_url: str, tmp_path: Path) -> None:
    server_nofile, flood = flood_limits()
    tenant: Tenant = seed_with_cli(database_url)
    config = tmp_path / "cashier.toml"
    config.write_text('[server]\nhttp_header_timeout_seconds = 30\n\n[logging]\nlevel = "INFO"\n')
    serve = LimitedServe(database_url, config, server_nofile)
    try:
        hold = threading.Event()
        flooded: list[tuple[int, int]] = []
        flooder = threading.Thread(target=lambda: flooded.append(asyncio.run(_flood(serve.http_url, flood, hold))))
        started = time.monotonic()
        flooder.start()
        time.sleep(2)
        peak = serve.rss_mb()
        uploads: list[int | BaseException] = []

        def upload(declared: bool) -> None:
            try:
                uploads.append(_upload(f"{serve.http_url}/notify/mobile/shop-1", declared))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                uploads.append(exc)

        threads = [threading.Thread(target=upload, args=(declared,)) for declared in (True, False, True, False)]
        for thread in threads:
            thread.start()
        # While the flood holds and the uploads run: health on both faces, and a payment.
        health = httpx.get(f"{serve.http_url}/healthz", timeout=10)
        with grpc.insecure_channel(serve.grpc_target) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            payment = CashierClient(channel, tenant).create()
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, serve.rss_mb())
            time.sleep(0.1)
        peak = max(peak, serve.rss_mb())
        hold.set()
        flooder.join(30)
        elapsed = time.monotonic() - started
        print(f"flood: {flooded} connections opened, peak RSS {peak:.0f} MB, uploads sent {uploads} bytes, "
              f"{elapsed:.1f} s")
        assert health.status_code == 200 and health.json()["database"] is True
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        assert payment.state == pb.PAYMENT_STATE_PENDING
        assert len(uploads) == 4 and all(isinstance(sent, int) and sent < 64 * MIB for sent in uploads), uploads
        assert peak < 300, peak
        # Connections past what the worker's descriptors allow were closed at once, the rest stayed.
        opened, closed_by_server = flooded[0]
        assert opened == flood and flood - server_nofile < closed_by_server < flood, (flooded, server_nofile)
        # After the flood, a fresh connection is served, and the log did not drown.
        assert httpx.get(f"{serve.http_url}/healthz", timeout=10).status_code == 200
        log = "".join(serve.stderr)
        assert "out of system resource" not in log and "unable to open database" not in log
        assert len(serve.stderr) < 200, len(serve.stderr)
    finally:
        serve.kill()
