"""`python -m bench`: CreatePayment calls/s beside a bare grpcio echo server's, measured in the same run.

Each server runs alone (the other is stopped), both under the same load generator and settings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench import gateway as gw
from bench import procstat, report
from bench.load import LoadResult, LoadSettings, run_load
from bench.payload import channel_of, create_payment_request
from channels.alipay.sandbox.local import start_local_alipay

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
READY_TIMEOUT = 60.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per server [10]")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before that [2]")
    p.add_argument("--concurrency", type=int, default=32, help="calls in flight in total [32]")
    p.add_argument("--clients", type=int, default=2, help="load generator processes [2]")
    p.add_argument("--workers", type=int, default=1, help="server worker processes, both servers [1]")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--database-url", default=os.environ.get("CASHIER_TEST_DATABASE_URL"),
                   help="PostgreSQL server for --database postgres [$CASHIER_TEST_DATABASE_URL]; "
                        "the bench makes and drops its own schema there")
    p.add_argument("--config", help="gateway TOML configuration (e.g. channel keys), passed through")
    p.add_argument("--channel", default="auto",
                   help=f"pin this channel; 'auto' pins '{gw.PREFERRED_CHANNEL}' when installed, "
                        "'none' lets the router choose [auto]")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes [bench/results]")
    p.add_argument("--smoke", action="store_true", help="tiny run to prove it works: 1 s, 4 in flight, 1 client")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.concurrency, args.clients = 1.0, 0.5, 4, 1
    if args.clients < 1 or args.concurrency < args.clients:
        p.error("need --clients >= 1 and --concurrency >= --clients")
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1:
        p.error("need --duration > 0, --warmup >= 0, --workers >= 1")
    return args


def wait_until_serving(server: gw.Server, workers: int) -> None:
    """Every worker listening (so the clients' connections spread over all of them), then a call answers."""
    port = int(server.target.rsplit(":", 1)[1])
    deadline = time.monotonic() + READY_TIMEOUT
    while procstat.listening_sockets(port) < workers:
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"only {procstat.listening_sockets(port)} of {workers} workers are listening")
        time.sleep(0.1)


def probe(target: str, metadata: tuple[tuple[str, str], ...]) -> bytes:
    """One CreatePayment before the load: fails fast with the gateway's own explanation."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/cashier.v1.CashierService/CreatePayment")
        try:
            response: bytes = call(create_payment_request("probe-" + uuid.uuid4().hex[:12]),
                                   metadata=metadata, timeout=30, wait_for_ready=True)
            return response
        except grpc.RpcError as err:
            raise RuntimeError(f"CreatePayment probe failed: {err.code()}: {err.details()}") from None


def measure(command: list[str], env: dict[str, str] | None, log: Path, workers: int,
            metadata: tuple[tuple[str, str], ...], load: LoadSettings, tag: str) -> tuple[LoadResult, bytes]:
    server = gw.start_server(command, env, log)
    try:
        wait_until_serving(server, workers)
        first = probe(server.target, metadata)
        return run_load(server.target, metadata, load, server.process.pid, tag), first
    finally:
        server.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.config import load_settings

    load = LoadSettings(args.clients, args.concurrency, args.warmup, args.duration)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cashier-bench-") as tmp, contextlib.ExitStack() as stack, \
            gw.fresh_database(args.database, Path(tmp), args.database_url) as database_url:
        work = Path(tmp)
        env = gw.gateway_env(database_url)
        # Without the user's own Alipay account, a local one (fresh keys, the sandbox) lets the mobile
        # channel sign real RSA2 order strings, which is the hot path the bench is about.
        local = None if gw.user_has_alipay(args.config) else start_local_alipay(work / "alipay-keys")
        stack.callback(lambda: local and local.stop())
        alipay_table = local.channel_table if local else None
        config = gw.write_config(work / "bench.toml", args.config, None, alipay_table)
        installed = gw.installed_channels(config, env)
        pin = {"auto": gw.PREFERRED_CHANNEL if gw.PREFERRED_CHANNEL in installed else None,
               "none": None}.get(args.channel, args.channel)
        if pin:
            gw.write_config(config, args.config, pin, alipay_table)
        threads = load_settings(config, env={}).server.threads
        key = gw.seed(config, env)
        metadata = (("authorization", f"Bearer {key}"),)
        tag = uuid.uuid4().hex[:6]
        echo, _ = measure(gw.echo_command(threads, args.workers), None, work / "echo.log", args.workers,
                          metadata, load, tag)
        gateway, first = measure(gw.gateway_command(config, args.workers), env, work / "gateway.log",
                                 args.workers, metadata, load, tag)
    channel = channel_of(gateway.last_response or first) or "?"
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "grpcio": grpc.__version__,
                    "platform": platform.platform()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": args.concurrency,
                     "clients": args.clients, "workers": args.workers, "threads": threads,
                     "database": args.database, "config": args.config, "payload_bytes":
                     len(create_payment_request(f"b{tag}-0-0")), "installed_channels": installed,
                     "pinned_channel": pin},
        "channel": channel,
        "echo": report.Run("echo (bare grpcio)", echo).as_dict(),
        "gateway": report.Run(f"CreatePayment ({channel})", gateway).as_dict(),
        "ratio": report.ratio(echo, gateway),
        "_results": (echo, gateway),
    }


def header(record: dict[str, Any]) -> str:
    s = record["settings"]
    return (f"Unified Cashier bench, {record['started_at']}, {record['machine']['cpus']} CPUs, "
            f"{s['database']}, {s['workers']} worker(s) x {s['threads']} threads, "
            f"{s['payload_bytes']}-byte requests\n"
            f"load: {s['clients']} client processes, {s['concurrency']} calls in flight, "
            f"{s['duration_s']:g} s measured after {s['warmup_s']:g} s warm-up; "
            f"channel: {record['channel']}" + (" (pinned by the bench)" if s["pinned_channel"] else ""))


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C does, so every `finally` stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = parse_args(argv)
    try:
        record = run(args)
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    echo, gateway = record.pop("_results")
    print(report.table(header(record), report.Run(record["echo"]["label"], echo),
                       report.Run(record["gateway"]["label"], gateway)))
    stamp = record["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    path = report.write_json(args.output, stamp, record)
    print(f"\nwritten: {path} (and latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
