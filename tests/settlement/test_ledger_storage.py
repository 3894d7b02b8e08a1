"""The ledger in the database, on SQLite and PostgreSQL: appending is idempotent on (kind, reference) and a
conflicting replay is refused changing nothing; balances are summed from postings and the cache agrees with a
recomputation; the backfill books exactly what the domain's builders would, once, also when two run at once;
every entry sums to zero in SQL; migration 0014 goes down and up again."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, func, inspect, select, text

from gateway.domain.errors import FailedPrecondition, InvalidArgument
from gateway.storage import migrate
from gateway.storage.tables import ledger_entries, ledger_postings
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import accounts, fees, ledger
from settlement.domain.calendar import settlement_day
from settlement.domain.fees import RefundFeePolicy
from settlement.domain.ledger import ConflictingReplay, EntryKind
from settlement.service.ledger import backfill, recompute_balances, refresh_balances
from tests.settlement.storage_support import T0, add_deposit, add_payment, add_refund, stored_entries

M = "shop-1"
DAY = date(2026, 10, 8)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def unbalanced(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0")).scalars())


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


# --- appending -----------------------------------------------------------------------------------------

def test_append_stores_entries_and_a_replay_changes_nothing(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    entries = ledger.book_payment(M, "pay_1", 1_000, 6)
    with uow(write=True) as tx:
        assert tx.ledger.append(entries, settlement_day=DAY, at=NOW) == 2
        tx.commit()
    with uow(write=True) as tx:
        assert tx.ledger.append(entries, settlement_day=DAY, at=NOW) == 0
        assert tx.ledger.append(entries[:1], settlement_day=DAY, at=NOW) == 0
        tx.commit()
    stored = stored_entries(engine)
    assert {key: entry for key, (entry, _) in stored.items()} == {e.key: e for e in entries}
    assert {day for _, day in stored.values()} == {DAY}
    assert count(engine, ledger_postings) == 4
    with uow() as tx:
        assert tx.ledger.get(EntryKind.FEE, "pay_1") == entries[1]
        assert tx.ledger.get(EntryKind.FEE, "pay_2") is None
        raw = tx.ledger.balances(M)
    assert raw == {accounts.pending(M): -994}
    assert accounts.pending(M).balance(raw[accounts.pending(M)]) == 994


def test_a_conflicting_replay_is_refused_and_changes_nothing(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(M, "pay_1", 1_000, 6), settlement_day=DAY, at=NOW)
        tx.commit()
    with pytest.raises(ConflictingReplay) as raised, uow(write=True) as tx:
        # A new payment in the same call is rolled back with the conflicting one.
        tx.ledger.append(ledger.book_payment(M, "pay_2", 500, 3) + (ledger.fee(M, "pay_1", 7),),
                         settlement_day=DAY, at=NOW)
        tx.commit()
    assert raised.value.reason == "CONFLICTING_ENTRY" and "'pay_1'" in raised.value.message
    assert set(stored_entries(engine)) == {(EntryKind.PAYMENT_SUCCEEDED, "pay_1"), (EntryKind.FEE, "pay_1")}
    assert count(engine, ledger_postings) == 4


def test_the_same_reference_for_another_merchant_is_a_conflict(uow: SqlUnitOfWorkFactory) -> None:
    with uow(write=True) as tx:
        tx.ledger.append([ledger.payment_succeeded(M, "pay_1", 1_000)], settlement_day=DAY, at=NOW)
        tx.commit()
    with pytest.raises(ConflictingReplay), uow(write=True) as tx:
        tx.ledger.append([ledger.payment_succeeded("shop-2", "pay_1", 1_000)], settlement_day=DAY, at=NOW)


def test_concurrent_appends_of_one_payment_book_it_once(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    entries = ledger.book_payment(M, "pay_1", 1_000, 6)
    barrier = threading.Barrier(8)
    added: list[int] = []

    def append() -> None:
        barrier.wait()
        with uow(write=True) as tx:
            added.append(tx.ledger.append(entries, settlement_day=DAY, at=NOW))
            tx.commit()

    threads = [threading.Thread(target=append) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [0] * 7 + [2]
    assert count(engine, ledger_entries) == 2 and count(engine, ledger_postings) == 4


# --- balances and the cache ------------------------------------------------------------------------------

def test_balances_from_postings_equal_the_cache_and_the_ledger_sums_to_zero(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    rng = random.Random(18)
    expected: list[ledger.JournalEntry] = []
    with uow(write=True) as tx:
        for i in range(40):
            merchant = f"shop-{i % 4}"
            amount = rng.randint(1, 100_000)
            entries = ledger.book_payment(merchant, f"pay_{i}", amount, fees.fee_for(amount, 60))
            entries += ledger.book_refund(merchant, f"ref_{i}", amount // 2 + 1, 0, released=False)
            tx.ledger.append(entries, settlement_day=DAY, at=NOW)
            expected += entries
        tx.commit()
    assert refresh_balances(uow, now=lambda: NOW) > 0
    check = recompute_balances(uow)
    assert check.ok, check
    with uow() as tx:
        assert tx.ledger.balances() == ledger.balances(expected)
        assert tx.ledger.cached_balances() == ledger.balances(expected)
        assert tx.ledger.balances("shop-1") == {a: v for a, v in ledger.balances(expected).items()
                                                if a.merchant_id == "shop-1"}
    assert unbalanced(engine) == []
    # New postings after the refresh are not in the cache, and do not make it disagree: it is as of its
    # watermark. A refresh takes them in.
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(M, "pay_late", 700, 4), settlement_day=DAY, at=NOW)
        tx.commit()
    assert recompute_balances(uow).ok
    refresh_balances(uow, now=lambda: NOW)
    with uow() as tx:
        assert tx.ledger.cached_balances() == tx.ledger.balances()


def test_a_refresh_while_a_booking_is_in_flight_never_misses_it(uow: SqlUnitOfWorkFactory) -> None:
    """PostgreSQL commits entries out of id order: a booking holding a smaller id may commit after a larger
    one. The refresh's watermark waits for it, so the cache never disagrees with a recomputation."""
    slow = uow(write=True).__enter__()
    try:
        slow.ledger.append(ledger.book_payment(M, "pay_slow", 1_000, 6), settlement_day=DAY, at=NOW)

        def fast() -> None:  # commits at once on PostgreSQL; waits for the single writer on SQLite
            with uow(write=True) as tx:
                tx.ledger.append(ledger.book_payment(M, "pay_fast", 500, 3), settlement_day=DAY, at=NOW)
                tx.commit()

        booking = threading.Thread(target=fast)
        booking.start()
        booking.join(0.5)
        refresh = threading.Thread(target=lambda: refresh_balances(uow, now=lambda: NOW))
        refresh.start()
        refresh.join(0.5)
        assert refresh.is_alive()  # waiting for the booking in flight
        slow.commit()
    finally:
        slow.__exit__(None, None, None)
    booking.join()
    refresh.join()
    check = recompute_balances(uow)
    assert check.ok, check
    with uow() as tx:
        cached = tx.ledger.cached_balances()
    assert cached[accounts.pending(M)] in (-994, -994 - 497)  # pay_slow is in, whatever pay_fast's turn


