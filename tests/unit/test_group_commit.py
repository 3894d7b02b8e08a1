"""SQLite group commit (gateway/storage/group_commit.py): many writers, one COMMIT, and nothing answered
before it is durable. No timing is asserted; batching is forced with a barrier."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.group_commit import BatchFailed, GroupUnitOfWork
from gateway.storage.tables import merchants
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

THREADS = 12


@pytest.fixture
def factory(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate.upgrade(engine)
    yield SqlUnitOfWorkFactory(engine)
    engine.dispose()


def _merchant(merchant_id: str) -> Merchant:
    return Merchant(id=merchant_id, display_name="Tea", state=MerchantState.APPROVED,
                    settlement_account_verified=True, business_category="general",
                    settlement_plan=SettlementPlan.T15, created_at=datetime.now(UTC))


def _count(factory: Any) -> int:
    with factory.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(merchants)).scalar_one()


def _together(fn: Any, n: int = THREADS) -> list[Any]:
    """Run fn(i) on n threads that all enter their unit of work before any of them commits."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        try:
            return fn(i, barrier)
        except Exception as exc:  # noqa: BLE001 - returned for the assertions
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_sqlite_writes_share_commits_and_conflicts_are_decided_in_order(factory: Any) -> None:
    group = factory._group
    assert group is not None and isinstance(factory(write=True), GroupUnitOfWork)

    def add(i: int, barrier: threading.Barrier) -> bool:
        barrier.wait()
        with factory(write=True) as uow:
            added = uow.merchants.add(_merchant(f"shop-{i % 4}"))  # three writers per id
            uow.commit()
        return added

    results = _together(add)
    assert sorted(results) == [False] * (THREADS - 4) + [True] * 4
    assert _count(factory) == 4
    assert group.committed == THREADS and group.commits <= THREADS


def test_work_left_without_commit_leaves_nothing_and_others_are_kept(factory: Any) -> None:
    def add(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with factory(write=True) as uow:
            uow.merchants.add(_merchant(f"shop-{i}"))
            if i % 2:
                return "rolled back"
            uow.commit()
        return "committed"

    assert _together(add).count("committed") == THREADS // 2
    with factory() as uow:
        assert [m.id for m in uow.merchants.list(None, 100)] == sorted(f"shop-{i}" for i in range(0, THREADS, 2))


def test_a_failed_commit_fails_every_caller_of_the_batch_and_stores_nothing(factory: Any) -> None:
    group = factory._group
    with factory(write=True) as uow:  # opens the shared connection
        uow.merchants.add(_merchant("before"))
        uow.commit()
    conn = group._conn
    real_commit = conn.commit
    failing = threading.Event()
    failing.set()

    def commit() -> None:
        if failing.is_set():
            failing.clear()
            raise OSError("disk full")
        real_commit()

    conn.commit = commit  # type: ignore[method-assign]

    def add(i: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        with factory(write=True) as uow:
            uow.merchants.add(_merchant(f"shop-{i}"))
            uow.commit()
        return "committed"

    results = _together(add, 4)
    failed = [r for r in results if isinstance(r, BatchFailed)]
    assert failed, results
    assert all(r == "committed" or isinstance(r, BatchFailed) for r in results)
    with factory() as uow:
        stored = {m.id for m in uow.merchants.list(None, 100)}
    # Exactly the callers that were answered "committed" have their row; "before" survived.
    assert stored == {"before"} | {f"shop-{i}" for i, r in enumerate(results) if r == "committed"}


def test_a_committed_unit_of_work_cannot_be_used_again(factory: Any) -> None:
    with factory(write=True) as uow:
        uow.commit()
        with pytest.raises(RuntimeError, match="has committed"):
            uow.merchants.get("shop-1")
