"""Issue 12 item 5 (README "Order"): an app's failing event waits for its own retry and does not hold
back the app's later events, which are delivered meanwhile."""

from __future__ import annotations

from gateway.service.webhooks import WebhookDispatcher
from gateway.storage.engine import make_engine
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from gateway.webhook_http import HttpWebhookSender
from tests.e2e.receiver import Receiver
from tests.e2e.test_webhooks import BODIES, LOOPBACK, add_events, outbox, receiver  # noqa: F401 - fixtures


def test_a_failing_event_does_not_hold_back_later_ones(outbox: tuple[str, str], receiver: Receiver) -> None:  # noqa: F811
    database_url, _secret = outbox
    engine, sender = make_engine(database_url, pool_size=2), HttpWebhookSender(policy=LOOPBACK)
    try:
        dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), sender, renderer=BODIES)
        receiver.status = 500
        (first,) = add_events(database_url, 1)
        dispatcher.run()  # refused: retried in retry_base_seconds (10 s), not before
        receiver.status = 200
        later = add_events(database_url, 2)
        dispatcher.run()
        assert [r[0]["Cashier-Event-Id"] for r in receiver.requests] == [first, *later]
        assert receiver.accepted_ids() == later
    finally:
        sender.close()
        engine.dispose()