def test_a_cache_that_drifted_from_the_postings_is_reported(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(M, "pay_1", 1_000, 6), settlement_day=DAY, at=NOW)
        tx.commit()
    refresh_balances(uow, now=lambda: NOW)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_balances SET balance = balance + 1 WHERE account = :a"),
                     {"a": accounts.pending(M).key})
        conn.execute(text("DELETE FROM ledger_balances WHERE account = :a"), {"a": accounts.FEE_REVENUE.key})
    check = recompute_balances(uow)
    assert not check.ok
    assert {(d.account, d.cached, d.computed) for d in check.differences} == {
        (accounts.pending(M).key, -993, -994), (accounts.FEE_REVENUE.key, None, -6)}


# --- the backfill ----------------------------------------------------------------------------------------

def _history(engine: Engine, rng: random.Random, payments: int) -> None:
    """Payments (some refunded in parts, some not paid at all) made before settlement existed, at times
    around the day boundaries of China time."""
    with engine.begin() as conn:
        for i in range(payments):
            merchant = f"shop-{i % 5}"
            amount = rng.choice([1, 8, 1_234, 1_250, rng.randint(1, 10_000_000)])
            paid_at = datetime(2026, 10, 1, 15, 59, 59, tzinfo=UTC) + timedelta(seconds=rng.choice([0, 1, 3600 * 7]))
            bps = rng.choice([None, None, 0, 60, 38])
            state = rng.choice(["SUCCEEDED", "SUCCEEDED", "PARTIALLY_REFUNDED", "PENDING", "CLOSED"])
            add_payment(conn, merchant, f"pay_{i:04d}", amount, state=state,
                        paid_at=None if state in ("PENDING", "CLOSED") else paid_at, fee_bps=bps)
            if state != "PARTIALLY_REFUNDED":
                continue
            left = amount
            for j in range(rng.randint(1, 3)):
                part = rng.randint(1, left) if left else 0
                if not part:
                    break
                left -= part
                add_refund(conn, merchant, f"pay_{i:04d}", f"ref_{i:04d}_{j}", part,
                           at=paid_at + timedelta(hours=j + 1))
            add_refund(conn, merchant, f"pay_{i:04d}", f"ref_{i:04d}_x", 1, state="FAILED", at=paid_at)
        for i in range(payments // 10):
            add_deposit(conn, f"shop-{i % 5}", f"dep_{i:04d}", rng.randint(1, 2_000_000),
                        state=rng.choice(["HELD", "RELEASING", "RELEASED"]), at=T0 + timedelta(minutes=i))


def _expected(engine: Engine, policy: RefundFeePolicy, cutoff: time) -> dict[tuple[EntryKind, str], tuple]:
    """What the domain's builders book for the stored history (each payment's refunds in time order)."""
    out: dict[tuple[EntryKind, str], tuple] = {}
    with engine.connect() as conn:
        pays = conn.execute(text("SELECT merchant_id, payment_id, amount, fee_bps, paid_at FROM payments "
                                 "WHERE state IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')")).all()
        refund_rows = conn.execute(text("SELECT merchant_id, payment_id, refund_id, amount, updated_at FROM refunds "
                                        "WHERE state = 'SUCCEEDED' ORDER BY updated_at, refund_id")).all()
        held = conn.execute(text("SELECT merchant_id, deposit_id, amount, recorded_at FROM deposits "
                                 "WHERE state IN ('HELD', 'RELEASING')")).all()
    by_payment = {}
    for p in pays:
        paid_at = p.paid_at if isinstance(p.paid_at, datetime) else datetime.fromisoformat(p.paid_at)
        fee = fees.fee_for(p.amount, p.fee_bps or 0)
        by_payment[(p.merchant_id, p.payment_id)] = [p.amount, fee, 0]
        for entry in ledger.book_payment(p.merchant_id, p.payment_id, p.amount, fee):
            out[entry.key] = (entry, settlement_day(paid_at.replace(tzinfo=UTC), cutoff))
    for r in refund_rows:
        amount, fee, before = by_payment[(r.merchant_id, r.payment_id)]
        share = fees.fee_returned(policy, payment_amount=amount, fee=fee, refunded_before=before,
                                  refund_amount=r.amount)
        by_payment[(r.merchant_id, r.payment_id)][2] += r.amount
        at = r.updated_at if isinstance(r.updated_at, datetime) else datetime.fromisoformat(r.updated_at)
        for entry in ledger.book_refund(r.merchant_id, r.refund_id, r.amount, share, released=False):
            out[entry.key] = (entry, settlement_day(at.replace(tzinfo=UTC), cutoff))
    for d in held:  # a RELEASED deposit went back before settlement existed: not booked
        at = d.recorded_at if isinstance(d.recorded_at, datetime) else datetime.fromisoformat(d.recorded_at)
        entry = ledger.deposit_recorded(d.merchant_id, d.deposit_id, d.amount)
        out[entry.key] = (entry, settlement_day(at.replace(tzinfo=UTC), cutoff))
    return out


@pytest.mark.parametrize(("policy", "cutoff"), [(RefundFeePolicy.PRO_RATA, time(0, 0)),
                                                (RefundFeePolicy.KEPT, time(22, 0))])
def test_backfill_books_what_the_builders_would_once(uow: SqlUnitOfWorkFactory, engine: Engine,
                                                     policy: RefundFeePolicy, cutoff: time) -> None:
    _history(engine, random.Random(1018), 120)
    expected = _expected(engine, policy, cutoff)
    first = backfill(uow, cutoff=cutoff, refund_policy=policy, now=lambda: NOW)
    stored = stored_entries(engine)
    assert stored == expected
    kinds = [key[0] for key in expected]
    assert (first.payments, first.fees, first.refunds, first.fees_returned, first.deposits) == (
        kinds.count(EntryKind.PAYMENT_SUCCEEDED), kinds.count(EntryKind.FEE),
        kinds.count(EntryKind.REFUND_SUCCEEDED), kinds.count(EntryKind.FEE_RETURNED),
        kinds.count(EntryKind.DEPOSIT_RECORDED))
    assert first.payments > 50 and first.refunds > 10 and first.fees > 10 and first.deposits > 2
    assert (first.fees_returned > 0) == (policy is RefundFeePolicy.PRO_RATA)
    postings = count(engine, ledger_postings)
    again = backfill(uow, cutoff=cutoff, refund_policy=policy, now=lambda: NOW)
    assert (again.payments, again.fees, again.refunds, again.fees_returned, again.deposits) == (0, 0, 0, 0, 0)
    assert stored_entries(engine) == stored and count(engine, ledger_postings) == postings
    assert unbalanced(engine) == []
    refresh_balances(uow, now=lambda: NOW)
    assert recompute_balances(uow).ok


def test_backfill_skips_what_the_payment_path_booked_and_books_the_rest(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, M, "pay_1", 1_000, fee_bps=60)
        add_payment(conn, M, "pay_2", 2_000, fee_bps=60)
    with uow(write=True) as tx:  # as the payment's own transaction will, once it books
        tx.ledger.append(ledger.book_payment(M, "pay_1", 1_000, 6), settlement_day=DAY, at=NOW)
        tx.commit()
    report = backfill(uow, now=lambda: NOW)
    assert (report.payments, report.fees) == (1, 1)
    assert stored_entries(engine)[(EntryKind.FEE, "pay_2")][0] == ledger.fee(M, "pay_2", 12)
    assert count(engine, ledger_postings) == 8 and unbalanced(engine) == []


def test_backfill_refuses_what_was_booked_otherwise_and_books_nothing(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, M, "pay_1", 1_000, fee_bps=60)  # its fee is 6
        add_payment(conn, M, "pay_2", 2_000, state="PARTIALLY_REFUNDED")
        add_payment(conn, M, "pay_3", 3_000)
        add_refund(conn, M, "pay_2", "ref_2", 500)
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(M, "pay_1", 1_000, 7), settlement_day=DAY, at=NOW)
        tx.ledger.append(ledger.book_payment("shop-2", "pay_2", 2_000, 0), settlement_day=DAY, at=NOW)
        # Booked from available (funds released by then) is what the refund path may do: no conflict.
        tx.ledger.append(ledger.book_refund(M, "ref_2", 500, 0, released=True), settlement_day=DAY, at=NOW)
        tx.commit()
    before = stored_entries(engine)
    with pytest.raises(ConflictingReplay) as raised:
        backfill(uow, now=lambda: NOW)
    assert "fee:pay_1" in raised.value.message and "payment_succeeded:pay_2" in raised.value.message
    assert "ref_2" not in raised.value.message and "pay_3" not in raised.value.message
    assert stored_entries(engine) == before and unbalanced(engine) == []


