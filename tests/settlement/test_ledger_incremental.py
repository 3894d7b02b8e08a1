"""What keeps the ledger's set-based work proportional to what is new, on SQLite and PostgreSQL: the balance
cache's refresh adds only the postings of the entries booked since the last one (a from-scratch recompute
agrees, also after refreshes run at once), and the query plans of the refresh and the backfill read the new
entries by a range of their ids and everything else through an index, never a scan per row (SQLite's
EXPLAIN QUERY PLAN: the backfill once drove its postings with every entry of a kind the ledger held, in
reference order, which grew faster than linear)."""

from __future__ import annotations

import contextlib
import random
import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import accounts, fees, ledger
from settlement.service.ledger import backfill, recompute_balances, refresh_balances
from tests.settlement.storage_support import (
    add_deposit,
    add_payment,
    add_refund,
    migrated_engine,
    plan,
    statements,
)
from tests.support import postgres_schema_url

DAY = date(2026, 10, 8)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def book(uow: SqlUnitOfWorkFactory, rng: random.Random, first: int, count: int, merchants: int) -> None:
    """`count` payments (with fees) and some refunds, spread over `merchants` merchants."""
    with uow(write=True) as tx:
        for i in range(first, first + count):
            merchant = f"shop-{i % merchants}"
            amount = rng.randint(1, 100_000)
            entries = ledger.book_payment(merchant, f"pay_{i}", amount, fees.fee_for(amount, 60))
            if i % 3 == 0:
                entries += ledger.book_refund(merchant, f"ref_{i}", amount // 2 + 1, 0, released=False)
            tx.ledger.append(entries, settlement_day=DAY, at=NOW)
        tx.commit()


def assert_cache_is_a_recompute(uow: SqlUnitOfWorkFactory) -> None:
    check = recompute_balances(uow)
    assert check.ok, check
    with uow() as tx:
        assert tx.ledger.cached_balances() == tx.ledger.balances()


# --- the incremental refresh -------------------------------------------------------------------------------

def test_an_incremental_refresh_after_new_bookings_equals_a_recompute(uow: SqlUnitOfWorkFactory) -> None:
    rng = random.Random(20)
    book(uow, rng, 0, 30, merchants=3)
    first = refresh_balances(uow, now=lambda: NOW)
    assert_cache_is_a_recompute(uow)
    # More bookings, on the same accounts and on new merchants' (rows the cache has not had yet).
    book(uow, rng, 30, 40, merchants=5)
    assert refresh_balances(uow, now=lambda: NOW) > first
    assert_cache_is_a_recompute(uow)
    # Nothing new: the cache stays what it is.
    with uow() as tx:
        before = tx.ledger.cached_balances()
    refresh_balances(uow, now=lambda: NOW)
    with uow() as tx:
        assert tx.ledger.cached_balances() == before


def test_a_refresh_reads_only_the_entries_booked_since_the_last(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    """Proof that it is incremental: an old entry's postings changed behind the refresh's back (a raw
    UPDATE, which nothing in the application does) are not read again, while the new entries' are added;
    `--check` (recompute_balances) recomputes from scratch and reports the difference."""
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment("shop-1", "pay_1", 1_000, 6), settlement_day=DAY, at=NOW)
        tx.commit()
    refresh_balances(uow, now=lambda: NOW)
    with engine.begin() as conn:  # pay_1's entry still balances: 1,100 to clearing, -1,100 to pending
        conn.execute(text("UPDATE ledger_postings SET amount = amount + 100 WHERE amount = 1000"))
        conn.execute(text("UPDATE ledger_postings SET amount = amount - 100 WHERE amount = -1000"))
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment("shop-1", "pay_2", 500, 3), settlement_day=DAY, at=NOW)
        tx.commit()
    refresh_balances(uow, now=lambda: NOW)
    pending, clearing = accounts.pending("shop-1"), accounts.CHANNEL_CLEARING
    with uow() as tx:
        cached = tx.ledger.cached_balances()
        assert cached[clearing] == 1_000 + 500 and cached[pending] == -994 - 497  # pay_2 added, pay_1 not reread
        assert tx.ledger.balances()[clearing] == 1_100 + 500
    check = recompute_balances(uow)
    assert not check.ok and check.total == 0 and check.unbalanced_entries == []
    assert {(d.account, d.cached, d.computed) for d in check.differences} == {
        (clearing.key, 1_500, 1_600), (pending.key, -1_491, -1_591)}


