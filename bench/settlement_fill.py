"""One settlement day for the settlement bench: merchants with what a run needs to pay them, N paid payments
and their ledger entries, all filled with SQL (the database generates the rows, a few statements per 200,000
payments). The ledger holds what the payment path books (`ledger.book_payment`): per payment a `payment
succeeded` entry (channel clearing +amount, merchant pending −amount) then a `fee` entry (pending +fee, fee
revenue −fee, the fee rounded half up from the stored rate), with consecutive entry ids, as one append gives
them. tests/unit/test_bench_settlement.py holds this fill to what `cashier settle backfill` books from the same
payments; the backfill itself is not the fill, because on SQLite its cost grows faster than the rows (a 100,000
payment day took a minute, 60,000 five times the CPU of 20,000), which would make a million-payment fill take
far more than minutes.

Merchants are T+0 (effective a month before the day), with an approved application whose payout account is
verified, and one app authorised for each (so each payout writes its `payout.paid` event, as live). Payments
are spread over the day in China time; `hot` > 0 gives that many to the first merchant and spreads the rest
over the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, create_engine, func, insert, select, text

from bench import fill
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import (
    app_merchants,
    applications,
    apps,
    ledger_entries,
    ledger_postings,
    merchants,
    settlement_plans,
)
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import accounts
from settlement.domain.accounts import AccountKind
from settlement.domain.calendar import DEFAULT_CUTOFF, day_end, settlement_day
from settlement.domain.fees import BPS_DENOMINATOR
from settlement.domain.ledger import EntryKind
from settlement.service import ledger

APP_ID = "bench-settle-app"
FEE_BPS = 60
STEP = 200_000  # payments per INSERT (and transaction)
COLUMNS = ("merchant_id, payment_id, out_trade_no, app_id, amount, currency, subject, line_items, client, "
           "scenario, channel, return_url, metadata, state, version, created_at, updated_at, expires_at, paid_at, "
           "fee_bps")


def merchant_id(k: int) -> str:
    return f"bench-m{k:05d}"


def payee(k: int) -> tuple[str, str]:
    """The merchant's verified payout account: (Alipay logon id, holder name), known to the local Alipay."""
    return f"{merchant_id(k)}@example.com", f"Bench Merchant {k:05d} Co., Ltd."


@dataclass(frozen=True)
class Filled:
    payments: int
    postings: int  # every posting in the ledger after the fill
    fill_s: float  # merchants and payments
    ledger_fill_s: float


