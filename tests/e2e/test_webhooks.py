"""Signed webhooks from the transactional outbox, on SQLite and PostgreSQL, to a real HTTP receiver: a
sandbox payment becomes one verified `payment.succeeded` (however often its notification is replayed);
a receiver that is down for a while still gets every event; two dispatchers deliver each event once; a
PARKED event is redelivered through the CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import select

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.domain.events import Event
from gateway.domain.ids import utcnow
from gateway.runtime import RunningGateway, make_dispatcher
from gateway.service.admin import AdminService, NewMerchant
from gateway.service.webhooks import RetryPolicy, WebhookDispatcher
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import events
from gateway.storage.unit_of_work import SqlUnitOfWorkFactory
from gateway.webhook_http import HttpWebhookSender
from gateway.webhook_signing import verify_webhook
from tests.e2e.receiver import Receiver
from tests.e2e.test_payment_completion import _last_body, pay_at_alipay, wait_for_state
from tests.support import (
    CashierClient,
    ServeProcess,
    cashier_cli,
    make_settings,
    running_gateway,
    seed_tenant,
)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def stored_events(running: RunningGateway | Any) -> list[Any]:
    engine = running.gateway.engine if isinstance(running, RunningGateway) else running
    with engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.event_id)))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    settings = make_settings(
        database_url, channels={"alipay": alipay.channel_table},
        webhooks={"every_seconds": 0.05, "retry_base_seconds": 0.1, "retry_cap_seconds": 0.3, "lease_seconds": 10},
        reconcile={"every_seconds": 3600})
    with running_gateway(settings, housekeeping=True) as running:
        yield running


@pytest.fixture
def app(gateway: RunningGateway, receiver: Receiver) -> Iterator[tuple[CashierClient, str]]:
    tenant = seed_tenant(gateway.gateway)
    dispatcher = make_dispatcher(gateway.gateway)
    secret = dispatcher.set_webhook(tenant.app_id, receiver.url)
    dispatcher.sender.close()  # type: ignore[attr-defined]
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield CashierClient(channel, tenant), secret


def paid(app: CashierClient, alipay: LocalAlipay, amount: int = 4200) -> pb.Payment:
    payment = app.create(amount=amount)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    done = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    assert done.state == pb.PAYMENT_STATE_SUCCEEDED
    return done


def test_a_paid_payment_reaches_the_app_as_one_verified_webhook(
        app: tuple[CashierClient, str], alipay: LocalAlipay, gateway: RunningGateway, receiver: Receiver) -> None:
    client, secret = app
    payment = paid(client, alipay)
    wait_until(lambda: len(receiver.accepted()) >= 1)
    # The same signed notification, replayed 20 times straight at the gateway, makes no second event.
    body = _last_body(alipay)
    url = f"{gateway.http_url}/notify/mobile/{client.tenant.merchant_id}"
    for _ in range(20):
        answer = httpx.post(url, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert (answer.status_code, answer.text) == (200, "success")
    time.sleep(0.5)  # room for any (wrong) further delivery
    [(headers, raw)] = receiver.accepted()
    assert verify_webhook(secret, headers["Cashier-Signature"], raw)
    assert not verify_webhook("whsec_wrong", headers["Cashier-Signature"], raw)
    event = json.loads(raw)
    assert headers["Cashier-Event-Id"] == event["id"] and event["type"] == "payment.succeeded"
    assert event["data"]["payment"]["name"] == payment.name
    assert event["data"]["payment"]["state"] == "SUCCEEDED" and event["data"]["payment"]["amount"] == 4200
    [row] = stored_events(gateway)
    assert (row.state, row.attempts, row.type) == ("DELIVERED", 1, "payment.succeeded")
    assert 'cashier_webhooks_total{result="delivered"} 1.0' in httpx.get(f"{gateway.http_url}/metrics").text


def test_closing_a_payment_makes_a_payment_closed_event(
        app: tuple[CashierClient, str], gateway: RunningGateway, receiver: Receiver) -> None:
    client, secret = app
    payment = client.create(amount=100)
    client.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=client.metadata())
    client.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=client.metadata())  # no-op
    wait_until(lambda: len(receiver.accepted()) >= 1)
    time.sleep(0.3)
    [(headers, raw)] = receiver.accepted()
    assert verify_webhook(secret, headers["Cashier-Signature"], raw)
    event = json.loads(raw)
    assert event["type"] == "payment.closed" and event["data"]["payment"]["state"] == "CLOSED"


def test_refunds_make_refund_events(
        app: tuple[CashierClient, str], alipay: LocalAlipay, gateway: RunningGateway, receiver: Receiver) -> None:
    client, _secret = app
    payment = paid(client, alipay, amount=1000)
    client.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no="r-1", amount=400),
                              metadata=client.metadata())
    wait_until(lambda: len(receiver.accepted()) >= 2)
    kinds = [json.loads(raw)["type"] for _, raw in receiver.accepted()]
    assert sorted(kinds) == ["payment.succeeded", "refund.succeeded"]
    refund = next(json.loads(raw)["data"]["refund"] for _, raw in receiver.accepted()
                  if json.loads(raw)["type"] == "refund.succeeded")
    assert (refund["out_refund_no"], refund["amount"], refund["state"]) == ("r-1", 400, "SUCCEEDED")


def test_a_receiver_down_for_a_while_still_gets_every_event_once(
        app: tuple[CashierClient, str], alipay: LocalAlipay, gateway: RunningGateway, receiver: Receiver) -> None:
    client, secret = app
    receiver.status = 500
    payments = [paid(client, alipay, amount=1000 + i) for i in range(3)]
    # Every event is tried and refused at least twice (back-off between tries), then the app comes back.
    wait_until(lambda: len(receiver.requests) >= 6)
    assert receiver.accepted() == []
    receiver.status = 200
    wait_until(lambda: len(receiver.accepted()) >= 3)
    time.sleep(0.5)
    ids = receiver.accepted_ids()
    assert len(ids) == len(set(ids)) == 3
    names = sorted(json.loads(raw)["data"]["payment"]["name"] for _, raw in receiver.accepted())
    assert names == sorted(p.name for p in payments)
    assert all(verify_webhook(secret, h["Cashier-Signature"], raw) for h, raw in receiver.accepted())
    rows = stored_events(gateway)
    assert {r.state for r in rows} == {"DELIVERED"} and len(rows) == 3
    assert sum(r.attempts for r in rows) >= 6
    # Retries are the same event: same id and same body every time.
    by_id: dict[str, set[bytes]] = {}
    for h, raw, _status in receiver.requests:
        by_id.setdefault(h["Cashier-Event-Id"], set()).add(raw)
    assert all(len(bodies) == 1 for bodies in by_id.values())


# --- dispatchers without a gateway: concurrency and parking ------------------------------------------


def seed_shop_and_app(database_url: str) -> None:
    """A migrated database with merchant shop-1 and app app-1 acting for it, no webhook URL yet."""
    engine = make_engine(database_url, pool_size=2)
    try:
        migrate.upgrade(engine)
        admin = AdminService(SqlUnitOfWorkFactory(engine))
        admin.create_merchant(NewMerchant("shop-1", "Tea House"))
        admin.create_app("app-1", "Shop app")
        admin.authorize_app("app-1", "shop-1")
    finally:
        engine.dispose()


@pytest.fixture
def outbox(database_url: str, receiver: Receiver) -> Iterator[tuple[str, str]]:
    """A migrated database with an app whose webhook points at the receiver; yields (url, secret)."""
    seed_shop_and_app(database_url)
    engine = make_engine(database_url, pool_size=2)
    try:
        secret = WebhookDispatcher(SqlUnitOfWorkFactory(engine), HttpWebhookSender()).set_webhook("app-1", receiver.url)
    finally:
        engine.dispose()
    yield database_url, secret


def add_events(database_url: str, n: int) -> list[str]:
    engine = make_engine(database_url, pool_size=1)
    try:
        uow = SqlUnitOfWorkFactory(engine)
        ids = []
        with uow(write=True) as w:
            for i in range(n):
                event = Event.create(type="payment.succeeded", merchant_id="shop-1", app_id="app-1",
                                     data={"n": i}, now=utcnow())
                w.events.add(event)
                ids.append(event.id)
            w.commit()
        return ids
    finally:
        engine.dispose()


def test_events_wait_unattempted_until_the_app_registers_a_url(database_url: str, receiver: Receiver) -> None:
    seed_shop_and_app(database_url)
    ids = add_events(database_url, 5)
    engine = make_engine(database_url, pool_size=2)
    try:
        dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), HttpWebhookSender())
        assert dispatcher.run_until_done().claimed == []  # nowhere to send: not even tried
        assert {(e.state.value, e.attempts) for e in dispatcher.list_events()} == {("PENDING", 0)}
        secret = dispatcher.set_webhook("app-1", receiver.url)
        report = dispatcher.run_until_done()
        dispatcher.sender.close()  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    assert report.delivered == 5 and receiver.accepted_ids() == ids  # the backlog, oldest first
    assert all(verify_webhook(secret, h["Cashier-Signature"], raw) for h, raw in receiver.accepted())


def test_two_dispatchers_deliver_each_event_once(outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, secret = outbox
    ids = add_events(database_url, 40)
    receiver.delay = 0.005
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]  # as two gateway processes
    senders = [HttpWebhookSender() for _ in engines]
    dispatchers = [WebhookDispatcher(SqlUnitOfWorkFactory(e), s, batch=3) for e, s in zip(engines, senders, strict=True)]
    counts = [0, 0]
    start_line = threading.Barrier(2)

    def work(i: int) -> None:
        start_line.wait()
        while True:
            report = dispatchers[i].run()
            counts[i] += report.delivered
            if not report.claimed:
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s, e in zip(senders, engines, strict=True):
        s.close()
        e.dispose()
    delivered = [h["Cashier-Event-Id"] for h, _raw, _status in receiver.requests]
    assert sorted(delivered) == sorted(ids)  # every event, none twice
    assert counts[0] > 0 and counts[1] > 0 and sum(counts) == 40
    assert all(verify_webhook(secret, h["Cashier-Signature"], raw) for h, raw in receiver.accepted())


def test_a_parked_event_is_redelivered_through_the_cli(outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, secret = outbox
    [event_id] = add_events(database_url, 1)
    engine = make_engine(database_url, pool_size=2)
    sender = HttpWebhookSender()
    policy = RetryPolicy(base=timedelta(0), cap=timedelta(0), max_attempts=3)
    dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), sender, policy=policy)
    try:
        receiver.status = 503
        for _ in range(3):
            assert dispatcher.run().claimed == [event_id]
        assert dispatcher.run().claimed == []  # parked: no longer tried
        [row] = stored_events(engine)
        assert (row.state, row.attempts) == ("PARKED", 3) and "HTTP 503" in row.last_error
        listed = cashier_cli("events", "list", "--state", "parked", database_url=database_url).stdout
        assert event_id in listed and "PARKED" in listed and "attempts=3" in listed
        refused = cashier_cli("events", "redeliver", "evt_nothing", database_url=database_url, check=False)
        assert refused.returncode == 1 and "does not exist" in refused.stderr
        receiver.status = 200
        out = cashier_cli("events", "redeliver", event_id, database_url=database_url).stdout
        assert f"event {event_id} is PENDING again" in out
        assert dispatcher.run().delivered == 1
        [row] = stored_events(engine)
        assert row.state == "DELIVERED"
        again = cashier_cli("events", "redeliver", event_id, database_url=database_url, check=False)
        assert again.returncode == 1 and "not PARKED" in again.stderr
        assert receiver.accepted_ids() == [event_id]
        [(headers, raw)] = receiver.accepted()
        assert verify_webhook(secret, headers["Cashier-Signature"], raw)
    finally:
        sender.close()
        engine.dispose()


def test_set_webhook_prints_a_new_secret_once(outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, old_secret = outbox
    result = cashier_cli("apps", "set-webhook", "app-1", receiver.url, database_url=database_url)
    secret = result.stdout.strip()
    assert secret.startswith("whsec_") and secret != old_secret and "shown once" in result.stderr
    bad = cashier_cli("apps", "set-webhook", "app-1", "ftp://x", database_url=database_url, check=False)
    assert bad.returncode == 1
    missing = cashier_cli("apps", "set-webhook", "nobody", receiver.url, database_url=database_url, check=False)
    assert missing.returncode == 1 and "app nobody does not exist" in missing.stderr


def test_two_gateway_processes_deliver_each_event_once(outbox: tuple[str, str], receiver: Receiver,
                                                       tmp_path: Path) -> None:
    database_url, secret = outbox
    ids = add_events(database_url, 30)
    receiver.delay = 0.15  # slow enough that the second process starts while the first is at work
    config = tmp_path / "cashier.toml"
    config.write_text("[webhooks]\nevery_seconds = 0.05\nbatch = 2\n", encoding="utf-8")
    env = {"CASHIER_CONFIG": str(config)}
    processes = [ServeProcess(database_url, extra_env=env) for _ in range(2)]
    try:
        wait_until(lambda: len(receiver.requests) >= 30, timeout=30)
        time.sleep(0.5)
    finally:
        for p in processes:
            p.terminate()
            p.kill()  # closes its pipes
    delivered = [h["Cashier-Event-Id"] for h, _raw, _status in receiver.requests]
    assert sorted(delivered) == sorted(ids)  # every event, none twice
    assert all(verify_webhook(secret, h["Cashier-Signature"], raw) for h, raw in receiver.accepted())
    assert all(any("dispatched webhooks" in line for line in p.stderr_lines) for p in processes)
