"""Delivered events are forgotten after the retention, with their done hook runs; nothing that still has
to reach an app, an operator or a plugin is (on both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gateway.domain.events import Event
from gateway.service.admin import AdminService
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
RETENTION = timedelta(days=30)
HOOK = {"payment.succeeded": [("buyer_message", "cashier_payment_succeeded")]}


def _event(name: str, kind: str, at: datetime) -> Event:
    return Event.create(type=kind, merchant_id="shop-1", app_id="app-1", data={"name": name}, now=at)


def test_only_old_delivered_events_with_every_hook_done_go(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    migrate.upgrade(engine)
    uow = SqlUnitOfWorkFactory(engine)
    old, recent = T0, T0 + timedelta(days=29)
    made = {
        "old delivered": _event("old delivered", "payment.closed", old),
        "recent delivered": _event("recent delivered", "payment.closed", recent),
        "old parked": _event("old parked", "payment.closed", old),
        "old undelivered": _event("old undelivered", "payment.closed", old),
        "old delivered, hook done": _event("old delivered, hook done", "payment.succeeded", old),
        "old delivered, hook parked": _event("old delivered, hook parked", "payment.succeeded", old),
    }
    with uow(write=True) as tx:
        for event in made.values():
            tx.events.add(event)
        tx.hook_runs.fan_out(HOOK, old, 100)
        runs = {run.event_id: run for run in tx.hook_runs.claim_due(old, old, 100)}
        tx.hook_runs.mark_done(runs[made["old delivered, hook done"].id], old)
        tx.hook_runs.mark_failed(runs[made["old delivered, hook parked"].id], park=True, retry_at=old, error="x")
        # Written after the fan-out: its hooks are still to be handed out.
        made["old delivered, hooks not fanned out"] = _event("old delivered, hooks not fanned out",
                                                              "payment.succeeded", old)
        tx.events.add(made["old delivered, hooks not fanned out"])
        tx.commit()
    with uow(write=True) as tx:
        for name, event in made.items():
            if "delivered" in name and "undelivered" not in name:
                assert tx.events.mark_delivered(event, event.created_at)
            elif name == "old parked":
                assert tx.events.mark_failed(event, park=True, retry_at=old, error="HTTP 500")
        tx.commit()

    admin = AdminService(uow, clock=lambda: T0 + RETENTION + timedelta(hours=1))
    assert admin.purge_delivered_events(RETENTION, batch=1) == 2  # batches of one: the loop goes on
    with uow() as tx:
        left = {name for name, event in made.items() if tx.events.get(event.id) is not None}
        hook_events = {run.event_id for run in tx.hook_runs.list(None, 100)}
    assert left == set(made) - {"old delivered", "old delivered, hook done"}
    assert hook_events == {made["old delivered, hook parked"].id}  # the done run went with its event
    assert admin.purge_delivered_events(RETENTION) == 0
    engine.dispose()
