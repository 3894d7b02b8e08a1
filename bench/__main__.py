"""`python -m bench`: CreatePayment and GetPayment calls/s beside a bare grpcio echo server's, measured in the
same run.

Each server runs alone (the others are stopped), all under the same load generator and settings. The
echo server runs twice: bare, and making the one RSA2 signature per call that CreatePayment must make;
RSA2 signatures/s on all cores are measured first, with no server running. Right after its CreatePayment
window the gateway is read with GetPayment, under the same load, of payments that window created.
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

from bench import chart, fill, procstat, report, rsa
from bench import gateway as gw
from bench import notify as notifications
from bench import reconcile as reconcile_bench
from bench import settlement as settlement_bench
from bench.load import LoadResult, LoadSettings, run_load
from bench.payload import MERCHANT_ID, Requests, channel_of, create_payment_request
from cashier.v1 import cashier_service_pb2 as svc
from channels.alipay.sandbox.local import start_local_alipay

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
READY_TIMEOUT = 60.0
SIGNED_LABEL = "echo + RSA2 signature"
GET_LABEL = "GetPayment"
SMOKE_SETTLEMENT = ([2000], 20)  # payments, merchants
READ_NAMES = 300  # payments the GetPayment load reads in turn: the newest, made by the CreatePayment window


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per server [10]")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before that [2]")
    p.add_argument("--concurrency", type=int, default=32, help="calls in flight in total [32]")
    p.add_argument("--clients", type=int, default=2, help="load generator processes [2]")
    p.add_argument("--connections", type=int, default=4,
                   help="HTTP/2 connections per client process, calls spread over them in turn [4]")
    p.add_argument("--workers", type=int, default=1, help="server worker processes, both servers [1]")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--database-url", default=os.environ.get("CASHIER_TEST_DATABASE_URL"),
                   help="PostgreSQL server for --database postgres [$CASHIER_TEST_DATABASE_URL]; "
                        "the bench makes and drops its own schema there")
    p.add_argument("--config", help="gateway TOML configuration (e.g. channel keys), passed through")
    p.add_argument("--channel", default="auto",
                   help=f"pin this channel; 'auto' pins '{gw.PREFERRED_CHANNEL}' when installed, "
                        "'none' lets the router choose [auto]")
    p.add_argument("--source", type=Path, metavar="DIR",
                   help="run the gateway's code from this checkout (e.g. `git worktree add /tmp/before SHA`) "
                        "instead of this one, to compare commits; the load, the echo servers and the local "
                        "Alipay stay this checkout's")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes [bench/results]")
    p.add_argument("--smoke", action="store_true", help="tiny run to prove it works: 1 s, 4 in flight, 1 client")
    parts = p.add_argument_group("further parts (each optional; the echo/CreatePayment pair always runs)")
    parts.add_argument("--sweep", type=_counts, metavar="N,N,...",
                       help="also measure echo and CreatePayment at each of these concurrencies and draw the "
                            "SVG chart of calls/s and p99 against concurrency (e.g. 1,4,16,64)")
    parts.add_argument("--scale-out", action="store_true",
                       help="also measure CreatePayment against 1 and 2 gateway workers (meant for PostgreSQL)")
    parts.add_argument("--growth", type=_counts, metavar="N,N,...",
                       help="also measure CreatePayment with this many payments stored, filled with SQL "
                            "beforehand (e.g. 10000,1000000)")
    parts.add_argument("--notify", action="store_true",
                       help="also measure signed Alipay notifications/s through POST /notify/... beside a bare "
                            "uvicorn/Starlette server")
    parts.add_argument("--notify-payments", type=int, default=12000,
                       help="PENDING payments (and signed notifications) prepared for --notify [12000]")
    parts.add_argument("--settlement", action="store_true",
                       help="also measure the settlement run of one day of paid payments (release, payouts "
                            "through the local Alipay) beside a bare INSERT … SELECT, spread out and with one "
                            "hot merchant, and its peak RSS")
    sizes, merchants = ",".join(map(str, settlement_bench.DEFAULT_SIZES)), settlement_bench.DEFAULT_MERCHANTS
    parts.add_argument("--settlement-sizes", type=_counts, metavar="N,N,...",
                       help=f"payments in the day for --settlement [{sizes}; --smoke: {SMOKE_SETTLEMENT[0][0]}]")
    parts.add_argument("--settlement-merchants", type=int, metavar="N",
                       help=f"merchants sharing the day for --settlement [{merchants}; --smoke: {SMOKE_SETTLEMENT[1]}]")
    parts.add_argument("--reconcile", action="store_true",
                       help="also measure reconciling a day's Alipay trade bill read from a file (as `cashier "
                            "reconcile statement FILE --kind trades`) beside parsing the file alone, and its peak RSS")
    parts.add_argument("--reconcile-sizes", type=_counts, metavar="N,N,...",
                       help="lines of the bill for --reconcile "
                            f"[{','.join(map(str, reconcile_bench.DEFAULT_SIZES))}; --smoke: {reconcile_bench.SMOKE_SIZES[0]}]")
    parts.add_argument("--all", action="store_true",
                       help="every part: --sweep 1,4,16,64 --scale-out --growth 10000,1000000 --notify "
                            "--settlement --reconcile")
    args = p.parse_args(argv)
    if args.all:
        args.sweep = args.sweep or [1, 4, 16, 64]
        args.growth = args.growth or [10_000, 1_000_000]
        args.scale_out = args.notify = args.settlement = args.reconcile = True
    defaults = SMOKE_SETTLEMENT if args.smoke else (list(settlement_bench.DEFAULT_SIZES),
                                                    settlement_bench.DEFAULT_MERCHANTS)
    if args.settlement_sizes is None:
        args.settlement_sizes = defaults[0]
    if args.settlement_merchants is None:
        args.settlement_merchants = defaults[1]
    if args.reconcile_sizes is None:
        args.reconcile_sizes = reconcile_bench.SMOKE_SIZES if args.smoke else list(reconcile_bench.DEFAULT_SIZES)
    if args.smoke:
        args.duration, args.warmup, args.concurrency, args.clients = 1.0, 0.5, 4, 1
        args.notify_payments = min(args.notify_payments, 400)
    if args.clients < 1 or args.concurrency < args.clients:
        p.error("need --clients >= 1 and --concurrency >= --clients")
    if args.notify_payments < args.concurrency:
        p.error("need --notify-payments >= --concurrency")
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1:
        p.error("need --duration > 0, --warmup >= 0, --workers >= 1")
    if args.settlement and (problem := settlement_bench.check_sizes(args.settlement_sizes, args.settlement_merchants)):
        p.error(problem)
    return args


def _counts(text: str) -> list[int]:
    try:
        values = sorted({int(v.replace("_", "")) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("give numbers >= 1, e.g. 1,4,16")
    return values


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
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/cashier.v1.CashierService/CreatePayment")
        try:
            response: bytes = call(create_payment_request("probe-" + uuid.uuid4().hex[:12]),
                                   metadata=metadata, timeout=30, wait_for_ready=True)
            return response
        except grpc.RpcError as err:
            raise RuntimeError(f"CreatePayment probe failed: {err.code()}: {err.details()}") from None


def payment_names(target: str, metadata: tuple[tuple[str, str], ...], limit: int) -> tuple[str, ...]:
    """The names of the merchant's newest payments (at most `limit`), through ListPayments."""
    names: list[str] = []
    token = ""
    with grpc.insecure_channel(target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/cashier.v1.CashierService/ListPayments")
        while len(names) < limit:
            request = svc.ListPaymentsRequest(parent=f"merchants/{MERCHANT_ID}", page_size=100, page_token=token)
            try:
                page = svc.ListPaymentsResponse.FromString(
                    call(request.SerializeToString(), metadata=metadata, timeout=30))
            except grpc.RpcError as err:
                raise RuntimeError(f"ListPayments failed: {err.code()}: {err.details()}") from None
            names += [p.name for p in page.payments]
            token = page.next_page_token
            if not token:
                break
    if not names:
        raise RuntimeError("no payments to read with GetPayment: the CreatePayment window created none")
    return tuple(names[:limit])


def measure(command: list[str], env: dict[str, str] | None, log: Path, workers: int,
            metadata: tuple[tuple[str, str], ...], load: LoadSettings, tag: str) -> tuple[LoadResult, bytes]:
    results, first, _rss = measure_many(command, env, log, workers, metadata, [load], tag)
    return results[0], first


def measure_many(command: list[str], env: dict[str, str] | None, log: Path, workers: int,
                 metadata: tuple[tuple[str, str], ...], loads: list[LoadSettings], tag: str,
                 reads: LoadSettings | None = None) -> tuple[list[LoadResult], bytes, dict[str, float]]:
    """One server, the CreatePayment loads one after the other; also the peak RSS of its worker processes
    (MiB). With `reads`, right after the first load a GetPayment load of the payments it created, whose
    result comes last in the list."""
    server = gw.start_server(command, env, log)
    try:
        wait_until_serving(server, workers)
        first = probe(server.target, metadata)
        results: list[LoadResult] = []
        read: list[LoadResult] = []
        for i, load in enumerate(loads):
            results.append(run_load(server.target, metadata, load, server.process.pid, f"{tag}{i}"))
            if i == 0 and reads is not None:
                names = payment_names(server.target, metadata, READ_NAMES)
                read.append(run_load(server.target, metadata, reads, server.process.pid, f"{tag}r",
                                     Requests(names)))
        return results + read, first, worker_rss(server.process.pid, workers)
    finally:
        server.stop()


def worker_rss(pid: int, workers: int) -> dict[str, float]:
    """Peak RSS by process: the server itself when it is the only worker; else its spawned workers (the
    supervisor and multiprocessing's resource tracker are left out)."""
    if workers == 1:
        return {"worker": round(procstat.peak_rss_mb(pid), 1)}
    rss = {}
    for child, mb in procstat.tree_peak_rss_mb(pid).items():
        if child != pid and "resource_tracker" not in procstat.cmdline(child):
            rss[f"worker pid {child}"] = round(mb, 1)
    return rss


def run(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.config import load_settings

    load = LoadSettings(args.clients, args.concurrency, args.warmup, args.duration, args.connections)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cashier-bench-") as tmp, contextlib.ExitStack() as stack, \
            gw.fresh_database(args.database, Path(tmp), args.database_url) as database_url:
        work = Path(tmp)
        env = gw.gateway_env(database_url, args.source)
        source = gw.gateway_source(env)
        # Without the user's own Alipay account, a local one (fresh keys, the sandbox) lets the mobile
        # channel sign real RSA2 order strings, which is the hot path the bench is about.
        local = None if gw.user_has_alipay(args.config) else start_local_alipay(work / "alipay-keys")
        if local is not None:
            stack.callback(local.stop)
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
        # A sweep point below --clients uses one client process per call in flight.
        sweep = [LoadSettings(min(args.clients, c), c, args.warmup, args.duration, args.connections)
             for c in args.sweep or []]
        sign_rate = rsa.signatures_per_second(min(args.duration, 5.0)).as_dict()
        echo_runs, _, _ = measure_many(gw.echo_command(threads, args.workers), None, work / "echo.log",
                                       args.workers, metadata, [load, *sweep], tag + "e")
        signed, _ = measure([*gw.echo_command(threads, args.workers), "--sign"], None, work / "echo-sign.log",
                            args.workers, metadata, load, tag + "s")
        gateway_runs, first, rss = measure_many(gw.gateway_command(config, args.workers), env,
                                                work / "gateway.log", args.workers, metadata, [load, *sweep],
                                                tag + "g", reads=load)
        reading = gateway_runs.pop()
        echo, gateway = echo_runs[0], gateway_runs[0]
        parts: dict[str, Any] = {}
        if args.sweep:
            parts["sweep"] = [{"concurrency": c, "echo": report.Run("echo", e).as_dict(),
                               "gateway": report.Run("CreatePayment", g).as_dict(), "ratio": report.ratio(e, g)}
                              for c, e, g in zip(args.sweep, echo_runs[1:], gateway_runs[1:])]
        if args.scale_out:
            parts["scale_out"] = scale_out(config, env, work, metadata, load, tag)
        if args.growth:
            # A database of its own, so that the first size is not inflated by the other parts' payments.
            with gw.fresh_database(args.database, work / "growth", args.database_url) as growth_url:
                (work / "growth").mkdir(exist_ok=True)
                growth_env = gw.gateway_env(growth_url, args.source)
                growth_md = (("authorization", f"Bearer {gw.seed(config, growth_env)}"),)
                parts["growth"] = growth(args.growth, growth_url, config, growth_env, work, growth_md, load, tag,
                                         args.workers)
        if args.notify:
            if local is None:
                raise RuntimeError("--notify signs notifications with the local Alipay's key; run it without "
                                   "an [channels.alipay] table of your own in --config")
            parts["notify"] = notify(args, local, database_url, config, env, work, load)
        if args.settlement:
            parts["settlement"] = settlement_bench.measure(args.database, args.database_url, args.settlement_sizes,
                                                           args.settlement_merchants, work / "settlement")
        if args.reconcile:
            parts["reconcile"] = reconcile_bench.measure(args.database, args.database_url, args.reconcile_sizes,
                                                         work / "reconcile")
    channel = channel_of(gateway.last_response or first) or "?"
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "grpcio": grpc.__version__,
                    "platform": platform.platform()},
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "concurrency": args.concurrency,
                     "clients": args.clients, "connections_per_client": args.connections,
                     "workers": args.workers, "threads": threads,
                     "database": args.database, "config": args.config, "payload_bytes":
                     len(create_payment_request(f"b{tag}-0-0")), "installed_channels": installed,
                     "pinned_channel": pin, "gateway_source": source},
        "channel": channel,
        "echo": report.Run("echo (bare grpcio)", echo).as_dict(),
        "gateway": report.Run(f"CreatePayment ({channel})", gateway).as_dict(),
        "ratio": report.ratio(echo, gateway),
        "get_payment": report.Run(GET_LABEL, reading).as_dict(),
        "ratio_get_payment": report.ratio(echo, reading),
        "echo_signed": report.Run(SIGNED_LABEL, signed).as_dict(),
        "ratio_signed_to_echo": report.ratio(echo, signed),
        "ratio_to_signed": report.ratio(signed, gateway),
        "rsa2": sign_rate,
        "gateway_peak_rss_mb": rss,
        **parts,
        "_results": (echo, signed, gateway, reading),
    }


