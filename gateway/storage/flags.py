"""Flags for operators: one row per (merchant, kind, payment); a recurrence counts up and reopens it.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.domain.flags import Flag, FlagKind
from gateway.storage.tables import flags


def _flag(row: Any) -> Flag:
    return Flag(id=row.flag_id, kind=FlagKind(row.kind), merchant_id=row.merchant_id, payment_id=row.payment_id,
                channel=row.channel, detail=row.detail, created_at=row.created_at, last_seen_at=row.last_seen_at,
                occurrences=row.occurrences, resolved_at=row.resolved_at, resolution=row.resolution)


class SqlFlagRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def raise_flag(self, flag: Flag) -> Flag:
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(flags).values(
            merchant_id=flag.merchant_id, flag_id=flag.id, kind=flag.kind.value, payment_id=flag.payment_id,
            channel=flag.channel, detail=flag.detail, occurrences=1, created_at=flag.created_at,
            last_seen_at=flag.last_seen_at, resolved_at=None, resolution="")
        stmt = stmt.on_conflict_do_update(
            index_elements=[flags.c.merchant_id, flags.c.kind, flags.c.payment_id],
            set_={"occurrences": flags.c.occurrences + 1, "last_seen_at": flag.last_seen_at,
                  "detail": flag.detail, "resolved_at": None},
        ).returning(*flags.c)
        return _flag(self.conn.execute(stmt).one())

    def get(self, flag_id: str) -> Flag | None:
        row = self.conn.execute(select(flags).where(flags.c.flag_id == flag_id)).first()
        return _flag(row) if row else None

    def list(self, open_only: bool, limit: int) -> list[Flag]:
        stmt = select(flags).order_by(flags.c.flag_id.desc()).limit(limit)
        if open_only:
            stmt = stmt.where(flags.c.resolved_at.is_(None))
        return [_flag(row) for row in self.conn.execute(stmt)]

    def resolve(self, flag_id: str, at: datetime, resolution: str) -> bool:
        return self.conn.execute(update(flags).where(flags.c.flag_id == flag_id, flags.c.resolved_at.is_(None))
                                 .values(resolved_at=at, resolution=resolution)).rowcount == 1

    def resolve_kind(self, merchant_id: str, kind: FlagKind, at: datetime, resolution: str) -> int:
        return int(self.conn.execute(
            update(flags).where(flags.c.merchant_id == merchant_id, flags.c.kind == kind.value,
                                flags.c.resolved_at.is_(None))
            .values(resolved_at=at, resolution=resolution)).rowcount)
