"""Webhook bodies in the API's own shape: an event's `data` is the protobuf JSON mapping of the messages an
app reads over gRPC (cashier.v1 Payment, Refund), so that an app parses one description of a payment.

Rendered when the event is sent (gateway/service/webhooks.py calls `render` through its WebhookRenderer port;
gateway/runtime.py wires this one in), from what the event stored when it was written: the payment's snapshot
right after the change (`Event.payment`) and, for a refund event, the refund (`refund_of`). So a retry a day
later still says what the payment was at that event, and the domain keeps knowing nothing of protobuf.

The mapping: field names as in the .proto (`preserving_proto_field_name`), every field present (defaults too,
so an app without protobuf finds each key), enums by name (`PAYMENT_STATE_SUCCEEDED`), 64-bit integers as
strings (`"amount": "1000"`), times as RFC 3339. Never the buyer action (order strings, QR images): a webhook
says what happened to the payment, not how the buyer pays. `json_format.ParseDict(data["payment"], Payment())`
gives back the message.

RENDERERS is the rule for every event type: each type has its entry here. A type without one (a new event
type someone forgot) is not sent in another shape: its delivery fails with an error naming the type (retried,
then PARKED), where an operator sees it. Events written before events carried the payment's snapshot (and the
whole refund) are sent with `data` as they stored it, and `api_version` "v0".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from gateway.api.convert import payment_to_proto, refund_to_proto
from gateway.api.settlement_convert import payout_from_event
from gateway.domain.events import (
    APP_AUTHORIZED,
    APP_REVOKED,
    MERCHANT_APPROVED,
    MERCHANT_COLLECTION_ENABLED,
    MERCHANT_REJECTED,
    MERCHANT_SETTLEMENT_PLAN_CHANGED,
    PAYMENT_CLOSED,
    PAYMENT_SUCCEEDED,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    REFUND_FAILED,
    REFUND_SUCCEEDED,
    Event,
    payment_from_snapshot,
    refund_of,
)

API_VERSION = "v1"
# The shape of events written before snapshots: `data` as stored then (flat summaries, `currency`,
# `"state": "SUCCEEDED"`); only ever sent for such events still being retried after the upgrade.
LEGACY_API_VERSION = "v0"


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def _payment(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    # The snapshot has no buyer action, so the message has none.
    return to_json(payment_to_proto(payment_from_snapshot(snapshot)))


def payment_data(event: Event) -> dict[str, Any] | None:
    """{"payment": Payment}: the payment right after the change. None: an event from before snapshots."""
    if event.payment is None:
        return None
    return {"payment": _payment(event.payment)}


def refund_data(event: Event) -> dict[str, Any] | None:
    """{"refund": Refund, "payment": Payment}: the settled refund, and its payment right after it settled.
    None: an event from before snapshots."""
    refund = refund_of(event)
    if event.payment is None or refund is None:
        return None
    return {"refund": to_json(refund_to_proto(refund)), "payment": _payment(event.payment)}


def payout_data(event: Event) -> dict[str, Any] | None:
    """{"payout": Payout}: the payout with the outcome the event announces."""
    return {"payout": to_json(payout_from_event(event.payload["data"]["payout"]))}


def plain_data(event: Event) -> dict[str, Any] | None:
    return dict(event.payload["data"])


# Event type → its `data`, or None for an event stored before it could be rendered (sent as stored).
Renderer = Callable[[Event], "dict[str, Any] | None"]
RENDERERS: Mapping[str, Renderer] = {
    PAYMENT_SUCCEEDED: payment_data,
    PAYMENT_CLOSED: payment_data,
    REFUND_SUCCEEDED: refund_data,
    REFUND_FAILED: refund_data,
    # Onboarding (gateway/domain/onboarding/notices.py): the `data` stored with the event, already named after
    # the API's resources (merchants/…, apps/…); no personal data. They become cashier.v1 messages here once
    # Merchant carries every field sent.
    MERCHANT_APPROVED: plain_data,
    MERCHANT_REJECTED: plain_data,
    MERCHANT_COLLECTION_ENABLED: plain_data,
    MERCHANT_SETTLEMENT_PLAN_CHANGED: plain_data,
    APP_AUTHORIZED: plain_data,
    APP_REVOKED: plain_data,
    # Settlement (settlement/service/run.py): a cashier.v1.Payout, as GetPayout answers.
    PAYOUT_PAID: payout_data,
    PAYOUT_FAILED: payout_data,
}


class ProtobufWebhookBodies:
    """The WebhookRenderer (gateway/service/webhooks.py) of cashier.v1."""

    def __init__(self, renderers: Mapping[str, Renderer] = RENDERERS):
        self.renderers = renderers

    def render(self, event: Event) -> tuple[str, Mapping[str, Any]]:
        render = self.renderers.get(event.type)
        if render is None:
            raise LookupError(f"no webhook renderer for event type {event.type!r} (gateway/api/webhook_bodies.py)")
        data = render(event)
        if data is None:
            return LEGACY_API_VERSION, event.payload["data"]
        return API_VERSION, data
