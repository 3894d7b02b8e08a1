"""Outbox events: what a trading app is told about its payments and refunds, written in the same
transaction as the state change they report, then delivered as signed webhooks (gateway/service/webhooks.py)
and streamed to WatchPayment (gateway/service/watch.py).

Every change of a payment's state or refunded amount writes one event, which carries the payment as it
stood right after the change (`payment_snapshot`): a watcher replays the snapshots in order, so it sees
each change even when two land between its reads. The event is written in the same transaction after the
payment row's update, while that row's lock is held, so the storage's sequence numbers of one payment's
events follow the order in which the changes were committed.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain.ids import _ulid
from gateway.domain.payments import ClientInfo, LineItem, Payment, PaymentState, Platform, Scenario
from gateway.domain.refunds import Refund, RefundState

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_CLOSED = "payment.closed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
# Merchant onboarding (gateway/domain/onboarding/notices.py): written for each app the merchant has authorised
# (app.authorized / app.revoked: for the app concerned), with no personal data of the applicant.
MERCHANT_APPROVED = "merchant.approved"
MERCHANT_REJECTED = "merchant.rejected"
MERCHANT_COLLECTION_ENABLED = "merchant.collection_enabled"
APP_AUTHORIZED = "app.authorized"
APP_REVOKED = "app.revoked"
# Settlement (settlement/service/run.py): a payout's outcome, for each app the merchant has authorised, written
# in the transaction that records it; and a T+0 merchant dropped to T+15 when its deposit paid a negative balance.
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"
MERCHANT_SETTLEMENT_PLAN_CHANGED = "merchant.settlement_plan_changed"


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
    # The webhook body as JSON: {"id", "type", "created_at", "merchant_id", "app_id", "data"}; the sender
    # adds "sequence" (below) when it sends it.
    payload: Mapping[str, Any]
    created_at: datetime
    state: EventState = EventState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None  # None: at created_at
    last_error: str = ""
    # The payment the event is about (None for an event about no payment), and the payment right after the
    # change the event reports (`payment_snapshot`; None in events written before snapshots were).
    payment_id: str | None = None
    payment: Mapping[str, Any] | None = None
    # The storage's number for the event, given when it is added (None until then): increasing in the order
    # the events of one payment were committed (see the module), which WatchPayment reads them in and the
    # webhook body carries as "sequence", so that an app can order (and drop stale) events of one payment.
    sequence: int | None = None

    @classmethod
    def create(cls, *, type: str, merchant_id: str, app_id: str, data: Mapping[str, Any],  # noqa: A002
               now: datetime, payment: Payment | None = None) -> Event:
        event_id = new_event_id(now)
        payload = {"id": event_id, "type": type, "created_at": _iso(now), "merchant_id": merchant_id,
                   "app_id": app_id, "data": dict(data)}
        return cls(id=event_id, merchant_id=merchant_id, app_id=app_id, type=type, payload=payload,
                   created_at=now, next_attempt_at=now, payment_id=payment.id if payment else None,
                   payment=payment_snapshot(payment) if payment else None)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    """The payment's domain fields as plain JSON values (enums by value, times in ISO 8601 UTC), as stored
    with an event. Left out: the buyer action (order strings, QR images: what the buyer's page shows, not
    what the payment is) and the hosted checkout page's key."""
    return {
        "id": payment.id, "merchant_id": payment.merchant_id, "app_id": payment.app_id,
        "out_trade_no": payment.out_trade_no, "amount": payment.amount, "currency": payment.currency,
        "subject": payment.subject,
        "client": {"platform": payment.client.platform.value, "app_name": payment.client.app_name,
                   "app_version": payment.client.app_version, "user_agent": payment.client.user_agent},
        "scenario": payment.scenario.value, "channel": payment.channel, "state": payment.state.value,
        "created_at": _iso(payment.created_at), "updated_at": _iso(payment.updated_at),
        "expires_at": _iso(payment.expires_at),
        "line_items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": i.unit_price}
                       for i in payment.line_items],
        "return_url": payment.return_url, "metadata": dict(payment.metadata), "scan_to_pay": payment.scan_to_pay,
        "paid_at": _iso(payment.paid_at), "channel_reference": payment.channel_reference,
        "refunded_amount": payment.refunded_amount, "refund_reserved": payment.refund_reserved,
        "buyer_id": payment.buyer_id,
    }


def payment_from_snapshot(snapshot: Mapping[str, Any]) -> Payment:
    """The payment a snapshot describes (`payment_snapshot`), without buyer action or checkout key."""
    client = snapshot["client"]
    return Payment(
        id=snapshot["id"], merchant_id=snapshot["merchant_id"], app_id=snapshot["app_id"],
        out_trade_no=snapshot["out_trade_no"], amount=snapshot["amount"], currency=snapshot["currency"],
        subject=snapshot["subject"],
        client=ClientInfo(Platform(client["platform"]), client["app_name"], client["app_version"],
                          client["user_agent"]),
        scenario=Scenario(snapshot["scenario"]), channel=snapshot["channel"], action=None,
        state=PaymentState(snapshot["state"]), created_at=datetime.fromisoformat(snapshot["created_at"]),
        updated_at=datetime.fromisoformat(snapshot["updated_at"]),
        expires_at=datetime.fromisoformat(snapshot["expires_at"]),
        line_items=tuple(LineItem(i["sku"], i["name"], i["quantity"], i["unit_price"])
                         for i in snapshot["line_items"]),
        return_url=snapshot["return_url"], metadata=dict(snapshot["metadata"]),
        scan_to_pay=snapshot["scan_to_pay"], paid_at=_at(snapshot["paid_at"]),
        channel_reference=snapshot["channel_reference"], refunded_amount=snapshot["refunded_amount"],
        refund_reserved=snapshot["refund_reserved"], buyer_id=snapshot["buyer_id"],
    )


def payment_event(type: str, payment: Payment, now: datetime) -> Event:  # noqa: A002
    """An event about `payment`, as it stands after the change the event reports."""
    return Event.create(type=type, merchant_id=payment.merchant_id, app_id=payment.app_id, now=now,
                        payment=payment, data={
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


def refund_event(refund: Refund, payment: Payment, now: datetime) -> Event:
    """An event about a refund that settled, with its payment as it stands after the settlement (refunded
    amount and state moved for a refund that succeeded; only the amount held for refunds for one that failed)."""
    type_ = REFUND_SUCCEEDED if refund.state is RefundState.SUCCEEDED else REFUND_FAILED
    return Event.create(type=type_, merchant_id=refund.merchant_id, app_id=refund.app_id, now=now,
                        payment=payment, data={
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
            # With the fields above, the whole refund (refund_of): what the webhook renders.
            "reason": refund.reason,
            "created_at": _iso(refund.created_at),
            "channel_reference": refund.channel_reference,
        }})


def refund_of(event: Event) -> Refund | None:
    """The refund a refund event reports, as it stood when the event was written (refund_event); None for
    an event about no refund, or one written before its payload held the whole refund."""
    data = event.payload.get("data", {}).get("refund")
    if data is None or "created_at" not in data:
        return None
    return Refund(
        id=data["refund_id"], merchant_id=event.merchant_id, payment_id=data["payment_id"], app_id=event.app_id,
        out_refund_no=data["out_refund_no"], amount=data["amount"], currency=data["currency"],
        reason=data["reason"], state=RefundState(data["state"]), created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]), failure_reason=data["failure_reason"],
        channel_reference=data["channel_reference"],
    )
