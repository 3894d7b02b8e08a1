"""`python -m spikes.aio.measure`: the aio spike beside `cashier serve`, in one run, alternating.

The bench's own pieces (bench/gateway.py, bench/load.py, bench/__main__.py's measure): one fresh SQLite
database seeded through the CLI, the local Alipay sandbox so that the `mobile` channel (pinned) signs a real
RSA2 order string, the same client processes and settings against both servers. Rounds: current, spike
variant(s), [echo], then again, so that whatever else runs on this shared machine hits every server. Each
server runs alone (started, probed, loaded, stopped). Prints calls/s per run, with the server's and the
generator's CPU and the machine's busy share of the window, then the medians and spike ÷ current.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import gateway as gw
from bench import procstat
from bench.__main__ import probe, wait_until_serving
from bench.load import LoadResult, LoadSettings, run_load
from bench.payload import channel_of
from channels.alipay.sandbox.local import start_local_alipay

CURRENT = "current"
ECHO = "echo"
AIO_ECHO = "aio echo"
DEFAULT_VARIANT = "aio=--sign inline --store batch"
# -P: not this directory first on sys.path, so that the gateway's code comes from PYTHONPATH (--source) as it
# does for `cashier serve`; this checkout (for `spikes`) is on PYTHONPATH after it (bench/gateway.py).
PYTHON = (sys.executable, "-P", "-m")
BAR = 1.3  # issue 20: go on only if the spike's median is at least this times the current server's


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m spikes.aio.measure", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds [3]")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run [5]")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before that [2]")
    p.add_argument("--concurrency", type=int, default=32, help="calls in flight in total [32]")
    p.add_argument("--clients", type=int, default=2, help="load generator processes [2]")
    p.add_argument("--connections", type=int, default=4, help="HTTP/2 connections per client [4]")
    p.add_argument("--variant", action="append", metavar="NAME=ARGS",
                   help=f"a spike variant: its name and spikes.aio.server's arguments; repeatable "
                        f"['{DEFAULT_VARIANT}']")
    p.add_argument("--source", type=Path, metavar="DIR",
                   help="the gateway's code for both servers from this checkout (bench's --source), e.g. "
                        "`git archive HEAD | tar -x -C DIR` while others edit this tree")
    p.add_argument("--echo", action="store_true", help="also the bare grpcio echo server, once per round")
    p.add_argument("--aio-echo", action="store_true",
                   help="also the bare grpc.aio echo server (spikes/aio/echo.py), once per round")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    args = p.parse_args(argv)
    args.variant = [_variant(v) for v in (args.variant or [DEFAULT_VARIANT])]
    if args.rounds < 1 or args.clients < 1 or args.concurrency < args.clients:
        p.error("need --rounds >= 1, --clients >= 1 and --concurrency >= --clients")
    return args


def _variant(text: str) -> tuple[str, list[str]]:
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or name.strip() in (CURRENT, ECHO, AIO_ECHO):
        raise SystemExit(f"--variant {text!r}: give NAME=ARGS with a NAME other than {CURRENT!r} and {ECHO!r}")
    return name.strip(), shlex.split(rest)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    load = LoadSettings(args.clients, args.concurrency, args.warmup, args.duration, args.connections)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cashier-spike-aio-") as tmp, contextlib.ExitStack() as stack, \
            gw.fresh_database("sqlite", Path(tmp), None) as database_url:
        work = Path(tmp)
        env = gw.gateway_env(database_url, args.source)
        local = start_local_alipay(work / "alipay-keys")
        stack.callback(local.stop)
        config = gw.write_config(work / "bench.toml", None, None, local.channel_table)
        if gw.PREFERRED_CHANNEL not in gw.installed_channels(config, env):
            raise RuntimeError(f"the {gw.PREFERRED_CHANNEL!r} channel is not installed")
        gw.write_config(config, None, gw.PREFERRED_CHANNEL, local.channel_table)
        print(f"gateway code: {gw.gateway_source(env)}", flush=True)
        metadata = (("authorization", f"Bearer {gw.seed(config, env)}"),)
        servers: list[tuple[str, list[str], dict[str, str] | None]] = [
            (CURRENT, gw.gateway_command(config, 1), env),
            *((name, [*PYTHON, "spikes.aio.server", "--config", str(config), *extra], env)
              for name, extra in args.variant)]
        if args.echo:
            servers.append((ECHO, gw.echo_command(16, 1), None))
        if args.aio_echo:
            servers.append((AIO_ECHO, [*PYTHON, "spikes.aio.echo"], env))
        tag = uuid.uuid4().hex[:6]
        for round_ in range(1, args.rounds + 1):
            for index, (name, command, server_env) in enumerate(servers):
                result, first, switches = measure(command, server_env, work / f"{name}.log", metadata, load,
                                                  f"{tag}s{index}r{round_}")  # out_trade_nos unique per run
                runs.append(_record(round_, name, result, first, switches))
                print(_line(runs[-1]) + _batches(work / f"{name}.log"), flush=True)
    return runs


def measure(command: list[str], env: dict[str, str] | None, log: Path, metadata: tuple[tuple[str, str], ...],
            load: LoadSettings, tag: str) -> tuple[LoadResult, bytes, float]:
    """bench/__main__.py's measure() for one worker, also counting the server's context switches per call
    (every thread's, over warm-up and window: calls in the warm-up are estimated at the window's rate)."""
    server = gw.start_server(command, env, log)
    try:
        wait_until_serving(server, 1)
        first = probe(server.target, metadata)
        before = context_switches(server.process.pid)
        result = run_load(server.target, metadata, load, server.process.pid, tag)
        switches = context_switches(server.process.pid) - before
        calls = result.calls_per_second * (load.warmup + load.duration)
        return result, first, switches / calls if calls else 0.0
    finally:
        server.stop()


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches so far of every thread of a server and its workers."""
    total = 0
    for process in (pid, *procstat.descendants(pid)):
        for status in Path(f"/proc/{process}/task").glob("*/status"):
            with contextlib.suppress(OSError):
                total += sum(int(line.split()[1]) for line in status.read_text().splitlines()
                             if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")))
    return total


def _record(round_: int, name: str, result: LoadResult, first: bytes, switches: float) -> dict[str, Any]:
    return {"round": round_, "server": name, "calls_per_second": round(result.calls_per_second, 1),
            "p50_ms": round(result.p50_ms, 1), "p99_ms": round(result.p99_ms, 1), "errors": result.errors,
            "server_cpu_cores": round(result.server_cpu_cores, 2),
            "client_cpu_cores": round(result.client_cpu_cores, 2),
            "machine_busy": round(result.machine_busy, 2),
            # Calls per CPU-second the server got: on an oversubscribed machine the scheduler shares CPU by
            # runnable threads, so a 16-thread server gets more of it than a one-loop server; this does not move.
            "calls_per_core_second": round(result.calls_per_second / result.server_cpu_cores, 1)
            if result.server_cpu_cores else 0.0,
            "switches_per_call": round(switches, 1),
            "channel": channel_of(result.last_response or first)}


def _line(r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    return (f"round {r['round']}  {r['server']:<10} {r['calls_per_second']:8.1f} calls/s  "
            f"p50 {r['p50_ms']:6.1f}  p99 {r['p99_ms']:6.1f} ms  server {r['server_cpu_cores']:.2f} cores "
            f"({r['calls_per_core_second']:6.1f} calls/core-s)  "
            f"{r['switches_per_call']:5.1f} switches/call  clients {r['client_cpu_cores']:.2f}  machine {r['machine_busy']:.0%} busy"
            f"  channel {r['channel'] or '-'}{errors}")


def _batches(log: Path) -> str:
    """The spike's own count of payments and COMMITs (its last log line), when the server is the spike."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "payments in" in line]
    if not lines:
        return ""
    message = json.loads(lines[-1]).get("msg", "") if lines[-1].startswith("{") else lines[-1]
    return f"  [{message}]"


def summary(runs: list[dict[str, Any]]) -> str:
    names = list(dict.fromkeys(r["server"] for r in runs))

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["server"] == name)

    lines = [f"median {name:<10} {median(name, 'calls_per_second'):8.1f} calls/s  "
             f"{median(name, 'calls_per_core_second'):8.1f} calls/core-s" for name in names]
    for name in names:
        if name in (CURRENT, ECHO, AIO_ECHO) or CURRENT not in names:
            continue
        ratio = median(name, "calls_per_second") / median(CURRENT, "calls_per_second")
        per_core = median(name, "calls_per_core_second") / median(CURRENT, "calls_per_core_second")
        lines.append(f"ratio {name} / {CURRENT}: {ratio:.2f} calls/s ({'meets' if ratio >= BAR else 'misses'} "
                     f"issue 20's bar of {BAR}), {per_core:.2f} calls per core-second")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C (as in bench/__main__.py), so every `finally` stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = parse_args(argv)
    try:
        runs = run(args)
    except RuntimeError as exc:
        print(f"measure: {exc}", file=sys.stderr)
        return 1
    print(summary(runs))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
