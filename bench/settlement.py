"""`python -m bench --settlement`: the settlement run for one day of N paid payments across M merchants, beside
a bare INSERT … SELECT in the same database, spread out and with one hot merchant; its peak RSS.

Per size and distribution, a fresh database (a SQLite file, or a scratch PostgreSQL schema dropped after) is
filled (bench/settlement_fill.py), then in that database:
1. the baseline: one INSERT … SELECT that reads the day's pending postings, sums them per merchant and writes
   two postings per merchant (pending and available), the rows the release writes, into a scratch table of
   ledger_postings' shape (its columns, key and index), in a transaction of its own on the gateway's engine
   settings; timed with its commit;
2. the run (bench/settlement_run.py, a child process, the same call as `cashier settle run --date`), paying
   every merchant through the Alipay payout rail into a local Alipay sandbox in certificate mode (real HTTP,
   real RSA2 both ways). Its peak RSS is the child's own VmHWM, its time split in release, payouts
   and the balance cache's refresh.
The run is checked before it counts: every merchant paid, one release per merchant, and exactly what was
released paid out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Index, MetaData, Table, case, cast, func, insert, literal, select, true

from bench import gateway as gw
from bench import procstat, tomlfile
from bench.settlement_fill import day_to_settle, fill_day, payee
from gateway.storage.engine import make_engine
from gateway.storage.tables import ledger_entries, ledger_postings
from settlement.domain.accounts import AccountKind

DEFAULT_SIZES = (100_000, 1_000_000)
DEFAULT_MERCHANTS = 1000
MAX_MERCHANTS = 99_999  # merchant ids have five digits (bench/settlement_fill.py)
HOT_SHARE = 0.10
RUN_TIMEOUT = 3600.0  # seconds a run may take before the bench gives up on it
BASELINE_TABLE = "bench_release_baseline"
CONCURRENCY_ENV = "CASHIER_BENCH_PAYOUT_CONCURRENCY"  # [settlement] payout_concurrency of the measured run


def check_sizes(sizes: list[int], merchants: int) -> str | None:
    """Why these sizes cannot be measured with this many merchants, or None."""
    if not 2 <= merchants <= MAX_MERCHANTS:
        return f"--settlement-merchants must be from 2 (one hot merchant and the others) to {MAX_MERCHANTS:,}"
    if sizes[0] < 10 * merchants:
        return (f"--settlement-sizes must be at least 10 x --settlement-merchants ({10 * merchants}), so that "
                "every merchant has payments beside the hot one")
    return None


def measure(database: str, postgres_url: str | None, sizes: list[int], merchants: int, work: Path,
            payout_concurrency: int | None = None) -> dict[str, Any]:
    """Every size, spread out then with one hot merchant; the result's `sizes` has one row per size. Always
    this checkout's code (not --source's): the fill writes this checkout's schema. The run pays
    `payout_concurrency` merchants at once (else $CASHIER_BENCH_PAYOUT_CONCURRENCY, else the configuration's
    default), written into its configuration's `[settlement]` as an operator would."""
    from channels.alipay.sandbox.local import start_local_alipay

    day = day_to_settle(datetime.now(UTC))
    work.mkdir(parents=True, exist_ok=True)
    accounts = dict(payee(k) for k in range(merchants))
    alipay = start_local_alipay(work / "alipay-keys", certificate_mode=True, accounts=accounts)
    try:
        config = work / "settle.toml"
        table: dict[str, Any] = {"logging": {"level": "WARNING"}, "channels": {"alipay": alipay.channel_table}}
        concurrency = payout_concurrency or int(os.environ.get(CONCURRENCY_ENV, "0"))
        if concurrency:
            table["settlement"] = {"payout_concurrency": concurrency}
        config.write_text(tomlfile.dumps(table), encoding="utf-8")
        rows = []
        for size in sizes:
            spread = case_run(database, postgres_url, work / f"s{size}", config, day, size, merchants, 0)
            hot = case_run(database, postgres_url, work / f"h{size}", config, day, size, merchants,
                           int(size * HOT_SHARE))
            rows.append({"payments": size, "merchants": merchants, "spread": spread, "hot": hot,
                         "hot_to_spread_release": ratio(spread["release_s"], hot["release_s"]),
                         "hot_to_spread_run": ratio(spread["run_s"], hot["run_s"])})
    finally:
        alipay.stop()
    return {"day": day.isoformat(), "merchants": merchants, "hot_share": HOT_SHARE, "sizes": rows}


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0  # 0: not measured, as report.ratio


