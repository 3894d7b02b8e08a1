"""The SQL unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.storage.flags import SqlFlagRepository
from gateway.storage.hook_runs import SqlHookRunRepository
from gateway.storage.repositories import (
    SqlAccessRepository,
    SqlEventRepository,
    SqlIdempotencyRepository,
    SqlMerchantRepository,
    SqlPaymentRepository,
    SqlRefundRepository,
)


class SqlUnitOfWork:
    def __init__(self, engine: Engine, write: bool, write_lock: threading.Lock | None = None):
        self.engine = engine
        self.write = write
        self._write_lock = write_lock if write else None
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            self._open()
        except BaseException:
            if self._write_lock is not None:
                self._write_lock.release()
            raise
        return self

    def _open(self) -> None:
        conn = self.engine.connect()
        if self.write:
            conn = conn.execution_options(sqlite_immediate=True)
        elif conn.dialect.name == "postgresql":
            # Under READ COMMITTED every statement takes its own snapshot, in a transaction or not, so a
            # read gains nothing from BEGIN … ROLLBACK but two round trips (psycopg sends BEGIN on its
            # own), and would hold a snapshot and a pooled connection's transaction open meanwhile.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.begin()
        self._conn = conn
        self._attach(conn)

    def _attach(self, conn: Any) -> None:
        """Bind every repository to `conn` (also used by the group-commit unit of work)."""
        self.payments = SqlPaymentRepository(conn)
        self.idempotency = SqlIdempotencyRepository(conn)
        self.merchants = SqlMerchantRepository(conn)
        self.access = SqlAccessRepository(conn)
        self.refunds = SqlRefundRepository(conn)
        self.events = SqlEventRepository(conn)
        self.hook_runs = SqlHookRunRepository(conn)
        self.flags = SqlFlagRepository(conn)

    def __exit__(self, *exc: Any) -> None:
        assert self._conn is not None
        try:
            self._conn.rollback()  # a no-op after commit()
        finally:
            self._conn.close()
            self._conn = None
            if self._write_lock is not None:
                self._write_lock.release()

    def commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, *, group_commit: bool = True):
        self.engine = engine
        # SQLite: the write transactions of this process share one connection and are committed in
        # groups, one COMMIT (one fsync) for all the callers queued at that moment (group_commit.py).
        self._group = None
        if group_commit and engine.dialect.name == "sqlite":
            from gateway.storage.group_commit import GroupCommit  # it builds on SqlUnitOfWork above

            self._group = GroupCommit(engine)
        # SQLite has one writer at a time. Threads of this process queue on a Python lock, which wakes
        # the next writer at once; left to SQLite's busy handler they would sleep in growing steps
        # (up to 100 ms), which is what made p99 latency explode under load. Other processes still
        # meet the busy handler, but only one thread per process at a time.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        if write and self._group is not None:
            return self._group.unit_of_work()
        return SqlUnitOfWork(self.engine, write, self._write_lock)
