"""The one table and the JSON record of a run."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
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


def table(header: str, echo: Run, gateway: Run, signed: Run | None = None,
          sign_rate: dict[str, float] | None = None, reads: Run | None = None) -> str:
    runs = [echo, *([signed] if signed else []), gateway, *([reads] if reads else [])]
    rows: list[tuple[str, ...]] = [
        ("", "calls/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU", "client CPU")]
    for run in runs:
        r = run.result
        rows.append((run.label, f"{r.calls_per_second:.0f}", f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}",
                     f"{r.p99_ms:.2f}", str(sum(r.errors.values())), f"{r.server_cpu_cores:.2f} cores",
                     f"{r.client_cpu_cores:.2f} cores"))
    lines = [header, "", *_rows(rows)]
    x = ratio(echo.result, gateway.result)
    lines += ["", f"ratio CreatePayment/echo: {x:.3f}"
              + (f" (echo answers {1 / x:.1f}x as many calls)" if x else "")]
    if reads:
        lines.append(f"ratio {reads.label}/echo: {ratio(echo.result, reads.result):.3f}")
    if signed:
        lines.append(f"ceiling of the signature alone: {signed.label}/echo {ratio(echo.result, signed.result):.3f}; "
                     f"CreatePayment/{signed.label} {ratio(signed.result, gateway.result):.3f}")
    if sign_rate:
        lines.append(f"RSA2 (SHA256withRSA, 2048-bit): {sign_rate['signatures_per_second']:.0f} signatures/s on "
                     f"{sign_rate['processes']:.0f} cores, {sign_rate['one_core_signatures_per_second']:.0f}/s on "
                     f"one ({sign_rate['ms_per_signature']:.2f} ms each)")
    lines.append("")
    for run in runs:
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


def _rows(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows]


def _cells(label: str, d: dict[str, Any], *extra: str) -> tuple[str, ...]:
    def ms(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    return (label, f"{d['calls_per_second']:.0f}", ms(d["p50_ms"]), ms(d["p95_ms"]), ms(d["p99_ms"]),
            str(sum(d["errors"].values())), f"{d['server_cpu_cores']:.2f}", *extra)


HEAD = ("calls/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server CPU")


def parts_text(record: dict[str, Any]) -> str:
    """The further parts of a run (--sweep, --scale-out, --growth, --notify), one small table each."""
    out: list[str] = []
    rss = record.get("gateway_peak_rss_mb")
    if rss:
        out += ["", "gateway peak RSS under the CreatePayment load: "
                + ", ".join(f"{name} {mb:.0f} MiB" for name, mb in rss.items())]
    if "sweep" in record:
        rows: list[tuple[str, ...]] = [("concurrency", "echo calls/s", "echo p99 ms", "CreatePayment calls/s",
                                        "CreatePayment p99 ms", "ratio")]
        for point in record["sweep"]:
            e, g = point["echo"], point["gateway"]
            rows.append((str(point["concurrency"]), f"{e['calls_per_second']:.0f}", f"{e['p99_ms'] or 0:.2f}",
                         f"{g['calls_per_second']:.0f}", f"{g['p99_ms'] or 0:.2f}", f"{point['ratio']:.3f}"))
        out += ["", "sweep (same servers, one load after another):", *_rows(rows)]
    if "scale_out" in record:
        s = record["scale_out"]
        rows = [("", *HEAD, "peak RSS MiB")]
        for key in ("workers_1", "workers_2"):
            rows.append(_cells(s[key]["label"], s[key], ", ".join(f"{v:.0f}" for v in s[key]["peak_rss_mb"].values())))
        w1, w2 = s["workers_1"], s["workers_2"]
        out += ["", "scale-out:", *_rows(rows), f"2 workers / 1 worker: {s['ratio_2_to_1']:.2f}x; the workers got "
                f"{w1['server_cpu_cores']:.2f} -> {w2['server_cpu_cores']:.2f} cores; calls per core-second "
                f"{w1['calls_per_cpu_second']:.0f} -> {w2['calls_per_cpu_second']:.0f} "
                f"({s['cpu_efficiency_2_to_1']:.2f}x: what a second worker costs per call, whatever cores it finds)"]
    if "growth" in record:
        rows = [("", *HEAD, "p99 / first")]
        for g in record["growth"]:
            rows.append(_cells(g["label"], g, "-" if g["p99_vs_first"] is None else f"{g['p99_vs_first']:.2f}"))
        out += ["", "growth:", *_rows(rows)]
    if "notify" in record:
        n = record["notify"]
        rows = [("", *HEAD)]
        rows += [_cells(n["baseline"]["label"], n["baseline"]), _cells(n["gateway"]["label"], n["gateway"])]
        out += ["", "notification ingestion (POST /notify/mobile/<merchant>, signed RSA2):", *_rows(rows),
                f"ratio notifications/bare: {n['ratio']:.3f}; acknowledged {n['gateway']['ok']} in the window, "
                f"{n['payments_succeeded']} payments SUCCEEDED and {n['events_written']} events written in all"
                + (f"; RAN OUT of the {n['prepared']} prepared notifications (raise --notify-payments)"
                   if n["exhausted"] else "")]
        for key in ("baseline", "gateway"):
            if n[key]["errors"]:
                out.append(f"{n[key]['label']} errors: {n[key]['errors']}")
    if "settlement" in record:
        out += ["", *settlement_text(record["settlement"])]
    if "reconcile" in record:
        out += ["", *reconcile_text(record["reconcile"])]
    return "\n".join(out)


SETTLEMENT_TARGETS = "targets: release/baseline <= 3x, hot/spread >= 0.70 (release), peak RSS <= 300 MB"


def settlement_text(part: dict[str, Any]) -> list[str]:
    """One row per size and distribution: the fill, the baseline, the run's parts, the ratios, the peak RSS."""
    rows: list[tuple[str, ...]] = [("", "fill s", "baseline s", "release s", "payouts s", "refresh s", "run s",
                                    "release/baseline", "run/baseline", "payments/s (release)", "peak RSS MiB")]
    for size in part["sizes"]:
        for key in ("spread", "hot"):
            c = size[key]
            rows.append((c["label"], f"{c['fill_s'] + c['ledger_fill_s']:.1f}", f"{c['baseline_s']:.3f}",
                         f"{c['release_s']:.3f}", f"{c['payouts_s']:.2f}", f"{c['refresh_s']:.3f}",
                         f"{c['run_s']:.2f}", f"{c['ratio_release_to_baseline']:.2f}",
                         f"{c['ratio_run_to_baseline']:.1f}", f"{c['payments_per_s_release']:.0f}",
                         f"{c['peak_rss_mb']:.0f}"))
    lines = [f"settlement run for {part['day']}, {part['merchants']:,} merchants on T+0, each paid through the "
             "local Alipay (certificate mode); baseline: one INSERT … SELECT of the release's rows:", *_rows(rows)]
    lines += [f"hot/spread throughput at {s['payments']:,}: release {s['hot_to_spread_release']:.2f}, "
              f"whole run {s['hot_to_spread_run']:.2f}" for s in part["sizes"]]
    return [*lines, SETTLEMENT_TARGETS]


