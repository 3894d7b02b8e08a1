"""The one writer thread: payments queued by the event loop, inserted in batches, one COMMIT per batch.

gateway/storage/group_commit.py shares one connection and one COMMIT among the *threads* queued on its lock,
and commits as soon as nobody is queued. Called from a single thread it would therefore COMMIT (fsync, with
`synchronous = FULL`) once per payment. This thread keeps its discipline instead: each payment in a SAVEPOINT
of the batch's transaction (BEGIN IMMEDIATE, gateway/storage/engine.py), a clashing out_trade_no rolled back
to its savepoint alone, and nobody answered before the batch's COMMIT returned (a failed COMMIT fails every
caller of the batch). The statements are the gateway's own repositories (SqlUnitOfWork bound to the
connection); the event loop hears about a batch once, through one call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from gateway.domain.errors import AlreadyExists
from gateway.domain.payments import Payment
from gateway.storage.unit_of_work import SqlUnitOfWork

MAX_BATCH = 64


@dataclass(slots=True)
class _Pending:
    payment: Payment
    future: asyncio.Future[Payment]


class BatchWriter:
    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, max_batch: int = MAX_BATCH,
                 gather_seconds: float = 0.0):
        self.engine = engine
        self.loop = loop
        self.max_batch = max_batch
        # How long the first payment of a batch waits for company: the loop makes a payment every ~2 ms and a
        # COMMIT takes less, so without waiting most batches hold one or two payments, each paying a COMMIT.
        self.gather_seconds = gather_seconds
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="spike-writer", daemon=True)
        self.commits = 0
        self.committed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def add(self, payment: Payment) -> asyncio.Future[Payment]:
        """Queue `payment`; the future resolves once its batch committed (AlreadyExists for a used out_trade_no)."""
        future: asyncio.Future[Payment] = self.loop.create_future()
        self._queue.put(_Pending(payment, future))
        return future

    # --- the writer thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        conn = self.engine.connect().execution_options(sqlite_immediate=True)
        uow = SqlUnitOfWork(self.engine, write=True)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                deadline = time.monotonic() + self.gather_seconds
                while len(batch) < self.max_batch:
                    try:
                        left = deadline - time.monotonic()
                        item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.put(None)  # stop after this batch
                        break
                    batch.append(item)
                outcomes = self._write(conn, uow, batch)
                self.loop.call_soon_threadsafe(_resolve, outcomes)
        finally:
            conn.close()

    def _write(self, conn: Connection, uow: SqlUnitOfWork,
               batch: list[_Pending]) -> list[tuple[_Pending, Payment | BaseException]]:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        outcomes: list[tuple[_Pending, Payment | BaseException]] = []
        try:
            conn.begin()
            uow._attach(conn)  # the gateway's repositories, on this connection
            for item in batch:
                dbapi.execute("SAVEPOINT uow")
                try:
                    outcomes.append((item, self._insert(uow, item.payment)))
                except Exception as exc:  # noqa: BLE001 - this caller's answer; the batch goes on
                    dbapi.execute("ROLLBACK TO SAVEPOINT uow")
                    outcomes.append((item, exc))
                dbapi.execute("RELEASE SAVEPOINT uow")
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - nothing of the batch is stored: every caller hears it
            with contextlib.suppress(Exception):
                conn.rollback()
            return [(item, exc) for item in batch]
        self.commits += 1
        self.committed += len(batch)
        return outcomes

    @staticmethod
    def _insert(uow: SqlUnitOfWork, payment: Payment) -> Payment:
        # PaymentService.create's transaction without an idempotency-key (the spike refuses one).
        if uow.payments.add(payment):
            return payment
        existing = uow.payments.get_by_out_trade_no(payment.merchant_id, payment.out_trade_no)
        raise AlreadyExists(
            f"merchant {payment.merchant_id} already has a payment with out_trade_no {payment.out_trade_no!r}; "
            "use a new out_trade_no for a new order", reason="OUT_TRADE_NO_IN_USE",
            metadata={"out_trade_no": payment.out_trade_no, "payment": existing.id if existing else ""})


def _resolve(outcomes: list[tuple[_Pending, Payment | BaseException]]) -> None:
    for item, outcome in outcomes:
        if item.future.done():  # the call was cancelled meanwhile
            continue
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