def fill_day(database_url: str, day: date, payments: int, merchant_count: int, hot: int, *,
             backfill: bool = False) -> Filled:
    """Migrate a fresh database, then fill it (module docstring) and leave it settled (statistics current,
    WAL checkpointed), so that the run measured next pays for nothing the fill left behind. `backfill`: book
    the ledger with `cashier settle backfill`'s code instead (the test's reference)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        migrate.upgrade(engine)
        began = time.monotonic()
        _merchants(engine, day, merchant_count)
        _payments(engine, day, payments, merchant_count, hot)
        filled = time.monotonic()
        if backfill:
            ledger.backfill(SqlUnitOfWorkFactory(engine, group_commit=False), cutoff=DEFAULT_CUTOFF)
        else:
            _ledger(engine, day, payments, merchant_count, hot)
        booked = time.monotonic()
        plain = create_engine(database_url)
        try:
            fill.settle(plain, ("payments", "ledger_entries", "ledger_postings"))
        finally:
            plain.dispose()
        with engine.connect() as conn:
            postings = int(conn.execute(select(func.count()).select_from(ledger_postings)).scalar_one())
            entries = int(conn.execute(select(func.count()).select_from(ledger_entries).where(
                ledger_entries.c.settlement_day == day)).scalar_one())
        if entries != 2 * payments:  # a payment and a fee entry each (every amount here has a fee)
            raise RuntimeError(f"the backfill booked {entries} entries on {day}, not {2 * payments}")
        return Filled(payments, postings, round(filled - began, 3), round(booked - filled, 3))
    finally:
        engine.dispose()


def _merchants(engine: Engine, day: date, count: int) -> None:
    """`count` rows per table: few enough for executemany; the set-based fill is for the payments."""
    at = datetime.now(UTC)
    ks = range(count)
    with engine.begin() as conn:
        conn.execute(insert(apps).values(app_id=APP_ID, display_name="Bench settlement app", disabled=False,
                                         created_at=at))
        conn.execute(insert(merchants), [
            {"merchant_id": merchant_id(k), "display_name": merchant_id(k), "state": "ACTIVE",
             "settlement_account_verified": True, "business_category": "retail", "settlement_plan": "T0",
             "created_at": at, "application_id": f"app_{merchant_id(k)}"} for k in ks])
        conn.execute(insert(applications), [
            {"application_id": f"app_{merchant_id(k)}", "merchant_id": merchant_id(k), "applicant_account_id": "acct",
             "kind": "ENTERPRISE", "state": "APPROVED", "account_state": "VERIFIED", "revision": 1,
             "display_name": merchant_id(k), "contact_name": "Lin", "contact_phone": "13800000000",
             "contact_email": "lin@example.com", "legal_name": payee(k)[1], "credit_code": "91350100M000100Y43",
             "registered_address": "Fuzhou", "business_scope": "tea", "business_category": "retail",
             "payout_logon_id": payee(k)[0], "holder_name": payee(k)[1], "decision_reason": "",
             "decided_by": "bench", "decided_at": at, "account_verified_at": at, "created_at": at,
             "updated_at": at} for k in ks])
        conn.execute(insert(settlement_plans), [
            {"merchant_id": merchant_id(k), "effective_on": day - timedelta(days=30), "plan": "T0", "set_at": at}
            for k in ks])
        conn.execute(insert(app_merchants), [
            {"merchant_id": merchant_id(k), "app_id": APP_ID, "created_at": at} for k in ks])


@dataclass(frozen=True)
class _Sql:
    """Payment i's columns as SQL over a series `n(i)` (one dialect's spelling; every value a number or a
    fixed name built here, never outside text)."""

    merchant: str
    payment_id: str
    paid_at: str
    series: str  # rows i from :lo to :hi - 1
    amount: str = "(100 + (i * 7919) % 9901)"  # 1.00 to 100.00 CNY

    @property
    def fee(self) -> str:  # fees.fee_for: round half up of amount * bps / 10,000
        return f"((2 * {self.amount} * {FEE_BPS} + {BPS_DENOMINATOR}) / (2 * {BPS_DENOMINATOR}))"


def _sql(dialect: str, count: int, merchant_count: int, hot: int) -> _Sql:
    """Payment i: merchant 0 when i < hot, else the others in turn; paid at a second of the day (China time)
    that grows with i."""
    first, others = (1, merchant_count - 1) if hot else (0, merchant_count)
    k = f"(CASE WHEN i < {hot} THEN 0 ELSE {first} + (i - {hot}) % {others} END)"
    second = f"((i * 86399) / {count})"
    if dialect == "sqlite":
        return _Sql(f"('bench-m' || printf('%05d', {k}))", "('pay_' || printf('%026d', i))",
                    f"(strftime('%Y-%m-%d %H:%M:%S', :start, '+' || {second} || ' seconds') || '.000000')",
                    "(WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i < :hi - 1) "
                    "SELECT i FROM n)")
    return _Sql(f"('bench-m' || lpad(({k})::text, 5, '0'))", "('pay_' || lpad(i::text, 26, '0'))",
                f"(CAST(:start AS timestamptz) + {second} * INTERVAL '1 second')",
                "(SELECT i FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i)")


def _moment(engine: Engine, at: datetime) -> str:
    # SQLite stores naive UTC text the way gateway/storage/tables.py's UTCDateTime writes it.
    at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if engine.dialect.name == "sqlite" \
        else at.isoformat()


def _in_steps(engine: Engine, count: int, stmt: str, **params: object) -> None:
    for lo in range(0, count, STEP):
        with engine.begin() as conn:
            conn.execute(text(stmt), {"lo": lo, "hi": min(count, lo + STEP), **params})


def _payments(engine: Engine, day: date, count: int, merchant_count: int, hot: int) -> None:
    """The payments, with the fee rate stored as the payment path stores it."""
    q = _sql(engine.dialect.name, count, merchant_count, hot)
    at = q.paid_at
    values = (f"{q.merchant}, {q.payment_id}, 'settle-' || i, '{APP_ID}', {q.amount}, 'CNY', 'Oolong tea', "
              f"'[]', '{{}}', 'POST_PRODUCT_CARD', 'mobile', '', '{{}}', 'SUCCEEDED', 1, {at}, {at}, {at}, {at}, "
              f"{FEE_BPS}")
    start = day_end(day - timedelta(days=1), DEFAULT_CUTOFF)  # the day's first moment
    _in_steps(engine, count, f"INSERT INTO payments ({COLUMNS}) SELECT {values} FROM {q.series} AS n",
              start=_moment(engine, start))


def _ledger(engine: Engine, day: date, count: int, merchant_count: int, hot: int) -> None:
    """Payment i's entries get ids base + 2i + 1 (payment succeeded) and base + 2i + 2 (fee), so that the
    postings need no join to find them; PostgreSQL's id sequence is moved past them afterwards."""
    q = _sql(engine.dialect.name, count, merchant_count, hot)
    with engine.connect() as conn:
        base = int(conn.execute(select(func.coalesce(func.max(ledger_entries.c.entry_id), 0))).scalar_one())
    pair = "(SELECT 0 AS j UNION ALL SELECT 1)"
    four = "(SELECT 0 AS j UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)"
    kind = f"CASE j WHEN 0 THEN '{EntryKind.PAYMENT_SUCCEEDED.value}' ELSE '{EntryKind.FEE.value}' END"
    _in_steps(engine, count,
              "INSERT INTO ledger_entries (entry_id, merchant_id, kind, reference, settlement_day, created_at) "
              f"SELECT {base} + 2 * i + 1 + j, {q.merchant}, {kind}, {q.payment_id}, :day, :at "
              f"FROM {q.series} AS n CROSS JOIN {pair} AS l ORDER BY i, j",
              day=day.isoformat() if engine.dialect.name == "sqlite" else day, at=_moment(engine, datetime.now(UTC)))
    pending = f"('merchant:' || {q.merchant} || :pending)"  # a bind: text() would read ':pending' as one
    account = (f"CASE j WHEN 0 THEN '{accounts.CHANNEL_CLEARING.key}' WHEN 3 THEN '{accounts.FEE_REVENUE.key}' "
               f"ELSE {pending} END")
    amount = f"CASE j WHEN 0 THEN {q.amount} WHEN 1 THEN -{q.amount} WHEN 2 THEN {q.fee} ELSE -{q.fee} END"
    _in_steps(engine, count,
              "INSERT INTO ledger_postings (merchant_id, entry_id, line, account, amount) "
              f"SELECT {q.merchant}, {base} + 2 * i + 1 + j / 2, j % 2, {account}, {amount} "
              f"FROM {q.series} AS n CROSS JOIN {four} AS l", pending=f":{AccountKind.MERCHANT_PENDING.value}")
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('ledger_entries', 'entry_id'), "
                              "(SELECT max(entry_id) FROM ledger_entries))"))


def day_to_settle(now: datetime) -> date:
    """The settlement day that ended last (the default cut-off): what a morning's run settles."""
    return settlement_day(now, DEFAULT_CUTOFF) - timedelta(days=1)
