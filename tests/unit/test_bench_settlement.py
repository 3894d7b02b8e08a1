"""The settlement part of `python -m bench` on PostgreSQL at a tiny size (the bench smoke test runs it on SQLite
through the command line): it fills a scratch schema, pays every merchant through the local Alipay in
certificate mode, and every figure it records is there and sane. It never asserts a speed."""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from bench import gateway as gw
from bench import settlement
from bench.__main__ import parse_args
from bench.settlement_fill import fill_day
from gateway.storage.tables import ledger_entries
from tests.settlement.storage_support import stored_entries
from tests.support import PG_URL_ENV

FIGURES = ("fill_s", "ledger_fill_s", "baseline_s", "release_s", "payouts_s", "refresh_s", "run_s", "run_cpu_s",
           "peak_rss_mb", "ratio_release_to_baseline", "ratio_run_to_baseline", "payments_per_s_release",
           "payments_per_s_run")


def assert_sane(part: dict[str, Any], payments: int, merchants: int) -> None:
    """What the smoke test asserts too (tests/e2e/test_bench_smoke.py imports it)."""
    assert part["merchants"] == merchants and part["day"]
    (size,) = part["sizes"]
    assert size["payments"] == payments
    for key in ("spread", "hot"):
        case = size[key]
        for figure in FIGURES:
            assert math.isfinite(case[figure]) and case[figure] > 0, (key, figure, case[figure])
        # Every merchant paid exactly what was released to it; the baseline wrote the release's rows.
        assert case["payouts_paid"] == merchants == case["released_entries"]
        assert case["paid_fen"] == case["released_fen"] > 0
        assert case["baseline_rows"] == 2 * merchants
        assert case["postings"] == 4 * payments  # a payment and a fee entry each, two postings per entry
    assert size["hot"]["hot_payments"] == payments // 10 and size["spread"]["hot_payments"] == 0
    for ratio in ("hot_to_spread_release", "hot_to_spread_run"):
        assert math.isfinite(size[ratio]) and size[ratio] > 0


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_settlement_part_on_postgresql(tmp_path: Path) -> None:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV}")
    assert_sane(settlement.measure("postgres", url, [2000], 20, tmp_path), 2000, 20)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_sql_fill_books_what_the_backfill_books(database: str, tmp_path: Path) -> None:
    url = os.environ.get(PG_URL_ENV)
    if database == "postgres" and not url:
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV}")
    day = date(2026, 11, 26)
    books, ids = [], {}
    for way in ("sql", "backfill"):
        (tmp_path / way).mkdir()
        with gw.fresh_database(database, tmp_path / way, url) as db:
            filled = fill_day(db, day, 600, 10, 60, backfill=way == "backfill")
            engine = create_engine(db)
            try:
                books.append(stored_entries(engine))
                with engine.connect() as conn:
                    ids[way] = dict(conn.execute(select(ledger_entries.c.reference, func.max(ledger_entries.c.entry_id)
                                                   - func.min(ledger_entries.c.entry_id))
                                            .group_by(ledger_entries.c.reference)).all())
            finally:
                engine.dispose()
            assert filled.postings == 4 * 600
    sql, backfilled = books
    assert len(sql) == 1200 and sql == backfilled  # same entries, postings (in line order), merchants and day
    assert {day} == {d for _, d in sql.values()}
    assert set(ids["sql"].values()) == {1}  # each fee right after its payment, as one append gives them


@pytest.mark.parametrize(("argv", "field"), [
    (["--settlement", "--settlement-sizes", "100", "--settlement-merchants", "20"], "--settlement-sizes"),
    (["--settlement", "--settlement-merchants", "1"], "--settlement-merchants"),
])
def test_sizes_too_small_for_the_merchants_are_refused_naming_the_option(
        argv: list[str], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert field in capsys.readouterr().err


def test_smoke_and_all_choose_the_settlement_sizes() -> None:
    smoke = parse_args(["--smoke", "--settlement"])
    assert (smoke.settlement_sizes, smoke.settlement_merchants) == ([2000], 20)
    full = parse_args(["--all"])
    assert full.settlement and (full.settlement_sizes, full.settlement_merchants) == ([100_000, 1_000_000], 1000)
