"""Idempotency keys: claimed first in the transaction that acts, completed with the response.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from gateway.service.ports import IdempotencyRecord
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import idempotency_keys


def _record(row: Any) -> IdempotencyRecord:
    return IdempotencyRecord(row.merchant_id, row.app_id, row.idempotency_key, row.method, row.fingerprint,
                             row.resource_id, row.created_at, row.response)


def _key_of(record: IdempotencyRecord) -> Any:
    c = idempotency_keys.c
    return and_(c.merchant_id == record.merchant_id, c.app_id == record.principal_id,
                c.idempotency_key == record.key)


class SqlIdempotencyRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, merchant_id: str, principal_id: str, key: str) -> IdempotencyRecord | None:
        row = self.conn.execute(select(idempotency_keys).where(
            idempotency_keys.c.merchant_id == merchant_id,
            idempotency_keys.c.app_id == principal_id,
            idempotency_keys.c.idempotency_key == key,
        )).first()
        return _record(row) if row else None

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        written = insert_ignore(self.conn, idempotency_keys, {
            "merchant_id": record.merchant_id, "app_id": record.principal_id, "idempotency_key": record.key,
            "method": record.method, "fingerprint": record.fingerprint, "resource_id": record.resource_id,
            "response": record.response, "created_at": record.created_at,
        })
        if written:
            return None
        return self.get(record.merchant_id, record.principal_id, record.key)

    def complete(self, record: IdempotencyRecord, response: bytes) -> bool:
        c = idempotency_keys.c
        return self.conn.execute(update(idempotency_keys).where(_key_of(record), c.response.is_(None))
                                 .values(response=response)).rowcount == 1

    def purge(self, older_than: datetime) -> int:
        return self.conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than)).rowcount
