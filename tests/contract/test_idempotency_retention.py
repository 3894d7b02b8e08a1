"""Idempotency keys are kept at least 24 hours, then purged (on both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway.service.admin import AdminService
from gateway.service.ports import IdempotencyRecord
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def test_keys_survive_24_hours_then_go(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    migrate.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    with uow(write=True) as tx:
        assert tx.idempotency.claim(IdempotencyRecord("shop-1", "app-1", "k-1", "cashier.v1.CashierService.CreatePayment",
                                                    "f" * 64, "pay_1", T0, b"answer")) is None
        tx.commit()

    def purge(hours_later: float, retention: timedelta) -> int:
        return AdminService(uow, clock=lambda: T0 + timedelta(hours=hours_later)).purge_idempotency_keys(retention)

    assert purge(23.9, timedelta(hours=1)) == 0  # a shorter retention is raised to the promised 24 h
    assert purge(47, timedelta(hours=48)) == 0
    with uow() as tx:
        assert tx.idempotency.get("shop-1", "app-1", "k-1") is not None
    assert purge(49, timedelta(hours=48)) == 1
    with uow() as tx:
        assert tx.idempotency.get("shop-1", "app-1", "k-1") is None
    engine.dispose()
