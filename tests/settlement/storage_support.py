"""Rows for settlement's storage tests: payments and refunds as the gateway stores them (real tables, real
database), and the ledger read back as domain entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, select

from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import deposits, ledger_entries, ledger_postings, merchants, payments, refunds
from settlement.domain.accounts import Account
from settlement.domain.ledger import EntryKind, JournalEntry, Posting

T0 = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)


def add_payment(conn: Any, merchant_id: str, payment_id: str, amount: int, *, state: str = "SUCCEEDED",
                paid_at: datetime | None = T0, fee_bps: int | None = None, refunded: int = 0) -> None:
    at = paid_at or T0
    conn.execute(payments.insert().values(
        merchant_id=merchant_id, payment_id=payment_id, out_trade_no=f"o-{payment_id}", app_id="app-1",
        amount=amount, currency="CNY", subject="s", line_items=[], client={}, scenario="mobile",
        channel="mobile", action=None, return_url="", metadata={}, state=state, paid_at=paid_at,
        version=1, created_at=at, updated_at=at, expires_at=at + timedelta(minutes=15), fee_bps=fee_bps,
        refunded_amount=refunded, refund_reserved=refunded))


def add_refund(conn: Any, merchant_id: str, payment_id: str, refund_id: str, amount: int, *,
               state: str = "SUCCEEDED", at: datetime = T0) -> None:
    conn.execute(refunds.insert().values(
        merchant_id=merchant_id, refund_id=refund_id, payment_id=payment_id, out_refund_no=f"r-{refund_id}",
        app_id="app-1", amount=amount, currency="CNY", reason="", state=state, failure_reason="",
        created_at=at, updated_at=at))


def add_deposit(conn: Any, merchant_id: str, deposit_id: str, amount: int, *, state: str = "HELD",
                at: datetime = T0) -> None:
    if conn.execute(select(merchants.c.merchant_id).where(merchants.c.merchant_id == merchant_id)).first() is None:
        conn.execute(merchants.insert().values(
            merchant_id=merchant_id, display_name=merchant_id, state="ACTIVE", settlement_account_verified=True,
            business_category="retail", settlement_plan="T0", created_at=at))
    conn.execute(deposits.insert().values(
        merchant_id=merchant_id, deposit_id=deposit_id, amount=amount, currency="CNY",
        external_reference=f"bank-{deposit_id}", state=state, recorded_at=at,
        released_at=at if state == "RELEASED" else None))


def stored_entries(engine: Engine) -> dict[tuple[EntryKind, str], tuple[JournalEntry, Any]]:
    """Every stored entry as the domain's JournalEntry, with its settlement day."""
    with engine.connect() as conn:
        lines: dict[int, list[Posting]] = {}
        for row in conn.execute(select(ledger_postings).order_by(ledger_postings.c.entry_id, ledger_postings.c.line)):
            lines.setdefault(row.entry_id, []).append(Posting(Account.from_key(row.account), int(row.amount)))
        out = {}
        for row in conn.execute(select(ledger_entries)):
            entry = JournalEntry(EntryKind(row.kind), row.reference, row.merchant_id,
                                 tuple(lines.get(row.entry_id, ())))
            out[entry.key] = (entry, row.settlement_day)
        return out


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run on `engine` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """The statement's plan, a line per node: SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN."""
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    with engine.connect() as conn:
        return [str(row[-1]).strip() for row in conn.exec_driver_sql(f"{explain} {statement}", parameters)]


@contextmanager
def migrated_engine(database_url: str, pool_size: int = 8) -> Iterator[Engine]:
    """The gateway's engine over the test's database, migrated, disposed of afterwards."""
    engine = make_engine(database_url, pool_size=pool_size)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