def scale_out(config: Path, env: dict[str, str], work: Path, metadata: tuple[tuple[str, str], ...],
              load: LoadSettings, tag: str) -> dict[str, Any]:
    """The same CreatePayment load against 1, then 2 gateway workers on the same database."""
    out: dict[str, Any] = {}
    for workers in (1, 2):
        (result,), _, rss = measure_many(gw.gateway_command(config, workers), env,
                                         work / f"gateway-{workers}w.log", workers, metadata, [load],
                                         f"{tag}s{workers}")
        out[f"workers_{workers}"] = {**report.Run(f"CreatePayment, {workers} worker(s)", result).as_dict(),
                                     "peak_rss_mb": rss}
    one, two = out["workers_1"]["calls_per_second"], out["workers_2"]["calls_per_second"]
    out["ratio_2_to_1"] = two / one if one else 0.0
    # Calls per second of server CPU: if a second worker costs nothing per call, the throughput ratio is
    # just the CPU the workers could get, and a host with idle cores gets it.
    for key in ("workers_1", "workers_2"):
        cpu = out[key]["server_cpu_cores"]
        out[key]["calls_per_cpu_second"] = out[key]["calls_per_second"] / cpu if cpu else 0.0
    eff1, eff2 = out["workers_1"]["calls_per_cpu_second"], out["workers_2"]["calls_per_cpu_second"]
    out["cpu_efficiency_2_to_1"] = eff2 / eff1 if eff1 else 0.0
    return out


