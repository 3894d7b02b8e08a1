"""Reconciliation over the real database (SQLite and PostgreSQL): a statement with planted differences (a trade
missing on each side, an amount difference, a fee difference) finds each one and nothing else, agrees with the
domain's reference classification, books Alipay's fees and the unexplained fen against suspense, and a second
run books nothing twice; a difference fixed since leaves the report and suspense."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text

from channels.contract.statements import LineKind, StatementKind, StatementLine, StatementNotReady
from gateway.cli import CashierGroup, Context
from gateway.storage.tables import (
    flags,
    ledger_entries,
    payout_parts,
    payouts,
    reconciliation_lines,
    reconciliation_results,
)
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import accounts
from settlement.domain import reconciliation as rec
from settlement.domain.reconciliation import Bucket, Movement, Options
from settlement.service import ledger
from settlement.service.reconcile import reconcile, reconcile_job
from tests.settlement.storage_support import add_payment, add_refund, plan, statements

DAY = date(2026, 10, 8)
MORNING = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)  # 09:00 China time
LAST_SECOND = datetime(2026, 10, 8, 15, 59, 59, tzinfo=UTC)  # 23:59:59 China time
OPTIONS = Options(fee_bps=60)


class FakeAlipay:
    """A double for Alipay's statements: the lines of each (day, kind) it has."""

    name = "alipay"

    def __init__(self, statements: dict[tuple[date, StatementKind], list[StatementLine]]):
        self.statements = statements

    def lines(self, day: date, kind: StatementKind) -> Iterator[StatementLine]:
        if (day, kind) not in self.statements:
            raise StatementNotReady(f"no {kind.value} bill for {day.isoformat()} yet")
        yield from self.statements[(day, kind)]

    def read_file(self, data: bytes, kind: StatementKind) -> Iterator[StatementLine]:
        raise NotImplementedError


def line(kind: LineKind, reference: str, amount: int, fee: int = 0, at: datetime = MORNING) -> StatementLine:
    return StatementLine(kind, reference, f"2026100822{reference}", amount, fee, at + timedelta(seconds=3))


def trades() -> list[StatementLine]:
    return [
        line(LineKind.PAYMENT, "pay_a", 1_000, 6),
        line(LineKind.REFUND, "ref_a", -300),
        line(LineKind.PAYMENT, "pay_c", 3_001, 18),  # ours is 3,000
        line(LineKind.PAYMENT, "pay_d", 5_000, 40),  # 60 bps of 5,000 is 30
        line(LineKind.PAYMENT, "pay_x", 700, 4),  # not ours
    ]  # pay_b (ours) is missing; pay_e (23:59:59) is billed the next day


