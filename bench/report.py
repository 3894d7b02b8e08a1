"""The one table and the JSON record of a run."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult

CLIENT_BOUND = 0.9  # a generator process using this much of a core is at its own limit
MACHINE_BOUND = 0.9  # all cores this busy: server and generator compete for CPU
NOISE = 0.25  # cores used by processes that are neither, worth a warning


def verdict(result: LoadResult) -> str:
    """Whether the load generator (or the machine) rather than the server limited this run."""
    cpus = os.cpu_count() or 1
    other = max(0.0, result.machine_busy * cpus - result.server_cpu_cores - result.client_cpu_cores)
    notes: list[str] = []
    if result.client_cpu_max_process >= CLIENT_BOUND:
        notes.append(f"CLIENT-BOUND: a generator process used {result.client_cpu_max_process:.0%} of a core "
                     "(raise --clients)")
    if result.machine_busy >= MACHINE_BOUND:
        notes.append(f"CPU-BOUND MACHINE: {result.machine_busy:.0%} of {cpus} cores busy; the generator took "
                     f"{result.client_cpu_share:.0%} of the CPU it shared with the server, so the server "
                     "alone would do more")
    if other >= NOISE:
        notes.append(f"NOISY: other processes used {other:.2f} cores during the window "
                     "(a PostgreSQL server counts here; so does anything else running)")
    if not notes:
        notes.append(f"generator not the limit: busiest client process at {result.client_cpu_max_process:.0%} "
                     f"of a core, machine {result.machine_busy:.0%} busy")
    return "; ".join(notes)


@dataclass(frozen=True)
class Run:
    label: str
    result: LoadResult

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self.result)
        data.pop("last_response")
        data["client_cpu_share"] = self.result.client_cpu_share
        data["verdict"] = verdict(self.result)
        return {"label": self.label, **{k: _finite(v) for k, v in data.items()}}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def ratio(echo: LoadResult, gateway: LoadResult) -> float:
    return gateway.calls_per_second / echo.calls_per_second if echo.calls_per_second else 0.0


def table(header: str, echo: Run, gateway: Run) -> str:
    rows = [("", "calls/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU", "client CPU")]
    for run in (echo, gateway):
        r = run.result
        rows.append((run.label, f"{r.calls_per_second:.0f}", f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}",
                     f"{r.p99_ms:.2f}", str(sum(r.errors.values())), f"{r.server_cpu_cores:.2f} cores",
                     f"{r.client_cpu_cores:.2f} cores"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [header, ""]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    x = ratio(echo.result, gateway.result)
    lines += ["", f"ratio CreatePayment/echo: {x:.3f}"
              + (f" (echo answers {1 / x:.1f}x as many calls)" if x else ""), ""]
    for run in (echo, gateway):
        if run.result.errors:
            lines.append(f"{run.label} errors: {dict(sorted(run.result.errors.items()))}")
        lines.append(f"{run.label}: {verdict(run.result)}")
    return "\n".join(lines)


def write_json(directory: Path, stamp: str, record: dict[str, Any]) -> Path:
    """bench-<stamp>.json plus latest.json (a copy, not a link, so it survives being copied around)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    path = directory / f"bench-{stamp}.json"
    path.write_text(text, encoding="utf-8")
    (directory / "latest.json").write_text(text, encoding="utf-8")
    return path