def growth(sizes: list[int], database_url: str, config: Path, env: dict[str, str], work: Path,
           metadata: tuple[tuple[str, str], ...], load: LoadSettings, tag: str, workers: int) -> list[dict[str, Any]]:
    """CreatePayment with `size` payments stored: the table is topped up with SQL before each run."""
    rows = []
    filled = 0
    for size in sizes:
        missing = size - fill.count_payments(database_url)
        if missing > 0:
            began = time.monotonic()
            fill.fill_payments(database_url, filled, filled + missing)
            filled += missing
            print(f"bench: {size:,} payments stored ({missing:,} filled in {time.monotonic() - began:.1f} s)",
                  file=sys.stderr, flush=True)
        stored = fill.count_payments(database_url)
        (result,), _, _ = measure_many(gw.gateway_command(config, workers), env, work / f"gateway-g{size}.log",
                                       workers, metadata, [load], f"{tag}n{size}")
        rows.append({"stored": stored, **report.Run(f"CreatePayment, {stored:,} stored", result).as_dict()})
    for row in rows:
        row["p99_vs_first"] = row["p99_ms"] / rows[0]["p99_ms"] if rows[0]["p99_ms"] else None
    return rows


NOTIFY_FIRST = 900_000_000  # payment numbers of the notification bench (growth fills from 0)