def test_an_emptied_cache_is_rebuilt_from_every_entry(uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    book(uow, random.Random(3), 0, 20, merchants=2)
    refresh_balances(uow, now=lambda: NOW)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_balances SET balance = balance + 7"))
    assert not recompute_balances(uow).ok
    with engine.begin() as conn:  # the repair: empty the cache, refresh
        conn.execute(text("DELETE FROM ledger_balances"))
    refresh_balances(uow, now=lambda: NOW)
    assert_cache_is_a_recompute(uow)


def test_refreshes_at_once_never_add_new_postings_twice(uow: SqlUnitOfWorkFactory) -> None:
    """Real threads: refreshes racing each other and the bookings (each refresh computes its own watermark),
    then several at once over the same new entries; the cache always equals a recompute."""
    rng = random.Random(11)
    book(uow, rng, 0, 20, merchants=3)
    refresh_balances(uow, now=lambda: NOW)
    errors: list[BaseException] = []

    def run(target: Any, *args: Any) -> threading.Thread:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
        return threading.Thread(target=guarded)

    def refresh(start: threading.Barrier) -> None:
        start.wait()
        refresh_balances(uow, now=lambda: NOW)

    def booking(start: threading.Barrier, first: int) -> None:
        start.wait()
        book(uow, rng, first, 10, merchants=4)

    for round_ in range(3):
        barrier = threading.Barrier(5)
        threads = [run(refresh, barrier) for _ in range(4)] + [run(booking, barrier, 100 + 10 * round_)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert recompute_balances(uow).ok
    # The same watermark for all: only one may add the entries after the cache's.
    book(uow, rng, 500, 15, merchants=6)
    with uow(write=True) as tx:
        as_of = tx.ledger.settled_watermark()
        tx.commit()
    barrier = threading.Barrier(4)

    def same_watermark() -> None:
        barrier.wait()
        with uow(write=True) as tx:
            tx.ledger.refresh_cache(NOW, as_of)
            tx.commit()

    threads = [run(same_watermark) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_cache_is_a_recompute(uow)


def test_a_refresh_waits_for_the_one_in_flight_and_adds_only_what_that_one_left(uow: SqlUnitOfWorkFactory) -> None:
    """Two refreshes with different watermarks, the later one starting while the earlier is uncommitted:
    were it to read the cache's watermark before the first commits, it would add the first's entries a
    second time. It waits (PostgreSQL: the advisory lock; SQLite: the single writer)."""
    rng = random.Random(13)

    def watermark() -> int:
        with uow(write=True) as tx:
            as_of = tx.ledger.settled_watermark()
            tx.commit()
        return as_of

    book(uow, rng, 0, 10, merchants=2)
    refresh_balances(uow, now=lambda: NOW)
    book(uow, rng, 10, 10, merchants=3)
    earlier = watermark()
    book(uow, rng, 20, 10, merchants=4)
    later = watermark()
    first = uow(write=True).__enter__()
    try:
        first.ledger.refresh_cache(NOW, earlier)

        def second() -> None:
            with uow(write=True) as tx:
                tx.ledger.refresh_cache(NOW, later)
                tx.commit()

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first
        first.commit()
    finally:
        first.__exit__(None, None, None)
    thread.join()
    assert_cache_is_a_recompute(uow)


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_gateways_on_other_schemas_of_one_database_refresh_at_the_same_time(uow: SqlUnitOfWorkFactory) -> None:
    """The refresh's advisory lock is per schema: PostgreSQL's advisory locks are database-wide, and with one
    key for all, a gateway's refresh waited for that of another gateway sharing the database on its own
    schema (a test suite's, a second tenant's)."""
    book(uow, random.Random(5), 0, 5, merchants=2)
    with contextlib.ExitStack() as stack:
        other_url = stack.enter_context(contextlib.contextmanager(postgres_schema_url)())
        other = SqlUnitOfWorkFactory(stack.enter_context(migrated_engine(other_url, pool_size=2)))
        book(other, random.Random(6), 0, 5, merchants=2)
        first = stack.enter_context(uow(write=True))
        first.ledger.refresh_cache(NOW, first.ledger.settled_watermark())  # holds this schema's lock

        def refresh_the_other() -> None:
            refresh_balances(other, now=lambda: NOW)

        thread = threading.Thread(target=refresh_the_other, daemon=True)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()  # it did not wait for this schema's refresh
        first.commit()
    assert_cache_is_a_recompute(uow)


# --- the query plans (SQLite) --------------------------------------------------------------------------------


# EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plans depend on its statistics.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_refresh_reads_the_new_entries_by_id_and_their_postings_by_key(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    book(uow, random.Random(5), 0, 10, merchants=2)
    refresh_balances(uow, now=lambda: NOW)
    book(uow, random.Random(6), 10, 10, merchants=2)
    with statements(engine) as seen:
        refresh_balances(uow, now=lambda: NOW)
    (insert,) = [s for s in seen if s[0].lstrip().startswith("INSERT INTO ledger_balances")]
    lines = plan(engine, *insert)
    assert any("SEARCH ledger_entries USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in line for line in lines), lines
    assert any("SEARCH ledger_postings USING" in line and "(merchant_id=? AND entry_id=?)" in line
               for line in lines), lines
    assert not [line for line in lines if line.startswith("SCAN ledger_")], lines


# EXPLAIN QUERY PLAN is SQLite's; PostgreSQL's plans depend on its statistics.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_backfill_drives_its_postings_by_the_new_entry_ids_and_scans_no_ledger_table(
        uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    with engine.begin() as conn:
        for i in range(6):
            add_payment(conn, f"shop-{i % 2}", f"pay_{i}", 1_000 + i, fee_bps=60)
        add_refund(conn, "shop-0", "pay_0", "ref_0", 500)
        add_deposit(conn, "shop-1", "dep_0", 9_000)
    with statements(engine) as seen:
        backfill(uow, now=lambda: NOW)
    postings = [s for s in seen if "INSERT INTO ledger_postings" in s[0]]
    assert len(postings) == 5  # one per kind
    plans = {s: plan(engine, *s) for s in seen if s[0].lstrip().split()[0] in ("INSERT", "SELECT", "WITH")}
    for (statement, _), lines in plans.items():
        # Never a scan of the ledger, and never the (kind, reference) index for a kind alone (every entry
        # of the kind ever booked).
        assert not [line for line in lines if line.startswith(("SCAN ledger_entries", "SCAN ledger_postings"))], \
            (statement, lines)
        assert not [line for line in lines if line.endswith("sqlite_autoindex_ledger_entries_1 (kind=?)")], \
            (statement, lines)
    by_range = [lines for (statement, _), lines in plans.items() if "INSERT INTO ledger_postings" in statement
                and any("SEARCH ledger_entries USING INTEGER PRIMARY KEY (rowid>?)" in line for line in lines)]
    assert len(by_range) == 3  # payments, fees, deposits; refunds find their entries by (kind, reference)
