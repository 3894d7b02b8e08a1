"""The SQL unit of work: one connection, one transaction, rolled back unless committed.

Its repositories are built on first use (a unit of work that reads one payment builds one repository),
each bound to the unit of work's connection; the factory that hands units of work out is
unit_of_work_factory.py. Lock order: gateway/storage/__init__.py.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Engine

from gateway.storage.access import SqlAccessRepository
from gateway.storage.events import SqlEventRepository
from gateway.storage.flags import SqlFlagRepository
from gateway.storage.hook_runs import SqlHookRunRepository
from gateway.storage.idempotency import SqlIdempotencyRepository
from gateway.storage.merchants import SqlMerchantRepository
from gateway.storage.payments import SqlPaymentRepository
from gateway.storage.refunds import SqlRefundRepository

# The cached_property names below: dropped from the instance when the connection changes.
_REPOSITORIES = ("payments", "idempotency", "merchants", "access", "refunds", "events", "hook_runs", "flags")


class SqlUnitOfWork:
    def __init__(self, engine: Engine, write: bool, write_lock: threading.Lock | None = None):
        self.engine = engine
        self.write = write
        self._write_lock = write_lock if write else None
        self._conn: Connection | None = None
        self._bound: Any = None  # what the repositories run on: the connection, or _FINISHED after commit

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
        """Bind the repositories to `conn` (also used by the group-commit unit of work): those built so far
        are dropped, the next use of each builds it on `conn`."""
        self._bound = conn
        cached = self.__dict__
        for name in _REPOSITORIES:
            cached.pop(name, None)

    # One property per repository, built on first use and then a plain attribute of the instance.
    @cached_property
    def payments(self) -> SqlPaymentRepository:
        return SqlPaymentRepository(self._bound)

    @cached_property
    def idempotency(self) -> SqlIdempotencyRepository:
        return SqlIdempotencyRepository(self._bound)

    @cached_property
    def merchants(self) -> SqlMerchantRepository:
        return SqlMerchantRepository(self._bound)

    @cached_property
    def access(self) -> SqlAccessRepository:
        return SqlAccessRepository(self._bound)

    @cached_property
    def refunds(self) -> SqlRefundRepository:
        return SqlRefundRepository(self._bound)

    @cached_property
    def events(self) -> SqlEventRepository:
        return SqlEventRepository(self._bound)

    @cached_property
    def hook_runs(self) -> SqlHookRunRepository:
        return SqlHookRunRepository(self._bound)

    @cached_property
    def flags(self) -> SqlFlagRepository:
        return SqlFlagRepository(self._bound)

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
