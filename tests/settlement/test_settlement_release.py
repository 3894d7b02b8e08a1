"""Releasing what is due, on SQLite and PostgreSQL: T+0 money the day after its day's cut-off, T+15 money 15
calendar days after its day (across a month boundary), the plan in effect on the money's day (a plan change
never re-dates money taken before it), a refund's negative net released the other way, a second run and two
concurrent runs release nothing twice, late money for a released day goes with the next run, in working days
a public holiday's money waits for the next working day, and every entry sums to zero."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from alembic import command
from sqlalchemy import Engine, inspect, text

from gateway.domain.merchants import SettlementPlan
from gateway.storage import migrate
from gateway.storage.tables import merchants, settlement_plans
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import accounts, ledger
from settlement.domain.calendar import Calendar, DayCount
from settlement.domain.ledger import EntryKind
from settlement.service.run import release_due
from tests.settlement.storage_support import stored_entries

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
FAST, SLOW, SWITCH = "shop-t0", "shop-t15", "shop-switch"


def add_merchant(engine: Engine, merchant_id: str, *plans: tuple[date, str]) -> None:
    with engine.begin() as conn:
        conn.execute(merchants.insert().values(
            merchant_id=merchant_id, display_name=merchant_id, state="ACTIVE", settlement_account_verified=True,
            business_category="retail", settlement_plan="T15", created_at=NOW))
        for effective_on, plan in plans:
            conn.execute(settlement_plans.insert().values(merchant_id=merchant_id, effective_on=effective_on,
                                                          plan=plan, set_at=NOW))


def pay(uow: SqlUnitOfWorkFactory, merchant_id: str, payment_id: str, amount: int, fee: int, day: date) -> None:
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(merchant_id, payment_id, amount, fee), settlement_day=day, at=NOW)
        tx.commit()


def available(uow: SqlUnitOfWorkFactory, merchant_id: str) -> tuple[int, int]:
    with uow() as tx:
        raw = tx.ledger.balances(merchant_id)
    a, p = accounts.available(merchant_id), accounts.pending(merchant_id)
    return a.balance(raw.get(a, 0)), p.balance(raw.get(p, 0))


def assert_balanced(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0")).all() == []
        assert conn.execute(text("SELECT COALESCE(SUM(amount), 0) FROM ledger_postings")).scalar_one() == 0


def released(engine: Engine) -> dict[str, int]:
    return {reference: entry.amount_on(accounts.available(entry.merchant_id)) * -1
            for (kind, reference), (entry, _) in stored_entries(engine).items() if kind is EntryKind.FUNDS_RELEASED}


def test_t0_and_t15_are_released_on_their_dates_across_a_month_boundary_and_a_plan_change(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    add_merchant(engine, FAST, (date(2026, 1, 1), "T0"))
    add_merchant(engine, SLOW)  # no plan row: T+15
    # T+15 until 20 November, T+0 from then on: the money of 19 November keeps its T+15 date.
    add_merchant(engine, SWITCH, (date(2026, 11, 20), "T0"))
    pay(uow, FAST, "p_f1", 10_000, 60, date(2026, 11, 30))
    pay(uow, FAST, "p_f2", 5_000, 30, date(2026, 12, 1))
    pay(uow, SLOW, "p_s1", 20_000, 120, date(2026, 11, 16))
    pay(uow, SLOW, "p_s2", 7_000, 42, date(2026, 11, 17))
    pay(uow, SWITCH, "p_w1", 3_000, 18, date(2026, 11, 19))
    pay(uow, SWITCH, "p_w2", 4_000, 24, date(2026, 11, 20))

    release_due(uow, date(2026, 11, 30), now=lambda: NOW)
    assert available(uow, FAST) == (9_940, 4_970)  # 30 Nov's money, not yet 1 Dec's
    assert available(uow, SLOW) == (0, 19_880 + 6_958)
    assert available(uow, SWITCH) == (3_976, 2_982)  # T+0 from 20 Nov; 19 Nov waits for 4 Dec

    release_due(uow, date(2026, 12, 1), now=lambda: NOW)  # 16 Nov + 15 = 1 Dec, across the month end
    assert available(uow, FAST) == (14_910, 0)
    assert available(uow, SLOW) == (19_880, 6_958)
    release_due(uow, date(2026, 12, 3), now=lambda: NOW)
    assert available(uow, SWITCH) == (3_976, 2_982)
    release_due(uow, date(2026, 12, 4), now=lambda: NOW)
    assert available(uow, SWITCH) == (6_958, 0)
    assert released(engine) == {
        "shop-t0:2026-11-30@2026-11-30": 9_940, "shop-t0:2026-12-01@2026-12-01": 4_970,
        "shop-t15:2026-11-16@2026-12-01": 19_880, "shop-t15:2026-11-17@2026-12-03": 6_958,
        "shop-switch:2026-11-20@2026-11-30": 3_976, "shop-switch:2026-11-19@2026-12-04": 2_982}
    assert_balanced(engine)


def test_a_second_run_and_concurrent_runs_release_once_and_late_money_goes_next_run(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    for n in range(6):
        add_merchant(engine, f"shop-{n}", (date(2026, 1, 1), "T0"))
        pay(uow, f"shop-{n}", f"p_{n}", 1_000 + n, 0, date(2026, 11, 30))
    run_date = date(2026, 11, 30)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            release_due(uow, run_date, now=lambda: NOW, batch=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    release_due(uow, run_date, now=lambda: NOW)
    assert [available(uow, f"shop-{n}") for n in range(6)] == [(1_000 + n, 0) for n in range(6)]
    assert len(released(engine)) == 6
    # A payment of 30 November booked after its day was released (a late notification): the next run.
    pay(uow, "shop-0", "p_late", 500, 3, date(2026, 11, 30))
    release_due(uow, run_date, now=lambda: NOW)
    assert available(uow, "shop-0") == (1_000, 497)  # the same run date again: its release is booked already
    release_due(uow, date(2026, 12, 1), now=lambda: NOW)
    assert available(uow, "shop-0") == (1_497, 0)
    assert released(engine)["shop-0:2026-11-30@2026-12-01"] == 497
    assert_balanced(engine)


def test_a_refund_that_outweighs_its_day_is_released_the_other_way(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    add_merchant(engine, FAST, (date(2026, 1, 1), "T0"))
    pay(uow, FAST, "p_1", 10_000, 60, date(2026, 11, 29))
    release_due(uow, date(2026, 11, 29), now=lambda: NOW)
    with uow(write=True) as tx:  # refunded the next day, in full, the fee returned pro rata
        tx.ledger.append(ledger.book_refund(FAST, "r_1", 10_000, 60, released=False),
                         settlement_day=date(2026, 11, 30), at=NOW)
        tx.commit()
    assert available(uow, FAST) == (9_940, -9_940)
    release_due(uow, date(2026, 11, 30), now=lambda: NOW)
    assert available(uow, FAST) == (0, 0)
    assert released(engine)["shop-t0:2026-11-30@2026-11-30"] == -9_940
    assert_balanced(engine)


def test_in_working_days_money_of_a_public_holiday_waits_for_the_next_working_day(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    """National Day 2026 (1 to 7 October off, Saturday 10 October worked in lieu), from chinese-calendar."""
    working = Calendar(days=DayCount.WORKING)
    add_merchant(engine, FAST, (date(2026, 1, 1), "T0"))
    add_merchant(engine, SLOW)
    pay(uow, FAST, "p_f1", 1_000, 0, date(2026, 10, 3))
    pay(uow, FAST, "p_f2", 2_000, 0, date(2026, 10, 10))
    pay(uow, SLOW, "p_s1", 3_000, 0, date(2026, 10, 2))
    release_due(uow, date(2026, 10, 7), now=lambda: NOW, calendar=working)
    assert available(uow, FAST) == (0, 3_000)  # a holiday's money counts from 8 October
    release_due(uow, date(2026, 10, 8), now=lambda: NOW, calendar=working)
    assert available(uow, FAST) == (1_000, 2_000)
    release_due(uow, date(2026, 10, 10), now=lambda: NOW, calendar=working)  # a Saturday worked in lieu
    assert available(uow, FAST) == (3_000, 0)
    release_due(uow, date(2026, 10, 27), now=lambda: NOW, calendar=working)
    assert available(uow, SLOW) == (0, 3_000)  # 15 working days after 8 October: 28 October
    release_due(uow, date(2026, 10, 28), now=lambda: NOW, calendar=working)
    assert available(uow, SLOW) == (3_000, 0)
    assert_balanced(engine)


def test_the_last_day_due_agrees_with_available_on() -> None:
    """`last_day_due` is the boundary `available_on` draws: every day up to it is due, the next is not."""
    for calendar in (Calendar(), Calendar(days=DayCount.WORKING)):
        for plan in SettlementPlan:
            run_date = date(2026, 9, 20)
            while run_date < date(2026, 11, 10):
                last = calendar.last_day_due(run_date, plan)
                assert calendar.available_on(last, plan) <= run_date
                assert calendar.available_on(last + timedelta(days=1), plan) > run_date
                run_date += timedelta(days=1)


def test_migration_0015_goes_down_and_up(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0014")
    assert not set(inspect(engine).get_table_names()) & {"payouts", "payout_parts"}
    migrate.upgrade(engine)
    assert {"payouts", "payout_parts"} <= set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_merchants_with_nothing_due_or_available_are_passed_over_batch_after_batch(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    """The release and the listing of merchants to pay go through the ledger's merchants a batch at a time:
    whole batches with nothing due, or nothing available, give way to the merchants after them."""
    slow = [f"shop-{n}" for n in range(4)]  # T+15, paid on the run date: nothing due yet
    fast = ["shop-4", "shop-40", "shop-5"]  # one id a prefix of another
    for merchant_id in slow:
        add_merchant(engine, merchant_id)
        pay(uow, merchant_id, f"p_{merchant_id}", 2_000, 0, date(2026, 11, 30))
    for n, merchant_id in enumerate(fast):
        add_merchant(engine, merchant_id, (date(2026, 1, 1), "T0"))
        pay(uow, merchant_id, f"p_{merchant_id}", 1_000 + n, 6, date(2026, 11, 30))
    assert release_due(uow, date(2026, 11, 30), now=lambda: NOW, batch=2) == (3, 994 + 995 + 996)
    assert [available(uow, m) for m in slow + fast] == [(0, 2_000)] * 4 + [(994, 0), (995, 0), (996, 0)]
    with uow() as tx:
        assert tx.ledger_release.merchants_with_available("", 2) == ["shop-4", "shop-40"]
        assert tx.ledger_release.merchants_with_available("shop-40", 2) == ["shop-5"]
        assert tx.ledger_release.merchants_with_available("shop-5", 2) == []
    assert release_due(uow, date(2026, 11, 30), now=lambda: NOW, batch=2) == (0, 0)
    assert_balanced(engine)
