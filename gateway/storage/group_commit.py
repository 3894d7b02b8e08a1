"""Group commit for SQLite: the write transactions of one process share one connection, and one COMMIT
(one fsync) makes the work of every caller queued at that moment durable together.

SQLite has a single writer, so this process's writers already ran one at a time (they queued on a lock
before BEGIN IMMEDIATE). Each of them paid a pool check-out, BEGIN IMMEDIATE, COMMIT (fsync) and the
check-in. Now:

* a writer takes the connection's lock, and runs its unit of work inside a SAVEPOINT of the batch's
  transaction (BEGIN IMMEDIATE when it is the first of a batch);
* `commit()` releases the savepoint (the work joins the batch) and gives up the lock. If nobody is
  queued for the lock (or the batch is full), this writer COMMITs the batch itself; otherwise it leaves
  that to whoever comes last. Either way `commit()` returns only once the batch's COMMIT has returned:
  **nothing is acknowledged before it is durable**, and if that COMMIT fails every caller of the batch
  gets the error, none an answer;
* a unit of work left without `commit()` rolls back to its savepoint: nothing of it remains, the others'
  work is untouched. Because it may have read a row of the open batch (an idempotency record, a
  clashing out_trade_no), it too waits for the batch's COMMIT before it answers, and fails if that fails.

Callers see exactly what they saw when transactions ran one after the other: each unit of work sees the
work of those before it and none after, and every conflict (ON CONFLICT DO NOTHING, conditional
UPDATEs) is decided by the database in that same order. Readers (separate connections) see a batch when
it commits, as they saw each transaction.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Engine, event

from gateway.storage.unit_of_work import SqlUnitOfWork

MAX_BATCH = 64  # units of work per COMMIT at most (the gRPC thread pool bounds it first)


class _Finished:
    """Stands in for the connection once a unit of work has committed: it must not be used again."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("this unit of work has committed; open a new one for more work")


_FINISHED = _Finished()


class Batch:
    """One transaction's worth of units of work; `wait()` returns once it committed (raises if it failed)."""

    __slots__ = ("_done", "error", "members")

    def __init__(self) -> None:
        self.members = 0  # units of work whose savepoint was released into this transaction
        self.error: BaseException | None = None
        self._done = threading.Event()

    def resolve(self, error: BaseException | None) -> None:
        self.error = error
        self._done.set()

    def wait(self) -> None:
        self._done.wait()
        if self.error is not None:
            raise BatchFailed("the database did not commit this write; nothing was stored") from self.error


class BatchFailed(RuntimeError):
    """The COMMIT of the batch a unit of work belonged to failed: its work was not stored."""