RECONCILE_TARGETS = "targets: reconcile/parse <= 3x, peak RSS <= 300 MB"


def reconcile_text(part: dict[str, Any]) -> list[str]:
    """One row per size: the fill, the parse baselines, the run's parts, the ratio, lines/s, the peak RSS."""
    rows: list[tuple[str, ...]] = [("", "lines", "bill MiB", "fill s", "parse rows s", "parse s", "stage s",
                                    "finish s", "reconcile s", "reconcile/parse", "lines/s", "peak RSS MiB")]
    for c in part["sizes"]:
        rows.append((c["label"], f"{c['lines']:,}", f"{c['bill_bytes'] / 2**20:.1f}", f"{c['fill_s']:.1f}",
                     f"{c['parse_rows_s']:.3f}", f"{c['parse_s']:.3f}", f"{c['stage_s']:.3f}", f"{c['finish_s']:.3f}",
                     f"{c['reconcile_s']:.3f}", f"{c['ratio_reconcile_to_parse']:.2f}", f"{c['lines_per_s']:.0f}",
                     f"{c['peak_rss_mb']:.0f}"))
    lines = [f"reconciliation of the {part['day']} Alipay trade bill from a file (`cashier reconcile statement FILE "
             "--kind trades`); baseline: the same file read as statement lines (parse s; parse rows s: the rows "
             "alone):", *_rows(rows)]
    lines += [f"planted differences found at {c['lines']:,} lines: "
              + ", ".join(f"{bucket} {len(refs)}" for bucket, refs in c["planted"].items()) for c in part["sizes"]]
    return [*lines, RECONCILE_TARGETS]


def write_text(directory: Path, name: str, stamp: str, text: str) -> Path:
    """<name>-<stamp>.<ext> plus latest.<ext> beside the JSON (e.g. the SVG chart)."""
    stem, _, ext = name.rpartition(".")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}-{stamp}.{ext}"
    path.write_text(text, encoding="utf-8")
    (directory / f"latest.{ext}").write_text(text, encoding="utf-8")
    return path