@pytest.fixture
def booked(engine: Engine, uow: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    with engine.begin() as conn:
        for payment_id, amount in (("pay_a", 1_000), ("pay_b", 2_000), ("pay_c", 3_000), ("pay_d", 5_000)):
            add_payment(conn, "shop", payment_id, amount, paid_at=MORNING)
        add_payment(conn, "shop", "pay_e", 800, paid_at=LAST_SECOND)
        add_refund(conn, "shop", "pay_a", "ref_a", 300, at=MORNING + timedelta(hours=1))
    ledger.backfill(uow)
    return uow


def buckets(report: rec.Report) -> dict[Bucket, list[str]]:
    return {b: sorted(d.reference for d in report.differences if d.bucket is b) for b in rec.DIFFERENCES
            if report.total(b).count}


def test_planted_differences_are_each_found_and_nothing_else(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    source = FakeAlipay({(DAY, StatementKind.TRADES): trades()})
    report = reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    assert buckets(report) == {Bucket.MISSING_THEIRS: ["pay_b"], Bucket.MISSING_OURS: ["pay_x"],
                               Bucket.AMOUNT_DIFFERENCE: ["pay_c"], Bucket.FEE_DIFFERENCE: ["pay_d"]}
    assert report.total(Bucket.MATCHED).count == 2 and report.total(Bucket.EXPECTED).count == 1
    assert report.lines == 5 and report.statement_total == 1_000 - 300 + 3_001 + 5_000 + 700
    assert sum(t.theirs for t in report.totals.values()) == report.statement_total
    assert not report.clean
    # The SQL agrees with the domain's reference classification of the same lines and movements.
    ours = [Movement(rec.PAYMENT, p, "shop", a, MORNING) for p, a in
            (("pay_a", 1_000), ("pay_b", 2_000), ("pay_c", 3_000), ("pay_d", 5_000))]
    ours += [Movement(rec.PAYMENT, "pay_e", "shop", 800, LAST_SECOND),
             Movement(rec.REFUND, "ref_a", "shop", -300, MORNING + timedelta(hours=1))]
    lines = [rec.Line(rec.value(x.kind), x.reference, x.channel_reference, x.amount, x.fee, x.occurred_at)
             for x in trades()]
    expected = rec.report_of(rec.classify(lines, ours, OPTIONS.rules(DAY, rec.TRADES)), OPTIONS.rules(DAY, rec.TRADES),
                             "alipay")
    assert report.totals == expected.totals
    assert report.unexplained == expected.unexplained == 2_000 + (3_000 - 3_001) + (0 - 700)
    with booked() as tx:
        raw = tx.ledger.balances()
        assert tx.ledger.total() == 0
    # Suspense holds exactly the unexplained fen; Alipay's fees of the matched trades are booked from the bill.
    assert accounts.SUSPENSE.balance(raw[accounts.SUSPENSE]) == report.unexplained
    assert accounts.ALIPAY_SERVICE_FEES.balance(raw[accounts.ALIPAY_SERVICE_FEES]) == 6 + 18 + 40
    with engine.connect() as conn:
        raised = sorted(conn.execute(select(flags.c.kind, flags.c.payment_id)).all())
        staged = [conn.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in (reconciliation_lines, reconciliation_results)]
    assert raised == [("RECONCILIATION_AMOUNT_DIFFERENCE", "pay_c"), ("RECONCILIATION_FEE_DIFFERENCE", "pay_d"),
                      ("RECONCILIATION_MISSING_OURS", "pay_x"), ("RECONCILIATION_MISSING_THEIRS", "pay_b")]
    assert staged == [0, 0]  # the run's staging rows are gone


def test_booking_the_bills_fees_reads_no_postings(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    """The entries a reconciliation books (Alipay's fees, suspense) get their postings by the new entries' ids,
    never by looking for postings first: on PostgreSQL such a look, planned on statistics from when the ledger
    was small, read every posting per entry, and booking the fees of a 1,000,000-line bill did not end."""
    with statements(engine) as seen:
        reconcile(booked, FakeAlipay({(DAY, StatementKind.TRADES): trades()}), DAY, StatementKind.TRADES, OPTIONS)
    writes = [s for s in seen if "INSERT INTO ledger_postings" in s[0] and "SELECT" in s[0]]
    assert writes  # the fees and the suspense of the planted differences
    for statement, parameters in writes:
        lines = plan(engine, statement, parameters)
        read = [line for line in lines if "ledger_postings" in line and not line.startswith(("Insert on", "Conflict"))]
        assert not read, (statement, read)
        # Each new entry is found through an index, never by scanning the entries or the staged results (per
        # row: SQLite names a full scan SCAN, a look through a key SEARCH; a materialized subquery is read
        # once).
        if engine.dialect.name == "sqlite":
            assert not [line for line in lines if line.startswith(("SCAN ledger_", "SCAN reconciliation_"))], \
                (statement, lines)
            # The staged results are read once, as the outer loop of each branch: under a loop over a
            # million new entries, even a SEARCH by run_id reads the whole run each time.
            accesses = [line for line in lines if line.startswith(("SCAN", "SEARCH"))]
            if any("reconciliation_results" in line for line in accesses):
                assert "reconciliation_results" in accesses[0], (statement, lines)


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_has_statistics_of_the_staged_rows_before_joining_them(booked: SqlUnitOfWorkFactory,
                                                                          engine: Engine) -> None:
    """Staging tables are filled and emptied by each run: without statistics PostgreSQL took a million staged
    results for one row and nested a scan of every new fee entry under each (the 1,000,000-line bench did not
    end). A run analyzes what it staged before it joins it."""
    reconcile(booked, FakeAlipay({(DAY, StatementKind.TRADES): trades()}), DAY, StatementKind.TRADES, OPTIONS)
    with engine.connect() as conn:
        analyzed = dict(conn.execute(text(
            "SELECT relname, reltuples FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relname IN ('reconciliation_lines', 'reconciliation_ours', 'reconciliation_results')")).all())
    # reltuples is -1 for a table never analyzed; the run analyzed each with its rows in.
    assert {name: count > 0 for name, count in analyzed.items()} == {
        "reconciliation_lines": True, "reconciliation_ours": True, "reconciliation_results": True}


def entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def test_a_second_run_gives_the_same_report_and_books_nothing(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    source = FakeAlipay({(DAY, StatementKind.TRADES): trades()})
    first = reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    count = entries(engine)
    again = reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    assert entries(engine) == count
    assert (again.totals, again.unexplained, again.differences) == (first.totals, first.unexplained, first.differences)
    assert again.fees_booked == again.suspense_entries == 0
    with booked() as tx:
        assert tx.ledger.total() == 0
        assert tx.reconciliations.report(DAY, "TRADES", "alipay") == again


def test_a_difference_fixed_since_leaves_the_report_and_suspense(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    source = FakeAlipay({(DAY, StatementKind.TRADES): trades()})
    reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    with engine.begin() as conn:  # the payment we had missed is found and booked
        add_payment(conn, "shop", "pay_x", 700, paid_at=MORNING)
    ledger.backfill(booked)
    report = reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    assert Bucket.MISSING_OURS not in buckets(report)
    assert report.unexplained == 2_000 - 1
    with booked() as tx:
        raw = tx.ledger.balances()
    assert accounts.SUSPENSE.balance(raw[accounts.SUSPENSE]) == 2_000 - 1


def test_the_next_day_bills_the_last_second_and_a_missing_neighbour_is_reported(
        booked: SqlUnitOfWorkFactory) -> None:
    next_day = DAY + timedelta(days=1)
    source = FakeAlipay({(DAY, StatementKind.TRADES): trades(), (next_day, StatementKind.TRADES): [
        line(LineKind.PAYMENT, "pay_e", 800, 5, at=LAST_SECOND)]})  # 00:00:02 China time on the next day
    reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    report = reconcile(booked, source, next_day, StatementKind.TRADES, OPTIONS)
    assert report.clean and report.total(Bucket.EXPECTED).count == 1
    # Billed on neither day: reported by the next day's run as missing.
    empty = FakeAlipay({(DAY, StatementKind.TRADES): trades(), (next_day, StatementKind.TRADES): [
        line(LineKind.PAYMENT, "pay_z", 1, 0, at=LAST_SECOND + timedelta(hours=2))]})
    report = reconcile(booked, empty, next_day, StatementKind.TRADES, OPTIONS)
    assert buckets(report) == {Bucket.MISSING_THEIRS: ["pay_e"], Bucket.MISSING_OURS: ["pay_z"]}


def test_a_fee_booked_by_another_day_s_run_is_booked_once_with_its_two_postings(
        booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    """A trade on both days' bills (the last second of the day, billed twice): the second run finds its fee
    booked by the first and adds neither an entry nor postings (on PostgreSQL the postings are written from
    what the entries' INSERT really added)."""
    next_day = DAY + timedelta(days=1)
    twice = line(LineKind.PAYMENT, "pay_e", 800, 5, at=LAST_SECOND)
    source = FakeAlipay({(next_day, StatementKind.TRADES): [twice], (DAY, StatementKind.TRADES): [*trades(), twice]})
    assert reconcile(booked, source, next_day, StatementKind.TRADES, OPTIONS).fees_booked == 1
    assert reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS).fees_booked == 3  # pay_a, pay_c and pay_d
    with engine.connect() as conn:
        fees = conn.execute(text(
            "SELECT e.reference, COUNT(p.line), SUM(ABS(p.amount)) FROM ledger_entries e LEFT JOIN ledger_postings p "
            "ON p.merchant_id = e.merchant_id AND p.entry_id = e.entry_id WHERE e.kind = 'alipay_service_fee' "
            "GROUP BY e.reference ORDER BY e.reference")).all()
    assert [tuple(row) for row in fees] == [("pay_a", 2, 12), ("pay_c", 2, 36), ("pay_d", 2, 80), ("pay_e", 2, 10)]
    with booked() as tx:
        assert tx.ledger.total() == 0


def test_a_statement_not_ready_writes_nothing(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    count = entries(engine)
    with pytest.raises(StatementNotReady):
        reconcile(booked, FakeAlipay({}), DAY, StatementKind.TRADES, OPTIONS)
    assert entries(engine) == count
    with booked() as tx:
        assert tx.reconciliations.report(DAY, "TRADES", "alipay") is None


def test_an_unreadable_line_abandons_the_run_naming_it(booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    bad = StatementLine(LineKind.PAYMENT, "p" * 65, "", 1, 0, MORNING)
    with pytest.raises(ValueError, match="statement line 2: reference"):
        reconcile(booked, FakeAlipay({(DAY, StatementKind.TRADES): [trades()[0], bad]}), DAY,
                  StatementKind.TRADES, OPTIONS)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reconciliation_lines)).scalar_one() == 0


def test_the_job_waits_for_fetch_after_then_reconciles_yesterday_until_both_are_in(
        booked: SqlUnitOfWorkFactory, engine: Engine) -> None:
    clock = [datetime(2026, 10, 9, 1, 0, tzinfo=UTC)]  # 09:00 China time: before fetch_after (09:30)
    source = FakeAlipay({(DAY, StatementKind.TRADES): trades()})
    job = reconcile_job(booked, [source], OPTIONS, now=lambda: clock[0])
    assert job.run_once() == {}
    clock[0] = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)  # 10:00: the trade bill is in, the account bill not yet
    assert job.run_once() == {"reconciled": 1, "not_ready": 1, "differences": 4, "failed": 0, "done_before": 0}
    clock[0] = datetime(2026, 10, 9, 4, 30, tzinfo=UTC)  # 12:30: still missing, an operator is told once
    job.run_once()
    source.statements[(DAY, StatementKind.ACCOUNT)] = []
    clock[0] = datetime(2026, 10, 9, 5, 0, tzinfo=UTC)
    assert job.run_once()["reconciled"] == 1
    assert job.run_once() == {"reconciled": 0, "not_ready": 0, "differences": 0, "failed": 0, "done_before": 2}
    with engine.connect() as conn:
        waiting = conn.execute(select(flags.c.payment_id).where(flags.c.kind == "STATEMENT_NOT_READY")).scalars().all()
    assert waiting == ["stmt_2026-10-08_ACC"]


def test_on_the_account_bill_refunds_and_returned_fees_match_per_payment(booked: SqlUnitOfWorkFactory,
                                                                        engine: Engine) -> None:
    # pay_a is refunded twice; Alipay gives back part of its fee with each refund (the trade bill's negative
    # fee), and its account bill names each refund only by the trade, its fee given back as a FEE line of pay_a.
    with engine.begin() as conn:
        add_refund(conn, "shop", "pay_a", "ref_a2", 100, at=MORNING + timedelta(hours=2))
    ledger.backfill(booked)
    later = MORNING + timedelta(hours=1)
    paid = {"pay_a": (1_000, 6), "pay_b": (2_000, 12), "pay_c": (3_000, 18), "pay_d": (5_000, 30)}
    refunded = {"ref_a": (-300, -2, later), "ref_a2": (-100, -1, later + timedelta(hours=1))}
    trade_bill = [line(LineKind.PAYMENT, p, a, f) for p, (a, f) in paid.items()]
    trade_bill += [line(LineKind.REFUND, r, a, f, at=t) for r, (a, f, t) in refunded.items()]
    account_bill = []
    for p, (amount, fee) in paid.items():
        account_bill += [line(LineKind.PAYMENT, p, amount), line(LineKind.FEE, p, -fee)]
    for n, (amount, fee, t) in enumerate(refunded.values()):
        account_bill += [StatementLine(LineKind.REFUND, "", f"f{n}", amount, 0, t, payment_reference="pay_a"),
                         StatementLine(LineKind.FEE, "pay_a", f"g{n}", -fee, 0, t)]
    account_bill.append(StatementLine(LineKind.REFUND, "", "f9", -50, 0, later, payment_reference="pay_x"))
    source = FakeAlipay({(DAY, StatementKind.TRADES): trade_bill, (DAY, StatementKind.ACCOUNT): account_bill})

    report = reconcile(booked, source, DAY, StatementKind.TRADES, OPTIONS)
    assert report.clean and report.fees_booked == 4 + 2  # four fees charged, two given back
    account = reconcile(booked, source, DAY, StatementKind.ACCOUNT, OPTIONS)
    assert buckets(account) == {Bucket.MISSING_OURS: ["pay_x"]}  # a refund of a trade not ours, by its trade
    assert account.total(Bucket.MATCHED).count == 4 + 4 + 1  # payments, fees net per payment, pay_a's refunds
    assert account.lines == 4 + 4 + 1 + 1 and account.statement_total == sum(x.amount for x in account_bill)
    assert account.unexplained == 0  # a refund is the trade bill's to hold in suspense
    with booked() as tx:
        raw = tx.ledger.balances()
        assert tx.ledger.total() == 0
    assert accounts.ALIPAY_SERVICE_FEES.balance(raw[accounts.ALIPAY_SERVICE_FEES]) == 6 + 12 + 18 + 30 - 3
    assert accounts.SUSPENSE.balance(raw.get(accounts.SUSPENSE, 0)) == 0
    # The SQL agrees with the domain's reference classification, ours as the account bill shows them.
    ours = [Movement(rec.PAYMENT, p, "shop", a, MORNING) for p, (a, _) in paid.items()]
    ours += [Movement(rec.PAYMENT, "pay_e", "shop", 800, LAST_SECOND),
             Movement(rec.REFUND, "pay_a", "shop", -400, later), Movement(rec.FEE, "pay_a", "shop", -3, MORNING)]
    ours += [Movement(rec.FEE, p, "shop", -f, MORNING) for p, (_, f) in paid.items() if p != "pay_a"]
    rules = OPTIONS.rules(DAY, rec.ACCOUNT)
    lines = [rec.Line(rec.value(x.kind), rec.line_reference(rec.ACCOUNT, rec.value(x.kind), x.reference,
                                                             x.payment_reference),
                      x.channel_reference, x.amount, x.fee, x.occurred_at) for x in account_bill]
    expected = rec.report_of(rec.classify(lines, ours, rules), rules, "alipay")
    assert (account.totals, account.unexplained) == (expected.totals, expected.unexplained)
    # Again: the same report, nothing booked twice.
    count = entries(engine)
    again = reconcile(booked, source, DAY, StatementKind.ACCOUNT, OPTIONS)
    assert (again.totals, again.unexplained, entries(engine)) == (account.totals, account.unexplained, count)


def test_two_refunds_either_side_of_midnight_billed_on_one_day_match_on_the_account_bill(
        booked: SqlUnitOfWorkFactory) -> None:
    """The account bill names a refund by its trade only, so a payment's refund lines are summed into one; our
    refunds are summed per payment and part of the window. pay_b is refunded at 23:59 and again at 00:06;
    Alipay bills both on the next day: that day's sum is both parts of ours, not its own part alone (which
    was reported AMOUNT_DIFFERENCE, a false flag)."""
    next_day = DAY + timedelta(days=1)
    with booked.engine.begin() as conn:
        add_refund(conn, "shop", "pay_b", "ref_b1", 100, at=LAST_SECOND - timedelta(seconds=59))
        add_refund(conn, "shop", "pay_b", "ref_b2", 200, at=LAST_SECOND + timedelta(minutes=6))
    ledger.backfill(booked)
    billed = [StatementLine(LineKind.REFUND, "", "f1", -100, 0, LAST_SECOND + timedelta(seconds=30),
                            payment_reference="pay_b"),
              StatementLine(LineKind.REFUND, "", "f2", -200, 0, LAST_SECOND + timedelta(minutes=6, seconds=3),
                            payment_reference="pay_b")]
    source = FakeAlipay({(next_day, StatementKind.ACCOUNT): billed, (DAY, StatementKind.ACCOUNT): []})
    report = reconcile(booked, source, next_day, StatementKind.ACCOUNT, OPTIONS)
    assert buckets(report) == {}
    assert report.total(Bucket.EXPECTED) == rec.Total(1, -300, -300)  # crossed the boundary, as billed
    # The day before, run after: its own refund, unbilled near its end, is found billed the next day.
    before = reconcile(booked, source, DAY, StatementKind.ACCOUNT, OPTIONS)
    assert [d.bucket for d in before.differences if (d.kind, d.reference) == (rec.REFUND, "pay_b")] == []
    assert before.total(Bucket.EXPECTED) == rec.Total(1, 0, -100)
    # Billed on its own day instead, each day's sum is its own part.
    on_time = FakeAlipay({(next_day, StatementKind.ACCOUNT): billed[1:], (DAY, StatementKind.ACCOUNT): [
        StatementLine(LineKind.REFUND, "", "f1", -100, 0, LAST_SECOND - timedelta(seconds=57),
                      payment_reference="pay_b")]})
    assert reconcile(booked, on_time, next_day, StatementKind.ACCOUNT, OPTIONS).total(Bucket.MATCHED) == rec.Total(
        1, -200, -200)


# --- a day on which nothing moved: Alipay never makes its bill ---------------------------------------------

NOON_AFTER = datetime(2026, 10, 9, 4, 30, tzinfo=UTC)  # 12:30 China time the next day: past flag_after (12:00)


def not_ready_flags(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(flags.c.payment_id).where(flags.c.kind == "STATEMENT_NOT_READY")).scalars())


def test_a_quiet_day_is_recorded_clean_after_flag_after_and_not_asked_again(uow: SqlUnitOfWorkFactory,
                                                                          engine: Engine) -> None:
    with engine.begin() as conn:  # another day's payment, outside the day's window, is not the day's movement
        add_payment(conn, "shop", "pay_old", 1_000, paid_at=MORNING - timedelta(days=3))
    ledger.backfill(uow)
    clock = [datetime(2026, 10, 9, 2, 0, tzinfo=UTC)]  # 10:00: Alipay's bill may still come
    job = reconcile_job(uow, [FakeAlipay({})], OPTIONS, now=lambda: clock[0])
    assert job.run_once()["not_ready"] == 1
    with uow() as tx:
        assert tx.reconciliations.report(DAY, "TRADES", "alipay") is None
    clock[0] = NOON_AFTER
    assert job.run_once() == {"reconciled": 2, "not_ready": 0, "differences": 0, "failed": 0, "done_before": 0}
    assert job.run_once() == {"reconciled": 0, "not_ready": 0, "differences": 0, "failed": 0, "done_before": 2}
    with uow() as tx:
        for kind in ("TRADES", "ACCOUNT"):
            report = tx.reconciliations.report(DAY, kind, "alipay")
            assert report is not None and report.clean
            assert (report.lines, report.statement_total, report.unexplained) == (0, 0, 0)
    assert not_ready_flags(engine) == []


def test_a_day_with_a_movement_is_still_flagged_when_its_bill_is_missing(booked: SqlUnitOfWorkFactory,
                                                                        engine: Engine) -> None:
    job = reconcile_job(booked, [FakeAlipay({})], OPTIONS, now=lambda: NOON_AFTER)
    assert job.run_once() == {"reconciled": 0, "not_ready": 1, "differences": 0, "failed": 0, "done_before": 0}
    assert not_ready_flags(engine) == ["stmt_2026-10-08_TRA"]
    with booked() as tx:
        assert tx.reconciliations.report(DAY, "TRADES", "alipay") is None


def test_only_a_transfer_of_the_day_keeps_the_account_bill_waiting(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:  # a payout paid that day: on the account bill, not on the trade bill
        conn.execute(payouts.insert().values(
            payout_id="po_1", merchant_id="shop", run_date=DAY, amount=500, state="PAID", failures=0,
            payee_logon_id="shop@example.com", payee_name="Shop", created_at=MORNING, updated_at=MORNING))
        conn.execute(payout_parts.insert().values(
            payout_id="po_1", part=1, out_biz_no="po_1-1", amount=500, state="PAID", rail_reference="2026100811",
            failure_reason="", updated_at=MORNING))
    job = reconcile_job(uow, [FakeAlipay({})], OPTIONS, now=lambda: NOON_AFTER)
    assert job.run_once()["reconciled"] == 1
    assert not_ready_flags(engine) == ["stmt_2026-10-08_ACC"]


@pytest.fixture
def reconcile_cli(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """`cashier reconcile` as the entry point loads it, its statement source the double of Alipay."""
    from settlement import cli

    @contextmanager
    def sources(settings: object) -> Iterator[list[FakeAlipay]]:
        yield [FakeAlipay({})]

    monkeypatch.setattr(cli, "_statement_sources", sources)

    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(None)

    group = CashierGroup("cashier", callback=root)
    group.add_command(cli.reconcile, "reconcile")
    return group


def test_the_cli_says_a_quiet_day_has_nothing_to_reconcile(reconcile_cli: click.Group, database_url: str,
                                                          engine: Engine, uow: SqlUnitOfWorkFactory) -> None:
    result = CliRunner().invoke(reconcile_cli, ["reconcile", "statement", "--date", DAY.isoformat()],
                                env={"CASHIER_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert result.output.count("nothing moved that day and alipay has no bill for it") == 2
    with uow() as tx:
        assert tx.reconciliations.report(DAY, "ACCOUNT", "alipay") is not None
    with engine.begin() as conn:
        add_payment(conn, "shop", "pay_a", 1_000, paid_at=MORNING + timedelta(days=1))
    ledger.backfill(uow)
    busy = CliRunner().invoke(reconcile_cli, ["reconcile", "statement", "--date", (DAY + timedelta(days=1)).isoformat()],
                              env={"CASHIER_DATABASE_URL": database_url})
    assert busy.exit_code == 3
    assert "is not ready" in busy.output