def test_backfill_from_two_threads_at_once_books_once(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    _history(engine, random.Random(7), 150)
    expected = _expected(engine, RefundFeePolicy.PRO_RATA, time(0, 0))
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run() -> None:
        barrier.wait()
        try:
            reports.append(backfill(uow, now=lambda: NOW))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.payments + r.fees + r.refunds + r.fees_returned + r.deposits for r in reports) == len(expected)
    assert stored_entries(engine) == expected
    assert unbalanced(engine) == []


def test_backfill_refuses_rows_the_domain_would_refuse_and_books_nothing(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, M, "pay_ok", 1_000)
        add_payment(conn, "shop:bad", "pay_bad", 1_000)
        add_payment(conn, M, "pay_rate", 1_000, fee_bps=10_001)
        # Beyond what SQL can multiply in 64 bits (SQLite would go on in floating point): refused, not rounded.
        add_payment(conn, M, "pay_huge", 10**15)
        add_payment(conn, M, "pay_all_fee", 10**10, state="REFUNDED", fee_bps=10_000)
        add_refund(conn, M, "pay_all_fee", "ref_all_fee", 10**10)
    with pytest.raises(InvalidArgument) as raised:
        backfill(uow, now=lambda: NOW)
    fields = {v.field: v.description for v in raised.value.violations}
    assert "pay_bad" in fields["payments"] and "pay_huge" in fields["payments"]
    assert "pay_rate" in fields["payments.fee_bps"] and "ref_all_fee" in fields["refunds"]
    assert count(engine, ledger_entries) == 0


