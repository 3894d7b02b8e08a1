"""Lifecycle hook runs: the outbox fanned out to the plugins implementing each event's hook, claimed
with row locks (FOR UPDATE SKIP LOCKED on PostgreSQL) like the webhook events.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.domain.hooks import HookRun, HookRunState
from gateway.storage.tables import events, hook_runs


def _run(row: Any) -> HookRun:
    return HookRun(merchant_id=row.merchant_id, event_id=row.event_id, plugin=row.plugin, hook=row.hook,
                   state=HookRunState(row.state), attempts=row.attempts, next_attempt_at=row.next_attempt_at,
                   created_at=row.created_at, last_error=row.last_error, event_type=row.type,
                   event_payload=row.payload)


_WITH_EVENT = select(hook_runs, events.c.type, events.c.payload).join(
    events, (events.c.merchant_id == hook_runs.c.merchant_id) & (events.c.event_id == hook_runs.c.event_id))


class SqlHookRunRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def _locking(self, stmt: Any, of: Any) -> Any:
        if self.conn.dialect.name == "postgresql":
            return stmt.with_for_update(of=of, skip_locked=True)
        return stmt

    def fan_out(self, subscribers: Mapping[str, Sequence[tuple[str, str]]], now: datetime, limit: int) -> int:
        c = events.c
        stmt = self._locking(select(c.merchant_id, c.event_id, c.type).where(c.hooks_pending)
                             .order_by(c.event_id).limit(limit), events)
        pending = self.conn.execute(stmt).all()
        if not pending:
            return 0
        runs = [{"merchant_id": row.merchant_id, "event_id": row.event_id, "plugin": plugin, "hook": hook,
                 "state": HookRunState.PENDING.value, "attempts": 0, "next_attempt_at": now, "last_error": "",
                 "created_at": now}
                for row in pending for plugin, hook in subscribers.get(row.type, ())]
        if runs:
            dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            self.conn.execute(dialect.insert(hook_runs).on_conflict_do_nothing(), runs)
        self.conn.execute(update(events).where(tuple_(c.merchant_id, c.event_id).in_(
            [(row.merchant_id, row.event_id) for row in pending])).values(hooks_pending=False))
        return len(pending)

    def claim_due(self, now: datetime, until: datetime, limit: int) -> list[HookRun]:
        c = hook_runs.c
        stmt = self._locking(_WITH_EVENT.where(c.state == HookRunState.PENDING.value, c.next_attempt_at <= now)
                             .order_by(c.next_attempt_at, c.event_id).limit(limit), hook_runs)
        claimed = [_run(row) for row in self.conn.execute(stmt)]
        if claimed:
            c = hook_runs.c
            self.conn.execute(update(hook_runs).where(tuple_(c.merchant_id, c.event_id, c.plugin).in_(
                [(r.merchant_id, r.event_id, r.plugin) for r in claimed])).values(next_attempt_at=until))
        return claimed

    @staticmethod
    def _key(run: HookRun) -> tuple[Any, ...]:
        c = hook_runs.c
        return c.merchant_id == run.merchant_id, c.event_id == run.event_id, c.plugin == run.plugin

    def _current(self, run: HookRun) -> Any:
        c = hook_runs.c
        return update(hook_runs).where(*self._key(run), c.state == HookRunState.PENDING.value,
                                       c.attempts == run.attempts)

    def mark_done(self, run: HookRun, at: datetime) -> bool:
        return self.conn.execute(self._current(run).values(
            state=HookRunState.DONE.value, attempts=run.attempts + 1, next_attempt_at=at, last_error="")
        ).rowcount == 1

    def mark_failed(self, run: HookRun, *, park: bool, retry_at: datetime, error: str) -> bool:
        state = HookRunState.PARKED if park else HookRunState.PENDING
        return self.conn.execute(self._current(run).values(
            state=state.value, attempts=run.attempts + 1, next_attempt_at=retry_at, last_error=error[:1000])
        ).rowcount == 1

    def list(self, state: HookRunState | None, limit: int) -> list[HookRun]:
        stmt = _WITH_EVENT.order_by(hook_runs.c.event_id.desc(), hook_runs.c.plugin).limit(limit)
        if state is not None:
            stmt = stmt.where(hook_runs.c.state == state.value)
        return [_run(row) for row in self.conn.execute(stmt)]

    def get(self, event_id: str, plugin: str) -> HookRun | None:
        c = hook_runs.c
        row = self.conn.execute(_WITH_EVENT.where(c.event_id == event_id, c.plugin == plugin)).first()
        return _run(row) if row else None

    def rerun(self, event_id: str, plugin: str, at: datetime) -> bool:
        c = hook_runs.c
        return self.conn.execute(update(hook_runs).where(
            c.event_id == event_id, c.plugin == plugin, c.state == HookRunState.PARKED.value,
        ).values(state=HookRunState.PENDING.value, attempts=0, next_attempt_at=at)).rowcount == 1
