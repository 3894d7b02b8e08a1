"""The reconciliation part of `python -m bench` at a tiny size (2,000 lines), on SQLite and PostgreSQL: it fills a
day, writes its trade bill as a file, parses it, reconciles it in a child process as `cashier reconcile statement
FILE --kind trades` does, and every figure it records is there and sane, with exactly the planted differences
found. It never asserts a speed."""

from __future__ import annotations

import math
import os
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench import gateway as gw
from bench import reconcile, report
from bench.__main__ import parse_args
from bench.reconcile_bill import write_bill
from bench.settlement_fill import FEE_BPS, fill_day
from channels.alipay.rail.bills import parse_trade_bill_zip
from tests.support import PG_URL_ENV

FIGURES = ("fill_s", "bill_s", "parse_rows_s", "parse_s", "parse_cpu_s", "read_s", "stage_s", "finish_s", "reconcile_s",
           "run_cpu_s", "peak_rss_mb", "ratio_reconcile_to_parse", "lines_per_s")


def assert_sane(part: dict[str, Any], payments: int) -> None:
    """What a smoke run can assert too."""
    assert part["day"] and part["fee_bps"] == FEE_BPS
    (case,) = part["sizes"]
    for figure in FIGURES:
        assert math.isfinite(case[figure]) and case[figure] > 0, (figure, case[figure])
    planted = case["planted"]
    assert {k: len(v) for k, v in planted.items()} == {"MISSING_THEIRS": 2, "AMOUNT_DIFFERENCE": 2,
                                                        "FEE_DIFFERENCE": 1, "MISSING_OURS": 2}
    # Every payment on the bill but the two left out, plus the two trades of nobody's.
    assert case["payments"] == payments and case["lines"] == payments
    assert case["buckets"] == {"MATCHED": payments - 5, "MISSING_OURS": 2, "MISSING_THEIRS": 2,
                               "AMOUNT_DIFFERENCE": 2, "FEE_DIFFERENCE": 1, "EXPECTED": 0, "OTHER": 0}
    assert case["fees_booked"] == payments - 2  # every payment line matched to ours, the differing ones too
    assert case["unexplained_fen"] != 0 and case["bill_bytes"] > 0
    assert case["peak_rss_mb"] < 300


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.timeout(180)
def test_reconcile_part_finds_exactly_the_planted_differences(database: str, tmp_path: Path) -> None:
    url = os.environ.get(PG_URL_ENV)
    if database == "postgres" and not url:
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV}")
    part = reconcile.measure(database, url, [2000], tmp_path)
    assert_sane(part, 2000)
    text = "\n".join(report.reconcile_text(part))
    assert "reconcile/parse" in text and "2,000" in text and report.RECONCILE_TARGETS in text


def test_the_streamed_bill_is_what_the_bill_parser_reads(tmp_path: Path) -> None:
    day = date(2026, 11, 26)
    with gw.fresh_database("sqlite", tmp_path, None) as url:
        fill_day(url, day, 300, 3, 0)
        written = write_bill(url, day, tmp_path / "bill.zip", FEE_BPS)
    with zipfile.ZipFile(written.path) as archive:  # deflated, as Alipay's are
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    bill = parse_trade_bill_zip(written.path.read_bytes())
    assert len(bill.rows) == written.lines == 300 and written.payments == 300
    assert {r.business_type for r in bill.rows} == {"交易"}
    assert any(note.startswith("交易合计：300笔") for note in bill.notes)
    ids = {r.out_trade_no for r in bill.rows}
    assert not ids & set(written.planted.missing_theirs) and set(written.planted.missing_ours) <= ids
    assert all(r.finished_at is not None and r.finished_at.date() == day for r in bill.rows)
    assert all(r.service_fee_fen < 0 < r.order_amount_fen for r in bill.rows)


def test_the_reconcile_options() -> None:
    assert parse_args(["--smoke", "--reconcile"]).reconcile_sizes == reconcile.SMOKE_SIZES
    args = parse_args(["--all"])
    assert args.reconcile and args.reconcile_sizes == list(reconcile.DEFAULT_SIZES)
    assert parse_args(["--reconcile", "--reconcile-sizes", "5000"]).reconcile_sizes == [5000]