class GroupCommit:
    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH):
        self.engine = engine
        self.max_batch = max_batch
        self._lock = threading.Lock()  # owns the connection and the open batch
        self._count = threading.Lock()
        self._queued = 0  # threads waiting for _lock
        self._conn: Connection | None = None
        self._batch: Batch | None = None
        self.commits = 0  # COMMITs issued and units of work they carried: how well batching works
        self.committed = 0
        event.listen(engine, "engine_disposed", self._on_dispose)

    def unit_of_work(self) -> GroupUnitOfWork:
        return GroupUnitOfWork(self.engine, self)

    # --- called by GroupUnitOfWork ------------------------------------------------------------------

    def enter(self) -> tuple[Connection, Batch]:
        """Take the connection and open this unit of work's savepoint; returns it and the open batch."""
        with self._count:
            self._queued += 1
        self._lock.acquire()
        with self._count:
            self._queued -= 1
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(sqlite_immediate=True)
            if self._batch is None:
                self._conn.begin()  # BEGIN IMMEDIATE (gateway/storage/engine.py)
                self._batch = Batch()
            self.savepoint("SAVEPOINT uow")
            return self._conn, self._batch
        except BaseException as exc:
            self._broken(exc)
            self._lock.release()
            raise

    def savepoint(self, sql: str) -> None:
        """SAVEPOINT / RELEASE / ROLLBACK TO on the DB-API connection: one at a time on this connection, so
        one fixed name; and no SQLAlchemy savepoint construct to compile (its names change every time)."""
        assert self._conn is not None
        self._conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]

    def leave(self, batch: Batch, *, joined: bool) -> None:
        """Give the connection up (the caller holds it). `joined`: the unit of work's savepoint was released
        into the batch. COMMIT here when nobody else is queued to add to the batch, or it is full."""
        try:
            if joined:
                batch.members += 1
            if self._queued == 0 or batch.members >= self.max_batch:
                self._finish(batch)
        finally:
            self._lock.release()

    def broken(self, exc: BaseException) -> None:
        """A savepoint could not be released or rolled back: the whole batch is in doubt. (Lock held.)"""
        try:
            self._broken(exc)
        finally:
            self._lock.release()

    # --- with the lock held -------------------------------------------------------------------------

    def _finish(self, batch: Batch) -> None:
        assert self._conn is not None and batch is self._batch
        self._batch = None
        if batch.members == 0:  # only rolled-back work: end the empty transaction, free SQLite's lock
            try:
                self._conn.rollback()
            except BaseException as exc:  # noqa: BLE001 - handed to the batch's waiters
                self._fail(batch, exc)
                return
            batch.resolve(None)
            return
        try:
            self._conn.commit()
        except BaseException as exc:  # noqa: BLE001 - every waiter of the batch raises BatchFailed from it
            self._fail(batch, exc)
            return
        self.commits += 1
        self.committed += batch.members
        batch.resolve(None)

    def _fail(self, batch: Batch, exc: BaseException) -> None:
        self._discard_connection()
        batch.resolve(exc)
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt and the like go on, once the waiters are released

    def _broken(self, exc: BaseException) -> None:
        batch, self._batch = self._batch, None
        self._discard_connection()
        if batch is not None:
            batch.resolve(exc)

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # rolls back whatever is open and drops the DB-API connection
            finally:
                conn.close()

    def _on_dispose(self, _engine: Engine) -> None:
        with self._lock:
            batch, self._batch = self._batch, None
            self._discard_connection()
            if batch is not None:
                batch.resolve(RuntimeError("the database engine was disposed before this write committed"))


class GroupUnitOfWork(SqlUnitOfWork):
    """A write unit of work in a group-committed batch (see the module docstring)."""

    def __init__(self, engine: Engine, group: GroupCommit):
        super().__init__(engine, write=True)
        self._group = group
        self._batch: Batch | None = None

    def __enter__(self) -> GroupUnitOfWork:
        conn, self._batch = self._group.enter()
        self._conn = conn
        self._attach(conn)
        return self

    def commit(self) -> None:
        batch = self._batch
        assert batch is not None, "commit() outside the with block"
        self._end(batch, "RELEASE SAVEPOINT uow", joined=True)  # the work joins the batch
        batch.wait()

    def __exit__(self, *exc: Any) -> None:
        batch = self._batch
        if batch is None:
            return  # committed (or never entered)
        # Nothing of this unit of work remains; RELEASE ends the (now empty) savepoint.
        self._end(batch, "ROLLBACK TO SAVEPOINT uow", "RELEASE SAVEPOINT uow", joined=False)
        if batch.members:
            # What this unit of work read may be another caller's work that is not durable yet.
            batch.wait()

    def _end(self, batch: Batch, *statements: str, joined: bool) -> None:
        """Close this unit of work's savepoint and give the connection up; if a statement fails, the whole
        batch is in doubt and fails."""
        try:
            for sql in statements:
                self._group.savepoint(sql)
        except BaseException as exc:
            self._done()
            self._group.broken(exc)
            raise
        self._done()
        self._group.leave(batch, joined=joined)

    def _done(self) -> None:
        self._batch = None
        self._conn = None
        self._attach(_FINISHED)
