"""Print one webhook body per event type, as the gateway renders it, for README.md's Webhooks section.

The bodies are the code's own output: a payment paid at Alipay, partly refunded, a refund the channel refused,
and another payment closed, built with the domain's own transitions, written as the events the gateway writes
(gateway/domain/events.py) and rendered by the dispatcher's body_of with the renderer `cashier serve` uses
(gateway/api/webhook_bodies.py). Only the ids and times are made up (fixed, so the output is stable).
tests/e2e/test_payment_description.py checks that the README's examples have these bodies' shape.

    .venv/bin/python scripts/webhook_examples.py
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.api.webhook_bodies import ProtobufWebhookBodies  # noqa: E402
from gateway.domain.events import PAYMENT_CLOSED, PAYMENT_SUCCEEDED, Event, payment_event, refund_event  # noqa: E402
from gateway.domain.payments import ClientInfo, LineItem, NewPayment, Payment, Platform, Scenario  # noqa: E402
from gateway.domain.refunds import NewRefund, Refund  # noqa: E402
from gateway.service.webhooks import body_of  # noqa: E402

T0 = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


def _event(event: Event, n: int) -> Event:
    # Fixed ids for a stable output; the gateway's are time-sorted ULIDs like these.
    event_id = f"evt_01M8ES{n:02d}000000000000000000"[:30]
    return replace(event, id=event_id, payload={**event.payload, "id": event_id}, sequence=1040 + n)


def bodies() -> dict[str, dict[str, Any]]:
    """Event type → its webhook body (parsed), for the story in the module's docstring."""
    new = NewPayment(merchant_id="tea-house", out_trade_no="order-1001", amount=2590, currency="CNY",
                     subject="Oolong tea, 250 g", client=ClientInfo(Platform.IOS_APP, "Platform", "9.1.0"),
                     scenario=Scenario.POST_PRODUCT_CARD,
                     line_items=(LineItem("oolong-250", "Oolong tea, 250 g", 1, 2590),),
                     metadata={"cart": "c-7731"})
    created = Payment.create(payment_id="pay_01M8ES3B6WQ4Z8C1R0T2KXH5PN", app_id="shop-app", new=new,
                             channel="mobile", now=T0)
    paid = created.paid(T0 + timedelta(seconds=41), "2026112722001446880500012345")
    refund = Refund.create(refund_id="ref_01M8ESD4N2V7G0YB3K9QF6ZJ1A", app_id="shop-app",
                           new=NewRefund("tea-house", paid.id, "refund-1001-1", 1000, "One tin arrived dented"),
                           currency="CNY", now=T0 + timedelta(hours=2))
    refunded = refund.succeeded(refund.created_at + timedelta(seconds=1), paid.channel_reference)
    after_refund = paid.refund_settled(1000, refunded.updated_at)
    refused_new = NewRefund("tea-house", paid.id, "refund-1001-2", 500, "Late delivery")
    refused = Refund.create(refund_id="ref_01M8ESF9T5H2C8MW0D4XR7QN3B", app_id="shop-app", new=refused_new,
                            currency="CNY", now=T0 + timedelta(hours=3)).failed(
        T0 + timedelta(hours=3, seconds=1), "ACQ.SELLER_BALANCE_NOT_ENOUGH 卖家余额不足")
    other = Payment.create(payment_id="pay_01M8ESH2E8P0K6AZ9V3W1C7Y4D", app_id="shop-app",
                           new=replace(new, out_trade_no="order-1002", amount=990, subject="Green tea, 100 g",
                                       line_items=(), metadata={}), channel="mobile", now=T0 + timedelta(hours=4))
    closed = other.closed(other.created_at + timedelta(minutes=5))
    events = [
        payment_event(PAYMENT_SUCCEEDED, paid, paid.updated_at),
        refund_event(refunded, after_refund, refunded.updated_at),
        refund_event(refused, after_refund, refused.updated_at),
        payment_event(PAYMENT_CLOSED, closed, closed.updated_at),
    ]
    renderer = ProtobufWebhookBodies()
    return {e.type: json.loads(body_of(_event(e, n), renderer)) for n, e in enumerate(events, start=1)}


def main() -> None:
    for type_, body in bodies().items():
        print(f"`{type_}`:\n\n```json\n{json.dumps(body, indent=2, ensure_ascii=False)}\n```\n")


if __name__ == "__main__":
    main()
