"""Notification ingestion: signed Alipay `trade_status_sync` notifications through the gateway's
`POST /notify/mobile/<merchant>` until each PENDING payment is SUCCEEDED (with its outbox event), beside
the bare HTTP baseline (bench/http_echo.py) under the same HTTP load generator and the same bodies.

Bodies are signed before the load, with the local Alipay's key (as the sandbox signs what it sends), so
that the generator only sends bytes. One notification per payment: the gateway is never sent a
duplicate (a duplicate is cheaper: nothing changes); the baseline gets the same bodies, reused.

The HTTP load generator: client processes, each with one thread and one keep-alive connection
(`http.client`) per in-flight request: closed loop, as bench/load.py is for gRPC.
"""

from __future__ import annotations

import base64
import http.client
import multiprocessing
import socket
import threading
import time
import uuid
from array import array
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.fill import AMOUNT_FEN, payment_id
from bench.load import LoadResult, LoadSettings, run_window, summarise
from bench.payload import MERCHANT_ID
from channels.alipay.rail.signing import NOTIFY_UNSIGNED_KEYS, string_to_sign

PATH = f"/notify/mobile/{MERCHANT_ID}"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
ACK = b"success"


def _sign_range(args: tuple[bytes, str, int, int]) -> list[bytes]:
    key_pem, app_id, lo, hi = args
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("notifications are signed RSA2: the key must be an RSA private key")
    beijing = datetime.now(UTC) + timedelta(hours=8)
    when = beijing.strftime("%Y-%m-%d %H:%M:%S")
    amount = f"{AMOUNT_FEN // 100}.{AMOUNT_FEN % 100:02d}"
    bodies = []
    for n in range(lo, hi):
        fields = {
            "notify_time": when, "notify_type": "trade_status_sync", "notify_id": uuid.uuid4().hex,
            "app_id": app_id, "auth_app_id": app_id, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
            "trade_no": f"2026{n:024d}", "out_trade_no": payment_id(n), "trade_status": "TRADE_SUCCESS",
            "total_amount": amount, "receipt_amount": amount, "buyer_pay_amount": amount,
            "buyer_id": "2088000000000001", "seller_id": "2088000000000002", "subject": "Oolong tea, 250 g",
            "gmt_create": when, "gmt_payment": when,
        }
        content = string_to_sign(fields, exclude=NOTIFY_UNSIGNED_KEYS).encode()
        signature = key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        fields["sign"] = base64.b64encode(signature).decode()
        bodies.append(urlencode(fields).encode())
    return bodies


def signed_bodies(alipay_key: Any, app_id: str, lo: int, hi: int, processes: int = 2) -> list[bytes]:
    """One signed TRADE_SUCCESS notification for each of payments lo..hi-1 (bench/fill.py's ids)."""
    pem = alipay_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    step = max(1, -(-(hi - lo) // processes))
    chunks = [(pem, app_id, a, min(hi, a + step)) for a in range(lo, hi, step)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return [body for part in pool.map(_sign_range, chunks) for body in part]


def _client(host: str, port: int, bodies: list[bytes], cycle: bool, in_flight: int, warmup: float,
            duration: float, ready: Any, start: Any, go: Any, out: Connection) -> None:
    lock = threading.Lock()
    latencies = array("d")
    errors: Counter[str] = Counter()
    counts = {"ok": 0, "next": 0, "exhausted": 0}
    conns = [http.client.HTTPConnection(host, port, timeout=30) for _ in range(in_flight)]
    for c in conns:
        c.connect()
        # http.client sends headers and body in two writes: without this, Nagle's algorithm meets the
        # server's delayed ACK and every request waits ~40 ms.
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.put(1)
    go.wait()
    measure_from = start.value + warmup
    measure_to = measure_from + duration

    def take() -> bytes | None:
        with lock:
            i = counts["next"]
            if i >= len(bodies):
                if not cycle:
                    counts["exhausted"] = 1
                    return None
                i %= len(bodies)
            counts["next"] += 1
            return bodies[i]

    def worker(conn: http.client.HTTPConnection) -> None:
        while time.monotonic() < measure_to and (body := take()) is not None:
            began = time.monotonic()
            try:
                conn.request("POST", PATH, body, {"Content-Type": CONTENT_TYPE})
                response = conn.getresponse()
                answer = response.read()
                outcome = "ok" if response.status == 200 and answer == ACK else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = type(exc).__name__
                conn.close()
            ended = time.monotonic()
            if measure_from <= ended < measure_to:
                with lock:
                    if outcome == "ok":
                        counts["ok"] += 1
                        latencies.append(ended - began)
                    else:
                        errors[outcome] += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    out.send((counts["ok"], dict(errors), latencies.tobytes(), bool(counts["exhausted"])))
    out.close()


def run_http_load(address: str, bodies: list[bytes], settings: LoadSettings, server_pid: int, *,
                  cycle: bool) -> tuple[LoadResult, bool]:
    """Like bench.load.run_load, over HTTP; also says whether the generator ran out of bodies."""
    host, port = address.rsplit(":", 1)
    ctx = multiprocessing.get_context("spawn")
    ready: Any = ctx.Queue()
    start: Any = ctx.Value("d", 0.0)
    go = ctx.Event()
    shares = settings.shares()
    pipes = [ctx.Pipe(duplex=False) for _ in shares]
    slices, at = [], 0
    for share in shares:  # bodies split in proportion to each client's in-flight share
        size = len(bodies) * share // settings.concurrency
        slices.append(bodies[at:at + size])
        at += size
    clients = [ctx.Process(target=_client, name=f"bench-http-client-{i}", daemon=True, args=(
        host, int(port), part, cycle, share, settings.warmup, settings.duration, ready, start, go, send))
        for i, (share, part, (_recv, send)) in enumerate(zip(shares, slices, pipes))]
    window = run_window(clients, pipes, ready, start, go, settings, server_pid, f"HTTP load generator for {address}")
    return summarise(window, settings), any(a[3] for a in window.answers)