def notify(args: argparse.Namespace, local: Any, database_url: str, config: Path, env: dict[str, str],
           work: Path, load: LoadSettings) -> dict[str, Any]:
    first, count = NOTIFY_FIRST, args.notify_payments
    fill.fill_payments(database_url, first, first + count, state="PENDING")
    bodies = notifications.signed_bodies(local.handle.sandbox.key, local.app_id, first, first + count)
    baseline = gw.start_server([sys.executable, "-m", "bench.http_echo"], None, work / "http-echo.log")
    try:
        wait_until_serving(baseline, 1)
        bare, _ = notifications.run_http_load(baseline.http_address, bodies, load, baseline.process.pid,
                                              cycle=True)
    finally:
        baseline.stop()
    succeeded = fill.count_payments(database_url, "SUCCEEDED")
    events = fill.count_events(database_url)
    server = gw.start_server(gw.gateway_command(config, args.workers), env, work / "gateway-notify.log")
    try:
        wait_until_serving(server, args.workers)
        applied, exhausted = notifications.run_http_load(server.http_address, bodies, load, server.process.pid,
                                                         cycle=False)
    finally:
        server.stop()
    return {
        "baseline": report.Run("bare uvicorn/Starlette", bare).as_dict(),
        "gateway": report.Run("notifications -> SUCCEEDED", applied).as_dict(),
        "ratio": report.ratio(bare, applied),
        "prepared": count,
        "exhausted": exhausted,
        # Every notification acknowledged must have moved one payment and written one event.
        "payments_succeeded": fill.count_payments(database_url, "SUCCEEDED") - succeeded,
        "events_written": fill.count_events(database_url) - events,
    }


