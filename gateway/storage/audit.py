"""The onboarding audit trail (gateway/domain/onboarding/audit.py): inserted, read, never updated.

Lock order: gateway/storage/__init__.py; an audit row is inserted in the transaction of the change it
records, after that change's rows (it locks nothing others wait for).
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.domain.onboarding.audit import Actor, ActorKind, AuditEvent
from gateway.storage.tables import audit_events


def _event(row: Any) -> AuditEvent:
    return AuditEvent(id=row.audit_id, at=row.created_at, actor=Actor(ActorKind(row.actor_kind), row.actor_id, row.via),
                      action=row.action, subject=row.subject, application_id=row.application_id or "",
                      merchant_id=row.merchant_id or "", before=row.before, after=row.after)


class SqlAuditRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, event: AuditEvent) -> None:
        self.conn.execute(insert(audit_events).values(
            audit_id=event.id, created_at=event.at, actor_kind=event.actor.kind.value, actor_id=event.actor.id,
            via=event.actor.via, action=event.action, subject=event.subject,
            application_id=event.application_id or None, merchant_id=event.merchant_id or None,
            before=dict(event.before) if event.before is not None else None,
            after=dict(event.after) if event.after is not None else None))

    def list(self, application_id: str | None, merchant_id: str | None, after_id: str | None,
             limit: int) -> builtins.list[AuditEvent]:
        stmt = select(audit_events).order_by(audit_events.c.audit_id.desc()).limit(limit)
        if application_id is not None:
            stmt = stmt.where(audit_events.c.application_id == application_id)
        if merchant_id is not None:
            stmt = stmt.where(audit_events.c.merchant_id == merchant_id)
        if after_id is not None:
            stmt = stmt.where(audit_events.c.audit_id < after_id)
        return [_event(row) for row in self.conn.execute(stmt)]