def test_backfill_refuses_refunds_whose_funds_were_released(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, M, "pay_1", 1_000, state="PARTIALLY_REFUNDED")
        add_refund(conn, M, "pay_1", "ref_1", 100)
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(M, "pay_1", 1_000, 0), settlement_day=DAY, at=NOW)
        tx.ledger.append([ledger.funds_released(M, f"{M}:{DAY}", 1_000)], settlement_day=DAY, at=NOW)
        tx.commit()
    with pytest.raises(FailedPrecondition) as raised:
        backfill(uow, now=lambda: NOW)
    assert "ref_1" in raised.value.message
    assert count(engine, ledger_entries) == 2


def test_settlement_days_in_sql_match_the_calendar(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    instants = [T0.replace(hour=h, minute=m, second=s) for h, m, s in
                [(15, 59, 59), (16, 0, 0), (13, 59, 59), (14, 0, 0), (23, 59, 59), (0, 0, 0)]]
    with engine.begin() as conn:
        for i, at in enumerate(instants):
            add_payment(conn, M, f"pay_{i}", 100, paid_at=at)
    for cutoff in (time(0, 0), time(22, 0), time(6, 30)):
        with engine.begin() as conn:
            conn.execute(ledger_postings.delete())
            conn.execute(ledger_entries.delete())
        backfill(uow, cutoff=cutoff, now=lambda: NOW)
        days = {entry.reference: day for entry, day in stored_entries(engine).values()}
        assert days == {f"pay_{i}": settlement_day(at, cutoff) for i, at in enumerate(instants)}, cutoff


# --- the migration ---------------------------------------------------------------------------------------

def test_migration_0014_goes_down_and_up(engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, M, "pay_1", 1_000, fee_bps=60)
        command.downgrade(migrate.alembic_config(conn), "0013")
    tables = set(inspect(engine).get_table_names())
    assert not tables & {"ledger_entries", "ledger_postings", "ledger_balances"}
    assert "fee_bps" not in {c["name"] for c in inspect(engine).get_columns("payments")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT amount FROM payments WHERE payment_id = 'pay_1'")).scalar_one() == 1_000
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT fee_bps FROM payments WHERE payment_id = 'pay_1'")).scalar_one() is None
