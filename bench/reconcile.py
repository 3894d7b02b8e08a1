"""`python -m bench --reconcile`: reconciling one day's Alipay trade bill of N lines, read from a file, beside
parsing the file alone; its peak RSS.

Per size, a fresh database (a SQLite file, or a scratch PostgreSQL schema dropped after):
1. the fill (bench/settlement_fill.py, the settlement bench's: merchants, N paid payments and their ledger
   entries), then the day's trade bill written straight to a zip file (bench/reconcile_bill.py) with a few
   planted differences;
2. the baseline: the bill's bytes read through the statement plugin's `read_file` (channels/alipay/rail/bills.py
   `iter_trade_bill_rows` mapped to StatementLine) to the end, what reconciliation reads; the bare row parse is
   timed too;
3. the run (bench/reconcile_run.py, a child process, as `cashier reconcile statement FILE --date D --kind
   trades`); its peak RSS is the child's own VmHWM.
The run counts only if its report found exactly the planted differences and matched every other line.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from bench import gateway as gw
from bench import tomlfile
from bench.reconcile_bill import write_bill
from bench.settlement import ratio, run_measured
from bench.settlement_fill import FEE_BPS, day_to_settle, fill_day
from channels.alipay.rail import AlipayClient
from channels.alipay.rail.bills import iter_trade_bill_rows
from channels.alipay_statements.source import AlipayStatementSource
from channels.contract.statements import StatementKind

DEFAULT_SIZES = (100_000, 1_000_000)
SMOKE_SIZES = [2000]
MERCHANTS = 20  # a bill does not care whose payments they are; few merchants keep the fill short
RUN_TIMEOUT = 3600.0


def measure(database: str, postgres_url: str | None, sizes: list[int], work: Path) -> dict[str, Any]:
    """Every size; the result's `sizes` has one row per size. Always this checkout's code (the fill writes this
    checkout's schema)."""
    from channels.alipay.sandbox.local import start_local_alipay

    day = day_to_settle(datetime.now(UTC))
    work.mkdir(parents=True, exist_ok=True)
    # The statement plugin registers only with a [channels.alipay] table; reading a file never calls Alipay.
    alipay = start_local_alipay(work / "alipay-keys")
    try:
        config = work / "reconcile.toml"
        config.write_text(tomlfile.dumps({
            "logging": {"level": "WARNING"}, "channels": {"alipay": alipay.channel_table},
            "settlement": {"reconcile": {"alipay_fee_bps": FEE_BPS}}}), encoding="utf-8")
        rows = [case_run(database, postgres_url, work / f"r{size}", config, day, size) for size in sizes]
    finally:
        alipay.stop()
    return {"day": day.isoformat(), "fee_bps": FEE_BPS, "sizes": rows}


def case_run(database: str, postgres_url: str | None, work: Path, config: Path, day: date, size: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    label = f"{size:,} payments"
    with gw.fresh_database(database, work, postgres_url) as url:
        print(f"bench: reconcile, {label}: filling", file=sys.stderr, flush=True)
        filled = fill_day(url, day, size, min(MERCHANTS, max(2, size // 10)), 0)
        began = time.perf_counter()
        bill = write_bill(url, day, work / f"bill-{size}.csv.zip", FEE_BPS)
        bill_s = time.perf_counter() - began
        parse_rows_s, parse_s, parse_cpu_s, parsed = baseline(bill.path)
        print(f"bench: reconcile, {label}: filled in {filled.fill_s + filled.ledger_fill_s:.1f} s, bill "
              f"{bill.bytes / 2**20:.1f} MiB in {bill_s:.1f} s; reconciling", file=sys.stderr, flush=True)
        ran, rss_mb, cpu_s = run_child(url, config, day, bill.path, work / "run.log")
    expected = bill.planted.buckets()
    _check(ran, bill.lines, parsed, size, expected)
    return {
        "label": label, "payments": size, "lines": bill.lines, "bill_bytes": bill.bytes,
        "fill_s": filled.fill_s + filled.ledger_fill_s, "bill_s": bill_s,
        "parse_rows_s": parse_rows_s, "parse_s": parse_s, "parse_cpu_s": parse_cpu_s,
        **{k: ran[k] for k in ("read_s", "stage_s", "finish_s", "reconcile_s", "buckets", "fees_booked",
                               "unexplained_fen")},
        "planted": expected, "run_cpu_s": cpu_s, "peak_rss_mb": rss_mb,
        "ratio_reconcile_to_parse": ratio(ran["reconcile_s"], parse_s),
        "lines_per_s": ratio(bill.lines, ran["reconcile_s"]),
    }


def baseline(bill: Path) -> tuple[float, float, float, int]:
    """(seconds to parse the rows, seconds to read them as StatementLines, the CPU seconds of that, lines): the
    file read as the CLI reads it, then iterated to the end, each way once. The CPU seconds are for a busy
    machine, where the wall clock of one pass says little (compare with the run's CPU seconds)."""
    data = bill.read_bytes()
    began = time.perf_counter()
    rows = sum(1 for _ in iter_trade_bill_rows(data))
    parsed = time.perf_counter()
    cpu = time.process_time()
    # read_file never touches the client (it reads bytes already downloaded).
    source = AlipayStatementSource(cast(AlipayClient, None))
    lines = sum(1 for _ in source.read_file(data, StatementKind.TRADES))
    ended = time.perf_counter()
    cpu = time.process_time() - cpu
    if rows != lines:
        raise RuntimeError(f"the bill parsed to {rows} rows but read as {lines} lines")
    return parsed - began, ended - parsed, cpu, lines


def _check(ran: dict[str, Any], lines: int, parsed: int, payments: int, planted: dict[str, list[str]]) -> None:
    problems = []
    if not (ran["lines"] == lines == parsed):
        problems.append(f"the bill has {lines} lines, parsed {parsed}, reconciled {ran['lines']}")
    found: dict[str, list[str]] = {}
    for bucket, reference in ran["differences"]:
        found.setdefault(bucket, []).append(reference)
    if {k: sorted(v) for k, v in found.items()} != {k: v for k, v in planted.items() if v}:
        problems.append(f"differences found {found}, planted {planted}")
    differing = sum(len(v) for k, v in planted.items() if k != "MISSING_OURS")
    buckets = ran["buckets"]
    if buckets["MATCHED"] != payments - differing or buckets["EXPECTED"] or buckets["OTHER"]:
        problems.append(f"buckets {buckets} for {payments} payments with {differing} differing")
    if ran["state"] != "DONE":
        problems.append(f"the run ended {ran['state']}")
    if problems:
        raise RuntimeError("reconciliation run: " + "; ".join(problems))


def run_child(database_url: str, config: Path, day: date, bill: Path, log: Path) -> tuple[dict[str, Any], float, float]:
    """The run in a child process: (its JSON line, its peak RSS in MiB, its CPU seconds)."""
    command = [sys.executable, "-m", "bench.reconcile_run", "--config", str(config), "--date", day.isoformat(),
               str(bill)]
    return run_measured(command, gw.gateway_env(database_url), log, "the reconciliation run")