def case_run(database: str, postgres_url: str | None, work: Path, config: Path, day: date, size: int,
             merchants: int, hot: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    label = f"{size:,} payments, {'hot merchant ' + format(hot, ',') if hot else 'spread'}"
    with gw.fresh_database(database, work, postgres_url) as url:
        print(f"bench: settlement, {label}: filling", file=sys.stderr, flush=True)
        filled = fill_day(url, day, size, merchants, hot)
        baseline_s, baseline_rows = baseline(url, day)
        print(f"bench: settlement, {label}: filled in {filled.fill_s:.1f} s + ledger {filled.ledger_fill_s:.1f} s; "
              "running", file=sys.stderr, flush=True)
        ran, rss_mb, cpu_s = run_child(url, config, day, work / "run.log")
    _check(ran, merchants, baseline_rows)
    return {
        "label": label, "payments": size, "merchants": merchants, "hot_payments": hot,
        "fill_s": filled.fill_s, "ledger_fill_s": filled.ledger_fill_s, "postings": filled.postings,
        "baseline_s": baseline_s, "baseline_rows": baseline_rows,
        **{k: ran[k] for k in ("release_s", "payouts_s", "refresh_s", "run_s", "released_entries",
                               "released_fen", "paid_fen", "payouts_paid", "states", "payout_concurrency")},
        "run_cpu_s": cpu_s, "peak_rss_mb": rss_mb,
        "ratio_release_to_baseline": ratio(ran["release_s"], baseline_s),
        "ratio_run_to_baseline": ratio(ran["run_s"], baseline_s),
        "payments_per_s_release": ratio(size, ran["release_s"]),
        "payments_per_s_run": ratio(size, ran["run_s"]),
    }


def _check(ran: dict[str, Any], merchants: int, baseline_rows: int) -> None:
    problems = []
    if ran["release_skipped"]:
        problems.append(f"the release was skipped: {ran['release_skipped']}")
    if ran["released_entries"] != merchants or baseline_rows != 2 * merchants:
        problems.append(f"{ran['released_entries']} releases and {baseline_rows} baseline rows for {merchants} "
                        "merchants")
    if ran["payouts_paid"] != merchants:
        problems.append(f"{ran['payouts_paid']} of {merchants} merchants paid ({ran['states']})")
    if ran["paid_fen"] != ran["released_fen"]:
        problems.append(f"released {ran['released_fen']} fen but paid {ran['paid_fen']}")
    if problems:
        raise RuntimeError("settlement run: " + "; ".join(problems))


def baseline(database_url: str, day: date) -> tuple[float, int]:
    """The bare INSERT … SELECT (module docstring); returns (seconds with the commit, rows written)."""
    engine = make_engine(database_url, pool_size=1)
    scratch = _scratch_table()
    try:
        scratch.create(engine)
        q, e = ledger_postings, ledger_entries
        pending = AccountKind.MERCHANT_PENDING.value
        per_merchant = (select(q.c.merchant_id, cast(func.sum(q.c.amount), BigInteger).label("raw"))
                        .select_from(q.join(e, e.c.entry_id == q.c.entry_id))
                        .where(q.c.account == literal("merchant:") + q.c.merchant_id + literal(f":{pending}"),
                               e.c.settlement_day == day)
                        .group_by(q.c.merchant_id).subquery())
        lines = select(literal(0).label("line")).union_all(select(literal(1))).subquery()
        account = case((lines.c.line == 0, literal(f":{pending}")),
                       else_=literal(f":{AccountKind.MERCHANT_AVAILABLE.value}"))
        rows = (select(per_merchant.c.merchant_id, literal(0, BigInteger), lines.c.line,
                       literal("merchant:") + per_merchant.c.merchant_id + account,
                       case((lines.c.line == 0, -per_merchant.c.raw), else_=per_merchant.c.raw))
                .select_from(per_merchant.join(lines, true())))
        stmt = insert(scratch).from_select(["merchant_id", "entry_id", "line", "account", "amount"], rows)
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(stmt)
        seconds = time.perf_counter() - began
        with engine.connect() as conn:
            written = int(conn.execute(select(func.count()).select_from(scratch)).scalar_one())
        scratch.drop(engine)
        return seconds, written
    finally:
        engine.dispose()


def _scratch_table() -> Table:
    columns = [column._copy() for column in ledger_postings.columns]
    return Table(BASELINE_TABLE, MetaData(), *columns,
                 Index(f"ix_{BASELINE_TABLE}_account", "merchant_id", "account", "entry_id"))


def run_child(database_url: str, config: Path, day: date, log: Path) -> tuple[dict[str, Any], float, float]:
    """The run in a child process: (its JSON line, its peak RSS in MiB, its CPU seconds)."""
    command = [sys.executable, "-m", "bench.settlement_run", "--config", str(config), "--date", day.isoformat()]
    return run_measured(command, gw.gateway_env(database_url), log, "the settlement run")


def run_measured(command: list[str], env: dict[str, str], log: Path, what: str) -> tuple[dict[str, Any], float, float]:
    """A bench child that prints one JSON line with its `peak_rss_mb`: (that line, its peak RSS in MiB, its CPU
    seconds). `what` names it in errors."""
    with open(log, "wb") as err, _child(command, env, err) as proc:
        status, usage = _wait(proc, RUN_TIMEOUT, what)
        assert proc.stdout is not None
        out = proc.stdout.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError(f"{what} exited with {status}:\n{log.read_text(errors='replace')[-3000:]}")
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{what} printed no result: {out[-500:]!r}") from None
    # The child's own VmHWM (its image after exec), not wait4's ru_maxrss: Linux keeps in that the high-water
    # mark of the memory the child was forked from, so a child of a big process (an xdist worker late in a
    # test run: 437 MiB) reported its parent's size.
    return result, round(result.pop("peak_rss_mb"), 1), round(usage.ru_utime + usage.ru_stime, 3)


@contextmanager
def _child(command: list[str], env: dict[str, str], err: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, env=env, cwd=gw.ROOT, stdout=subprocess.PIPE, stderr=err)
    try:
        yield proc
    finally:
        if proc.returncode is None:  # interrupted (SIGTERM, timeout): stop it and reap it
            procstat.stop_tree(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def _wait(proc: subprocess.Popen[bytes], timeout: float, what: str) -> tuple[int, Any]:
    """Reap the child with wait4, which gives this child's own resource usage (getrusage(RUSAGE_CHILDREN)
    would mix in every child the bench reaped before). The run prints one line, far below a pipe's buffer."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} took more than {timeout:.0f} s")
        time.sleep(0.05)
