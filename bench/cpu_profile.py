"""`python -m bench.cpu_profile`: where one call's CPU goes, function by function, in one or two commits.

Throughput on a shared two-core machine cannot tell a 5 % change (single commits spread ±20 % between runs).
What a change costs in the gateway's own code can be seen another way: make the same sequence of calls
against each commit's gateway under a CPU-clock profiler (yappi: every thread, CPU time rather than wall
time), then compare the time spent in each of the gateway's own functions. The library frames both commits
share (grpc, SQLAlchemy, the standard library) run the same code, so a difference there is the machine: the
comparison scales the second commit by the ratio of those frames' totals before comparing ours.

Each commit runs in a child process of its own, with that commit's code, its entry points and its test
channel plugin first on the path (the same arrangement as ``python -m bench --source``): a real in-process
gateway from that commit's ``tests/support.py`` on a fresh database, called over real gRPC by one client.

    python -m bench.cpu_profile --call create --database postgres /tmp/wt-before /tmp/wt-after
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import gateway as gw

# Run as `python -c` in the profiled commit's directory, so every import resolves to that commit's code (a
# script inside bench/ would put bench/ first on the path, where bench/gateway.py hides the gateway package).
_CHILD = r'''
import contextlib, json, os, sys, tempfile, time
import grpc, yappi
from tests.support import CashierClient, make_settings, running_gateway, seed_tenant
from cashier.v1 import cashier_service_pb2 as svc
call, calls, database = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if database == "postgres":
    from gateway.storage.scratch import scratch_schema
    place = scratch_schema(os.environ["CASHIER_TEST_DATABASE_URL"])
else:
    place = contextlib.nullcontext(f"sqlite:///{tempfile.mkdtemp()}/cashier.db")
with place as url, running_gateway(make_settings(url, logging={"level": "ERROR"})) as running:
    client = CashierClient(grpc.insecure_channel(running.grpc_target), seed_tenant(running.gateway))
    read = svc.GetPaymentRequest(name=client.create().name)
    metadata = client.metadata()
    once = (lambda: client.stub.GetPayment(read, metadata=metadata)) if call == "get" else client.create
    for _ in range(max(50, calls // 10)):
        once()
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        once()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    yappi.stop()
    functions = {}
    for s in yappi.get_func_stats():
        module = s.module or "?"
        shared = "site-packages" in module or module.startswith((sys.base_prefix, "<"))
        key = ("=" if shared else "") + "/".join(module.split("/")[-3:]) + ":" + s.name
        total, own, count = functions.get(key, (0.0, 0.0, 0))
        functions[key] = (total + s.ttot, own + s.tsub, count + s.ncall)
print(json.dumps({"cpu": cpu / calls, "wall": wall / calls, "calls": calls,
                  "functions": {k: [t / calls, o / calls, n / calls] for k, (t, o, n) in functions.items()}}))
'''

#: The child marks frames of code both commits share (installed packages, the standard library) with this
#: prefix: differences there are the machine, not the change.
_SHARED = "="
#: A commit's own directory in a frame's module path (two worktrees name the same module differently).
_CHECKOUT = re.compile(r"^[^/:]*/(?=(gateway|channels|settlement|tests|cashier_test_channels)/)")


@dataclass(frozen=True)
class Profile:
    source: Path
    cpu: float  # seconds of the process's CPU per call, profiler on
    wall: float
    functions: dict[str, tuple[float, float, float]]  # frame → (total, own, calls), per call

    def shared(self) -> float:
        return sum(own for key, (_, own, _) in self.functions.items() if key.startswith(_SHARED))

    def ours(self) -> dict[str, tuple[float, float]]:
        """Own time and calls per call of the gateway's (and the test channel's) functions."""
        return {_CHECKOUT.sub("", key): (own, count) for key, (_, own, count) in self.functions.items()
                if not key.startswith(_SHARED)}


def _plugins_for(source: Path, into: Path) -> Path:
    """The commit's own test channel plugin, installed apart (an older commit's plugin speaks its contract)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(into),
                    str(source / "tests" / "plugins" / "cashier_test_channels")], check=True)
    return into


def profile(source: Path, call: str, calls: int, database: str) -> Profile:
    source = source.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        path = [str(gw._source_metadata(source)), str(source), str(_plugins_for(source, Path(tmp) / "plugins"))]
        env["PYTHONPATH"] = os.pathsep.join(path)
        env.pop("CASHIER_CONFIG", None)
        done = subprocess.run([sys.executable, "-c", _CHILD, call, str(calls), database], cwd=source, env=env,
                              capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"profiling {source} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Profile(source, result["cpu"], result["wall"],
                   {k: (v[0], v[1], v[2]) for k, v in result["functions"].items()})


def compare(before: Profile, after: Profile, rows: int = 25) -> list[str]:
    """The gateway's own functions whose CPU per call changed most, `after` scaled to `before`'s machine."""
    scale = before.shared() / after.shared() if after.shared() else 1.0
    a, b = before.ours(), after.ours()
    ours_before = sum(own for own, _ in a.values())
    ours_after = sum(own for own, _ in b.values()) * scale
    lines = [f"shared library frames: {before.shared() * 1e6:,.0f} → {after.shared() * 1e6:,.0f} µs per call "
             f"(the machine; {after.source.name} scaled by {scale:.3f})",
             f"the gateway's own functions: {ours_before * 1e6:,.0f} → {ours_after * 1e6:,.0f} µs per call "
             f"({(ours_after - ours_before) * 1e6:+,.0f} µs, {ours_after / ours_before - 1:+.1%})" if ours_before else "",
             f"{'change µs':>10} {'before':>8} {'after':>8} {'calls':>11}  function"]
    changes = sorted(((b.get(k, (0, 0))[0] * scale - a.get(k, (0, 0))[0], k) for k in a.keys() | b.keys()),
                     key=lambda item: -abs(item[0]))
    for delta, key in changes[:rows]:
        (own_a, n_a), (own_b, n_b) = a.get(key, (0.0, 0.0)), b.get(key, (0.0, 0.0))
        lines.append(f"{delta * 1e6:+10.1f} {own_a * 1e6:8.1f} {own_b * scale * 1e6:8.1f} {n_a:5.1f}/{n_b:<5.1f}  {key}")
    return [line for line in lines if line]


def top(profile_: Profile, rows: int = 25) -> list[str]:
    ours = sorted(profile_.ours().items(), key=lambda item: -item[1][0])
    return [f"{own * 1e6:8.1f} µs {count:5.1f}/call  {key}" for key, (own, count) in ours[:rows]]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cpu_profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="+", type=Path, help="one checkout, or two to compare (before, after)")
    p.add_argument("--call", choices=("create", "get"), default="create", help="CreatePayment or GetPayment")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite",
                   help="postgres uses a scratch schema at $CASHIER_TEST_DATABASE_URL")
    p.add_argument("-n", "--calls", type=int, default=1500, help="profiled calls per commit [1500]")
    p.add_argument("--rows", type=int, default=25)
    args = p.parse_args(argv)
    if len(args.sources) > 2:
        p.error("give one checkout, or two to compare")
    profiles = [profile(source, args.call, args.calls, args.database) for source in args.sources]
    for prof in profiles:
        print(f"{prof.source}: {prof.cpu * 1e6:,.0f} µs of process CPU and {prof.wall * 1e6:,.0f} µs of wall time "
              f"per call (profiler on)")
    lines = compare(profiles[0], profiles[1], args.rows) if len(profiles) == 2 else top(profiles[0], args.rows)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
