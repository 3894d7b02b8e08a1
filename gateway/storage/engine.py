"""Engines for the two supported databases, configured once per process (never per request)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///cashier.db"


def make_engine(url: str, *, pool_size: int = 16, sqlite_synchronous: str = "FULL") -> Engine:
    """SQLite gets WAL, a busy timeout and explicit transactions; PostgreSQL a sized pool.

    Both hide SQL parameters from errors and logs: they hold what strangers sent (a notification's URL,
    say) and what must stay secret (key hashes).

    SQLite's `synchronous=FULL` is the default because an acknowledged payment must survive a power
    cut; NORMAL is faster and only loses the last commits on power loss, not on a process crash.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, pool_size, sqlite_synchronous)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                             hide_parameters=True)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: str, pool_size: int, synchronous: str) -> Engine:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
        raise ValueError(f"sqlite synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True,
                           connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock at BEGIN so that they wait for each other (busy_timeout) instead of
        # failing with SQLITE_BUSY when a read lock cannot be upgraded mid-transaction.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
