"""Payments: the hot path's reads and the conditional state changes, statements built once at import.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, or_, select, update

from gateway.domain.actions import action_from_dict, action_to_dict
from gateway.domain.payments import (
    REFUNDABLE_STATES,
    ClientInfo,
    LineItem,
    Payment,
    PaymentState,
    Platform,
    Scenario,
)
from gateway.service.ports import PaymentQuery, ReconcileClaim
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import payments


def _payment_values(p: Payment) -> dict[str, Any]:
    return {
        "merchant_id": p.merchant_id,
        "payment_id": p.id,
        "out_trade_no": p.out_trade_no,
        "app_id": p.app_id,
        "amount": p.amount,
        "currency": p.currency,
        "subject": p.subject,
        "line_items": [[i.sku, i.name, i.quantity, i.unit_price] for i in p.line_items],
        "client": {"platform": p.client.platform.value, "app_name": p.client.app_name,
                   "app_version": p.client.app_version, "user_agent": p.client.user_agent},
        "scenario": p.scenario.value,
        "channel": p.channel,
        "action": action_to_dict(p.action) if p.action else None,
        "return_url": p.return_url,
        "metadata": dict(p.metadata),
        "state": p.state.value,
        "scan_to_pay": p.scan_to_pay,
        "paid_at": p.paid_at,
        "channel_reference": p.channel_reference,
        "checkout_token": p.checkout_token or None,
        "refunded_amount": p.refunded_amount,
        "refund_reserved": p.refund_reserved,
        "buyer_id": p.buyer_id,
        "fee_bps": p.fee_bps,
        "version": 1,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "expires_at": p.expires_at,
    }


def _payment(row: Any) -> Payment:
    c = row.client
    return Payment(
        id=row.payment_id,
        merchant_id=row.merchant_id,
        app_id=row.app_id,
        out_trade_no=row.out_trade_no,
        amount=row.amount,
        currency=row.currency,
        subject=row.subject,
        client=ClientInfo(Platform(c["platform"]), c["app_name"], c["app_version"], c["user_agent"]),
        scenario=Scenario(row.scenario),
        channel=row.channel,
        action=action_from_dict(row.action),
        state=PaymentState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        line_items=tuple(LineItem(*item) for item in row.line_items),
        return_url=row.return_url,
        metadata=row.metadata,
        scan_to_pay=row.scan_to_pay,
        paid_at=row.paid_at,
        channel_reference=row.channel_reference,
        checkout_token=row.checkout_token or "",
        refunded_amount=row.refunded_amount,
        refund_reserved=row.refund_reserved,
        buyer_id=row.buyer_id,
        fee_bps=row.fee_bps,
    )


# Built once: the hot path's reads execute a ready statement (no construct, no cache key per call).
# The notification path's conditional state change, built once (statement construction showed in the profile).
_SAVE_PAYMENT_STATE = (
    update(payments)
    .where(payments.c.merchant_id == bindparam("key_merchant_id"), payments.c.payment_id == bindparam("key_payment_id"),
           payments.c.state == bindparam("expected"))
    .values(state=bindparam("new_state"), updated_at=bindparam("new_updated_at"), paid_at=bindparam("new_paid_at"),
            channel_reference=bindparam("new_channel_reference"), buyer_id=bindparam("new_buyer_id"),
            fee_bps=bindparam("new_fee_bps"), version=payments.c.version + 1)
)
_GET_PAYMENT = select(payments).where(payments.c.merchant_id == bindparam("merchant_id"),
                                      payments.c.payment_id == bindparam("payment_id"))
# The payment row's lock, taken first by every transaction that writes the payment and a row that hangs
# off it (a refund, an event): the lock order in gateway/storage/__init__.py. SQLite renders no FOR UPDATE
# and needs none: BEGIN IMMEDIATE made the transaction the only writer.
_LOCK_PAYMENT = _GET_PAYMENT.with_for_update()


class SqlPaymentRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, payment: Payment) -> bool:
        return insert_ignore(self.conn, payments, _payment_values(payment))

    def get(self, merchant_id: str, payment_id: str) -> Payment | None:
        row = self.conn.execute(_GET_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).first()
        return _payment(row) if row else None

    def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        row = self.conn.execute(_LOCK_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).first()
        return _payment(row) if row else None

    def get_by_out_trade_no(self, merchant_id: str, out_trade_no: str) -> Payment | None:
        row = self.conn.execute(
            select(payments).where(payments.c.merchant_id == merchant_id, payments.c.out_trade_no == out_trade_no)
        ).first()
        return _payment(row) if row else None

    def get_by_checkout_token(self, token: str) -> Payment | None:
        if not token:
            return None
        row = self.conn.execute(select(payments).where(payments.c.checkout_token == token)).first()
        return _payment(row) if row else None

    def list(self, query: PaymentQuery) -> list[Payment]:
        stmt = select(payments).where(payments.c.merchant_id.in_(query.merchant_ids))
        if query.state is not None:
            stmt = stmt.where(payments.c.state == query.state.value)
        if query.out_trade_no is not None:  # the unique (merchant_id, out_trade_no) index serves it
            stmt = stmt.where(payments.c.out_trade_no == query.out_trade_no)
        if query.id_from is not None:
            stmt = stmt.where(payments.c.payment_id >= query.id_from)
        if query.id_before is not None:
            stmt = stmt.where(payments.c.payment_id < query.id_before)
        if query.after_id is not None:
            stmt = stmt.where(payments.c.payment_id < query.after_id)
        stmt = stmt.order_by(payments.c.payment_id.desc()).limit(query.limit)
        return [_payment(row) for row in self.conn.execute(stmt)]

    def save_state(self, payment: Payment, expected: PaymentState) -> bool:
        result = self.conn.execute(_SAVE_PAYMENT_STATE, {
            "key_merchant_id": payment.merchant_id, "key_payment_id": payment.id, "expected": expected.value,
            "new_state": payment.state.value, "new_updated_at": payment.updated_at, "new_paid_at": payment.paid_at,
            "new_channel_reference": payment.channel_reference, "new_buyer_id": payment.buyer_id,
            "new_fee_bps": payment.fee_bps})
        return result.rowcount == 1

    def claim_for_reconcile(self, claim: ReconcileClaim) -> builtins.list[Payment]:
        c = payments.c
        due = and_(
            c.channel.in_(list(claim.channels)),
            or_(
                and_(c.state == PaymentState.PENDING.value,
                     or_(c.created_at <= claim.pending_before, c.expires_at <= claim.now)),
                and_(c.state == PaymentState.CLOSED.value, c.channel_closed.is_(False)),
            ),
            or_(c.reconcile_after.is_(None), c.reconcile_after <= claim.now),
        )
        stmt = select(payments).where(due).order_by(c.reconcile_after, c.payment_id).limit(claim.limit)
        if self.conn.dialect.name == "postgresql":
            # Rows another process is claiming right now are skipped, not waited for; once it commits,
            # their reconcile_after lies in the future and the condition above excludes them.
            stmt = stmt.with_for_update(of=payments, skip_locked=True)
        claimed = [_payment(row) for row in self.conn.execute(stmt)]
        for p in claimed:
            self.reconcile_later(p.merchant_id, p.id, claim.until)
        return claimed

    def reconcile_later(self, merchant_id: str, payment_id: str, at: datetime) -> None:
        self.conn.execute(update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
        ).values(reconcile_after=at))

    def mark_channel_closed(self, merchant_id: str, payment_id: str) -> bool:
        return self.conn.execute(update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
            payments.c.state == PaymentState.CLOSED.value,
        ).values(channel_closed=True)).rowcount == 1

    def _refund_update(self, merchant_id: str, payment_id: str) -> Any:
        return update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
            payments.c.state.in_([state.value for state in REFUNDABLE_STATES]))

    def reserve_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        # One conditional UPDATE: the row lock and the re-checked WHERE decide concurrent refunds.
        result = self.conn.execute(
            self._refund_update(merchant_id, payment_id)
            .where(payments.c.refund_reserved + amount <= payments.c.amount)
            .values(refund_reserved=payments.c.refund_reserved + amount, version=payments.c.version + 1))
        return result.rowcount == 1

    def release_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        result = self.conn.execute(
            update(payments)
            .where(payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
                   payments.c.refund_reserved >= amount)
            .values(refund_reserved=payments.c.refund_reserved - amount, version=payments.c.version + 1))
        return result.rowcount == 1

    def settle_refund(self, merchant_id: str, payment_id: str, amount: int, now: datetime) -> bool:
        refunded = payments.c.refunded_amount + amount
        result = self.conn.execute(
            self._refund_update(merchant_id, payment_id)
            .where(refunded <= payments.c.refund_reserved)
            .values(refunded_amount=refunded,
                    state=case((refunded >= payments.c.amount, PaymentState.REFUNDED.value),
                               else_=PaymentState.PARTIALLY_REFUNDED.value),
                    updated_at=now, version=payments.c.version + 1))
        return result.rowcount == 1
