"""The SQL unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from gateway.storage.repositories import (
    SqlAccessRepository,
    SqlIdempotencyRepository,
    SqlMerchantRepository,
    SqlPaymentRepository,
)


class SqlUnitOfWork:
    def __init__(self, engine: Engine, write: bool):
        self.engine = engine
        self.write = write
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        conn = self.engine.connect()
        if self.write:
            conn = conn.execution_options(sqlite_immediate=True)
        conn.begin()
        self._conn = conn
        self.payments = SqlPaymentRepository(conn)
        self.idempotency = SqlIdempotencyRepository(conn)
        self.merchants = SqlMerchantRepository(conn)
        self.access = SqlAccessRepository(conn)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._conn is not None
        try:
            self._conn.rollback()  # a no-op after commit()
        finally:
            self._conn.close()
            self._conn = None

    def commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine):
        self.engine = engine

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write)
