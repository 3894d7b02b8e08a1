"""Bulk-filling the payments table with plain SQL (the database generates the rows), for the growth and
notification benches: a million rows take seconds, not the hours a million CreatePayment calls would.

Filled payments belong to the bench's merchant and app, sort before any real payment id
(`pay_000…<n>`), and carry no checkout token. `state` SUCCEEDED (paid, the bulk of a real table) keeps
the reconciler away; PENDING ones (recent, not expired) are what notifications complete.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from bench.payload import APP_ID, MERCHANT_ID

AMOUNT_FEN = 2590  # the amount of bench/payload.py's request, so that a notification of it matches
CLIENT = json.dumps({"platform": "IOS_APP", "app_name": "Platform", "app_version": "9.2.0", "user_agent": ""})
COLUMNS = ("merchant_id, payment_id, out_trade_no, app_id, amount, currency, subject, line_items, client, "
           "scenario, channel, return_url, metadata, state, version, created_at, updated_at, expires_at, paid_at")


def payment_id(n: int) -> str:
    return f"pay_{n:026d}"


def fill_payments(database_url: str, start: int, stop: int, *, state: str = "SUCCEEDED",
                  channel: str = "mobile") -> None:
    """Insert payments number start..stop-1 (ids from payment_id()) in one statement per 200,000 rows."""
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"

    def at(moment: datetime) -> object:
        # SQLite stores naive UTC text the way gateway/storage/tables.py's UTCDateTime writes it.
        return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if sqlite else moment

    paid = state != "PENDING"
    values = (f"'{MERCHANT_ID}', @PID@, 'fill-' || @N@, '{APP_ID}', {AMOUNT_FEN}, 'CNY', "
              "'Oolong tea, 250 g', '[]', :client, 'POST_PRODUCT_CARD', :channel, '', '{}', :state, 1, "
              f":created, :created, :expires, {':created' if paid else 'NULL'}")
    if sqlite:
        select = ("WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i < :hi - 1) "
                  f"INSERT INTO payments ({COLUMNS}) SELECT "
                  + values.replace("@PID@", "'pay_' || printf('%026d', i)").replace("@N@", "i") + " FROM n")
    else:
        select = (f"INSERT INTO payments ({COLUMNS}) SELECT "
                  + values.replace("@PID@", "'pay_' || lpad(i::text, 26, '0')").replace("@N@", "i")
                  + " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i")
    try:
        step = 200_000
        for lo in range(start, stop, step):
            with engine.begin() as conn:
                conn.execute(text(select), {
                    "lo": lo, "hi": min(stop, lo + step), "client": CLIENT, "channel": channel, "state": state,
                    "created": at(now - timedelta(minutes=1)), "expires": at(now + timedelta(hours=2))})
        settle(engine)
    finally:
        engine.dispose()


def settle(engine: Engine, tables: tuple[str, ...] = ("payments",)) -> None:
    """Leave the filled tables as tables that grew over months would be: statistics current, nothing
    left to vacuum, the fill's pages written back. Otherwise the measured window pays for the fill
    (autovacuum, a checkpoint of a million fresh rows, SQLite's first checkpoint of a WAL of hundreds of
    MB) instead of showing what the size alone costs. A plain engine's (the gateway's SQLite engine opens
    a transaction even in autocommit, in which no checkpoint can run)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            for table in tables:
                conn.execute(text(f"ANALYZE {table}"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            return
        for table in tables:
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        try:
            conn.execute(text("CHECKPOINT"))  # superuser or pg_checkpoint; the bench's default URL is both
        except DBAPIError as exc:
            print(f"bench: no CHECKPOINT after the fill ({exc.orig}); the first window may pay for it")


def count_payments(database_url: str, state: str | None = None) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if state is None:
                return int(conn.execute(text("SELECT count(*) FROM payments")).scalar_one())
            return int(conn.execute(text("SELECT count(*) FROM payments WHERE state = :s"), {"s": state}).scalar_one())
    finally:
        engine.dispose()


def count_events(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
    finally:
        engine.dispose()
