"""Refunds: one row per refund of a payment; their out_refund_no index decides retried requests.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from gateway.domain.refunds import Refund, RefundState
from gateway.service.ports import RefundQuery
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import refunds


def _refund(row: Any) -> Refund:
    return Refund(
        id=row.refund_id, merchant_id=row.merchant_id, payment_id=row.payment_id, app_id=row.app_id,
        out_refund_no=row.out_refund_no, amount=row.amount, currency=row.currency, reason=row.reason,
        state=RefundState(row.state), created_at=row.created_at, updated_at=row.updated_at,
        failure_reason=row.failure_reason, channel_reference=row.channel_reference,
    )


class SqlRefundRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, refund: Refund) -> bool:
        return insert_ignore(self.conn, refunds, {
            "merchant_id": refund.merchant_id, "refund_id": refund.id, "payment_id": refund.payment_id,
            "out_refund_no": refund.out_refund_no, "app_id": refund.app_id, "amount": refund.amount,
            "currency": refund.currency, "reason": refund.reason, "state": refund.state.value,
            "failure_reason": refund.failure_reason, "created_at": refund.created_at,
            "updated_at": refund.updated_at, "channel_reference": refund.channel_reference,
        })

    def get(self, merchant_id: str, refund_id: str) -> Refund | None:
        row = self.conn.execute(
            select(refunds).where(refunds.c.merchant_id == merchant_id, refunds.c.refund_id == refund_id)
        ).first()
        return _refund(row) if row else None

    def get_by_out_refund_no(self, merchant_id: str, payment_id: str, out_refund_no: str) -> Refund | None:
        row = self.conn.execute(select(refunds).where(
            refunds.c.merchant_id == merchant_id, refunds.c.payment_id == payment_id,
            refunds.c.out_refund_no == out_refund_no)).first()
        return _refund(row) if row else None

    def list(self, query: RefundQuery) -> list[Refund]:
        stmt = select(refunds)
        if query.merchant_id is not None:
            stmt = stmt.where(refunds.c.merchant_id == query.merchant_id)
        if query.payment_id is not None:
            stmt = stmt.where(refunds.c.payment_id == query.payment_id)
        if query.state is not None:
            stmt = stmt.where(refunds.c.state == query.state.value)
        if query.after_id is not None:
            stmt = stmt.where(refunds.c.refund_id < query.after_id)
        stmt = stmt.order_by(refunds.c.refund_id.desc()).limit(query.limit)
        return [_refund(row) for row in self.conn.execute(stmt)]

    def save_state(self, refund: Refund, expected: RefundState) -> bool:
        result = self.conn.execute(
            update(refunds)
            .where(refunds.c.merchant_id == refund.merchant_id, refunds.c.refund_id == refund.id,
                   refunds.c.state == expected.value)
            .values(state=refund.state.value, updated_at=refund.updated_at, failure_reason=refund.failure_reason,
                    channel_reference=refund.channel_reference)
        )
        return result.rowcount == 1
