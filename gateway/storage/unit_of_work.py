"""The SQL unit of work: one connection, one transaction, rolled back unless committed.

Its repositories are built on first use (a unit of work that reads one payment builds one repository),
each bound to the unit of work's connection; the factory that hands units of work out is
unit_of_work_factory.py. Lock order: gateway/storage/__init__.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Connection, Engine

from gateway.storage.access import SqlAccessRepository
from gateway.storage.application_documents import SqlDocumentRepository
from gateway.storage.applications import SqlApplicationRepository
from gateway.storage.audit import SqlAuditRepository
from gateway.storage.deposits import SqlDepositRepository
from gateway.storage.events import SqlEventRepository
from gateway.storage.flags import SqlFlagRepository
from gateway.storage.hook_runs import SqlHookRunRepository
from gateway.storage.idempotency import SqlIdempotencyRepository
from gateway.storage.merchants import SqlMerchantRepository
from gateway.storage.payments import SqlPaymentRepository
from gateway.storage.refunds import SqlRefundRepository
from gateway.storage.settlement_plans import SqlSettlementPlanRepository
from gateway.storage.square import SqlMerchantSetupRepository, SqlSquareRepository
from gateway.storage.verification_attempts import SqlVerificationRepository
from settlement.storage.backfill import SqlLedgerBackfill
from settlement.storage.ledger import SqlLedgerRepository
from settlement.storage.payouts import SqlPayoutRepository
from settlement.storage.reconciliation import SqlReconciliationRepository
from settlement.storage.release import SqlReleaseRepository
from settlement.storage.statements import SqlStatementRepository

# The repository attributes below: dropped from the instance when the connection changes.
_REPOSITORIES = ("payments", "idempotency", "merchants", "access", "refunds", "events", "hook_runs", "flags",
                 # merchant onboarding (gateway/service/onboarding.py)
                 "applications", "documents", "verifications", "plans", "deposits", "audit", "square",
                 "merchant_setup",
                 # settlement (settlement/storage): the ledger, appended to in the transaction of its cause
                 "ledger", "ledger_backfill", "ledger_release", "settlement_payouts",
                 "settlement_statements", "reconciliations")


R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository built on first use, on the unit of work's current connection, then a plain attribute of
    that unit of work (a non-data descriptor: the instance's own attribute wins once set). Not
    functools.cached_property: on Python 3.11 that takes one lock shared by every instance, which all the
    server's threads would contend on for every unit of work."""

    def __init__(self, build: Callable[[Any], R]):
        self.build = build
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, uow: None, owner: type | None = None) -> _Repository[R]: ...
    @overload
    def __get__(self, uow: SqlUnitOfWork, owner: type | None = None) -> R: ...
    def __get__(self, uow: SqlUnitOfWork | None, owner: type | None = None) -> R | _Repository[R]:
        if uow is None:
            return self
        repository = self.build(uow._bound)
        uow.__dict__[self.name] = repository
        return repository


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

    # One attribute per repository, built on first use and then a plain attribute of the instance.
    payments = _Repository(SqlPaymentRepository)
    idempotency = _Repository(SqlIdempotencyRepository)
    merchants = _Repository(SqlMerchantRepository)
    access = _Repository(SqlAccessRepository)
    refunds = _Repository(SqlRefundRepository)
    events = _Repository(SqlEventRepository)
    hook_runs = _Repository(SqlHookRunRepository)
    flags = _Repository(SqlFlagRepository)
    applications = _Repository(SqlApplicationRepository)
    documents = _Repository(SqlDocumentRepository)
    verifications = _Repository(SqlVerificationRepository)
    plans = _Repository(SqlSettlementPlanRepository)
    deposits = _Repository(SqlDepositRepository)
    audit = _Repository(SqlAuditRepository)
    square = _Repository(SqlSquareRepository)
    merchant_setup = _Repository(SqlMerchantSetupRepository)
    ledger = _Repository(SqlLedgerRepository)
    ledger_backfill = _Repository(SqlLedgerBackfill)
    ledger_release = _Repository(SqlReleaseRepository)
    settlement_payouts = _Repository(SqlPayoutRepository)
    settlement_statements = _Repository(SqlStatementRepository)
    reconciliations = _Repository(SqlReconciliationRepository)

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
