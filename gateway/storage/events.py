"""Events (the outbox): numbered per payment, claimed for webhook delivery, purged once delivered.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, tuple_, update

from gateway.domain.events import Event, EventState
from gateway.domain.hooks import HookRunState
from gateway.storage.tables import apps, events, hook_runs


def _event(row: Any) -> Event:
    return Event(id=row.event_id, merchant_id=row.merchant_id, app_id=row.app_id, type=row.type,
                 payload=row.payload, created_at=row.created_at, state=EventState(row.state),
                 attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                 payment_id=row.payment_id, payment=row.payment_snapshot, sequence=row.sequence)


# PostgreSQL numbers an event from events_sequence_seq (the column's default); SQLite, which has one writer
# at a time (BEGIN IMMEDIATE), from the largest number so far, found through the unique index.
_INSERT_EVENT = events.insert()
_INSERT_EVENT_NUMBERED = events.insert().values(
    sequence=select(func.coalesce(func.max(events.c.sequence), 0) + 1).scalar_subquery())
_EVENTS_OF_PAYMENT = (
    select(events)
    .where(events.c.merchant_id == bindparam("merchant_id"), events.c.payment_id == bindparam("payment_id"),
           events.c.sequence > bindparam("after"))
    .order_by(events.c.sequence).limit(bindparam("limit")))
_LAST_OF_PAYMENT = select(func.max(events.c.sequence)).where(
    events.c.merchant_id == bindparam("merchant_id"), events.c.payment_id == bindparam("payment_id"))


class SqlEventRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, event: Event) -> None:
        insert = _INSERT_EVENT if self.conn.dialect.name == "postgresql" else _INSERT_EVENT_NUMBERED
        self.conn.execute(insert, {
            "merchant_id": event.merchant_id, "event_id": event.id, "app_id": event.app_id, "type": event.type,
            "payload": dict(event.payload), "created_at": event.created_at, "state": event.state.value,
            "attempts": event.attempts, "next_attempt_at": event.next_attempt_at or event.created_at,
            "last_error": event.last_error, "hooks_pending": True, "payment_id": event.payment_id,
            "payment_snapshot": dict(event.payment) if event.payment is not None else None})

    def of_payment(self, merchant_id: str, payment_id: str, after: int, limit: int) -> list[Event]:
        return [_event(row) for row in self.conn.execute(_EVENTS_OF_PAYMENT, {
            "merchant_id": merchant_id, "payment_id": payment_id, "after": after, "limit": limit})]

    def last_of_payment(self, merchant_id: str, payment_id: str) -> int:
        last = self.conn.execute(_LAST_OF_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).scalar()
        return int(last) if last is not None else 0

    def get(self, event_id: str) -> Event | None:
        row = self.conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return _event(row) if row else None

    def list(self, state: EventState | None, limit: int) -> list[Event]:
        stmt = select(events).order_by(events.c.event_id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(events.c.state == state.value)
        return [_event(row) for row in self.conn.execute(stmt)]

    def claim_due(self, now: datetime, until: datetime, limit: int,
                  exclude_apps: Collection[str] = ()) -> builtins.list[Event]:
        c = events.c
        # Only events of apps that registered a webhook URL: the others wait, unattempted, until they do.
        stmt = (select(events).join(apps, apps.c.app_id == c.app_id)
                .where(c.state == EventState.PENDING.value, c.next_attempt_at <= now, apps.c.webhook_url.is_not(None))
                .order_by(c.next_attempt_at, c.event_id).limit(limit))
        if exclude_apps:  # apps this dispatcher is sending to right now: their events wait for that to end
            stmt = stmt.where(c.app_id.not_in(sorted(exclude_apps)))
        if self.conn.dialect.name == "postgresql":
            # Rows another dispatcher is claiming are skipped; once it commits they are due only at `until`.
            stmt = stmt.with_for_update(of=events, skip_locked=True)
        claimed = [_event(row) for row in self.conn.execute(stmt)]
        if claimed:
            self.conn.execute(update(events).where(tuple_(c.merchant_id, c.event_id).in_(
                [(e.merchant_id, e.id) for e in claimed])).values(next_attempt_at=until))
        return claimed

    def _current(self, event: Event) -> Any:
        c = events.c
        return update(events).where(c.merchant_id == event.merchant_id, c.event_id == event.id,
                                    c.state == EventState.PENDING.value, c.attempts == event.attempts)

    def mark_delivered(self, event: Event, at: datetime) -> bool:
        return self.conn.execute(self._current(event).values(
            state=EventState.DELIVERED.value, attempts=event.attempts + 1, next_attempt_at=at,
            last_error="")).rowcount == 1

    def mark_failed(self, event: Event, *, park: bool, retry_at: datetime, error: str) -> bool:
        state = EventState.PARKED if park else EventState.PENDING
        return self.conn.execute(self._current(event).values(
            state=state.value, attempts=event.attempts + 1, next_attempt_at=retry_at,
            last_error=error[:1000])).rowcount == 1

    def release(self, event: Event, at: datetime) -> bool:
        c = events.c
        return self.conn.execute(update(events).where(
            c.merchant_id == event.merchant_id, c.event_id == event.id, c.state == EventState.PENDING.value,
            c.attempts == event.attempts).values(next_attempt_at=at)).rowcount == 1

    def redeliver(self, event_id: str, at: datetime) -> bool:
        return self.conn.execute(update(events).where(
            events.c.event_id == event_id, events.c.state == EventState.PARKED.value,
        ).values(state=EventState.PENDING.value, attempts=0, next_attempt_at=at)).rowcount == 1

    def purge_delivered(self, delivered_before: datetime, limit: int) -> int:
        c, h = events.c, hook_runs.c
        unfinished = select(h.event_id).where(h.merchant_id == c.merchant_id, h.event_id == c.event_id,
                                              h.state != HookRunState.DONE.value).exists()
        # A delivered event's next_attempt_at is when it was delivered (mark_delivered).
        keys = [tuple(row) for row in self.conn.execute(
            select(c.merchant_id, c.event_id)
            .where(c.state == EventState.DELIVERED.value, c.next_attempt_at < delivered_before,
                   c.hooks_pending.is_(False), ~unfinished)
            .order_by(c.next_attempt_at).limit(limit))]
        if not keys:
            return 0
        # The events' rows before their hook runs': the lock order of gateway/storage/__init__.py.
        purged = int(self.conn.execute(delete(events).where(tuple_(c.merchant_id, c.event_id).in_(keys))).rowcount)
        self.conn.execute(delete(hook_runs).where(tuple_(h.merchant_id, h.event_id).in_(keys)))
        return purged