def header(record: dict[str, Any]) -> str:
    s = record["settings"]
    return (f"Unified Cashier bench, {record['started_at']}, {record['machine']['cpus']} CPUs, "
            f"{s['database']}, {s['workers']} worker(s) x {s['threads']} threads, "
            f"{s['payload_bytes']}-byte requests\n"
            f"load: {s['clients']} client processes x {s['connections_per_client']} connections, "
            f"{s['concurrency']} calls in flight, "
            f"{s['duration_s']:g} s measured after {s['warmup_s']:g} s warm-up; "
            f"channel: {record['channel']}" + (" (pinned by the bench)" if s["pinned_channel"] else "")
            + _source_line(s.get("gateway_source")))


def _source_line(source: dict[str, Any] | None) -> str:
    if not source:
        return ""
    commit = (source["commit"] or "no git commit")[:10] + (" + uncommitted changes" if source["dirty"] else "")
    return f"\ngateway code: {source['path']} at {commit}"


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C does, so every `finally` stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = parse_args(argv)
    try:
        record = run(args)
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    echo, signed, gateway, reading = record.pop("_results")
    print(report.table(header(record), report.Run(record["echo"]["label"], echo),
                       report.Run(record["gateway"]["label"], gateway), report.Run(SIGNED_LABEL, signed),
                       record["rsa2"], report.Run(GET_LABEL, reading)))
    print(report.parts_text(record))
    stamp = record["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    path = report.write_json(args.output, stamp, record)
    print(f"\nwritten: {path} (and latest.json)")
    if "sweep" in record:
        points = record["sweep"]
        svg = chart.sweep_svg(
            f"{header(record).splitlines()[0]}",
            [p["concurrency"] for p in points],
            [("echo (bare grpcio)", [p["echo"]["calls_per_second"] for p in points],
              [p["echo"]["p99_ms"] or float("nan") for p in points]),
             (record["gateway"]["label"], [p["gateway"]["calls_per_second"] for p in points],
              [p["gateway"]["p99_ms"] or float("nan") for p in points])])
        print(f"chart: {report.write_text(args.output, 'bench.svg', stamp, svg)} (and latest.svg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
