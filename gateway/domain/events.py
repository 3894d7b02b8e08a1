"""Outbox events: what a trading app is told about its payments and refunds, written in the same
transaction as the state change they report, then delivered as signed webhooks (gateway/service/webhooks.py)."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain.ids import _ulid
from gateway.domain.payments import Payment
from gateway.domain.refunds import Refund, RefundState

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_CLOSED = "payment.closed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"


class EventState(enum.Enum):
    PENDING = "PENDING"  # to be delivered (again) at next_attempt_at
    DELIVERED = "DELIVERED"  # the app's endpoint answered 2xx
    PARKED = "PARKED"  # every attempt failed: an operator decides (`cashier events redeliver`)


def new_event_id(at: datetime) -> str:
    return "evt_" + _ulid(at, int.from_bytes(os.urandom(10), "big"))


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    merchant_id: str
    app_id: str
    type: str
    # The webhook body as JSON: {"id", "type", "created_at", "merchant_id", "data": {...}}.
    payload: Mapping[str, Any]
    created_at: datetime
    state: EventState = EventState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None  # None: at created_at
    last_error: str = ""

    @classmethod
    def create(cls, *, type: str, merchant_id: str, app_id: str, data: Mapping[str, Any],  # noqa: A002
               now: datetime) -> Event:
        event_id = new_event_id(now)
        payload = {"id": event_id, "type": type, "created_at": _iso(now), "merchant_id": merchant_id,
                   "app_id": app_id, "data": dict(data)}
        return cls(id=event_id, merchant_id=merchant_id, app_id=app_id, type=type, payload=payload,
                   created_at=now, next_attempt_at=now)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def payment_event(type: str, payment: Payment, now: datetime) -> Event:  # noqa: A002
    return Event.create(type=type, merchant_id=payment.merchant_id, app_id=payment.app_id, now=now, data={
        "payment": {
            "name": f"merchants/{payment.merchant_id}/payments/{payment.id}",
            "payment_id": payment.id,
            "out_trade_no": payment.out_trade_no,
            "amount": payment.amount,
            "currency": payment.currency,
            "state": payment.state.value,
            "channel": payment.channel,
            "channel_reference": payment.channel_reference,
            "paid_at": _iso(payment.paid_at),
            "updated_at": _iso(payment.updated_at),
            "metadata": dict(payment.metadata),
        }})


def refund_event(refund: Refund, now: datetime) -> Event:
    type_ = REFUND_SUCCEEDED if refund.state is RefundState.SUCCEEDED else REFUND_FAILED
    return Event.create(type=type_, merchant_id=refund.merchant_id, app_id=refund.app_id, now=now, data={
        "refund": {
            "name": f"merchants/{refund.merchant_id}/payments/{refund.payment_id}/refunds/{refund.id}",
            "refund_id": refund.id,
            "payment_id": refund.payment_id,
            "out_refund_no": refund.out_refund_no,
            "amount": refund.amount,
            "currency": refund.currency,
            "state": refund.state.value,
            "failure_reason": refund.failure_reason,
            "updated_at": _iso(refund.updated_at),
        }})
