"""Signed webhooks from the transactional outbox, on SQLite and PostgreSQL, to a real HTTP receiver: a
sandbox payment becomes one verified `payment.succeeded` (however often its notification is replayed);
a receiver that is down for a while still gets every event; two dispatchers deliver each event once; a
PARKED event is redelivered through the CLI. The body's `data` is cashier.v1's JSON mapping
(tests/e2e/test_payment_description.py checks it against GetPayment); an event stored before snapshots is sent
as stored, and an event type without a renderer is never sent in another shape."""

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
from gateway.api.webhook_bodies import ProtobufWebhookBodies
from gateway.bootstrap import make_dispatcher
from gateway.domain.errors import InvalidArgument
from gateway.domain.events import Event
from gateway.domain.ids import utcnow
from gateway.runtime import RunningGateway
from gateway.service.admin import AdminService, NewMerchant
from gateway.service.webhooks import RetryPolicy, WebhookDispatcher
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import events
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from gateway.webhook_http import HttpWebhookSender
from gateway.webhook_signing import verify_webhook
from gateway.webhook_targets import TargetPolicy
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

# What the tests' own dispatchers may send to: the receivers on loopback, over plain HTTP.
LOOPBACK = TargetPolicy(allow_http=True, allow_hosts=("127.0.0.1",))
BODIES = ProtobufWebhookBodies()  # what make_dispatcher wires in


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
        recovery={"every_seconds": 3600})
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
    assert isinstance(event["sequence"], int) and event["sequence"] > 0  # what apps order by
    assert event["api_version"] == "v1" and event["data"]["payment"]["name"] == payment.name
    assert event["data"]["payment"]["state"] == "PAYMENT_STATE_SUCCEEDED"
    assert event["data"]["payment"]["amount"] == "4200"  # int64 in protobuf's JSON mapping
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
    assert event["type"] == "payment.closed" and event["data"]["payment"]["state"] == "PAYMENT_STATE_CLOSED"


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
    assert (refund["out_refund_no"], refund["amount"], refund["state"]) == ("r-1", "400", "REFUND_STATE_SUCCEEDED")


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
        secret = WebhookDispatcher(SqlUnitOfWorkFactory(engine), HttpWebhookSender(policy=LOOPBACK),
                                   targets=LOOPBACK).set_webhook("app-1", receiver.url)
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
        dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), HttpWebhookSender(policy=LOOPBACK),
                                       targets=LOOPBACK, renderer=BODIES)
        assert dispatcher.run_until_done().claimed == []  # nowhere to send: not even tried
        assert {(e.state.value, e.attempts) for e in dispatcher.list_events()} == {("PENDING", 0)}
        secret = dispatcher.set_webhook("app-1", receiver.url)
        report = dispatcher.run_until_done()
        dispatcher.sender.close()  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    assert report.delivered == 5 and receiver.accepted_ids() == ids  # the backlog, oldest first
    assert all(verify_webhook(secret, h["Cashier-Signature"], raw) for h, raw in receiver.accepted())
    # Events without a payment snapshot (as written before snapshots) go out as stored, marked "v0".
    bodies = [json.loads(raw) for _h, raw in receiver.accepted()]
    assert [(b["api_version"], b["data"]) for b in bodies] == [("v0", {"n": i}) for i in range(5)]


def test_two_dispatchers_deliver_each_event_once(outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, secret = outbox
    ids = add_events(database_url, 40)
    receiver.delay = 0.005
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]  # as two gateway processes
    senders = [HttpWebhookSender(policy=LOOPBACK) for _ in engines]
    dispatchers = [WebhookDispatcher(SqlUnitOfWorkFactory(e), s, batch=3, renderer=BODIES)
                   for e, s in zip(engines, senders, strict=True)]
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
    sender = HttpWebhookSender(policy=LOOPBACK)
    policy = RetryPolicy(base=timedelta(0), cap=timedelta(0), max_attempts=3)
    dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), sender, policy=policy, renderer=BODIES)
    try:
        receiver.status = 503
        receiver.answer = b"FATAL: password authentication failed for user postgres"  # as an internal port might
        for _ in range(3):
            assert dispatcher.run().claimed == [event_id]
        assert dispatcher.run().claimed == []  # parked: no longer tried
        [row] = stored_events(engine)
        assert (row.state, row.attempts, row.last_error) == ("PARKED", 3, "HTTP 503")  # never the answer's body
        listed = cashier_cli("events", "list", "--state", "parked", database_url=database_url).stdout
        assert event_id in listed and "PARKED" in listed and "attempts=3" in listed and "password" not in listed
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


def test_an_event_type_without_a_renderer_is_never_sent_in_another_shape(outbox: tuple[str, str],
                                                                        receiver: Receiver) -> None:
    database_url, _secret = outbox
    engine = make_engine(database_url, pool_size=2)
    sender = HttpWebhookSender(policy=LOOPBACK)
    try:
        uow = SqlUnitOfWorkFactory(engine)
        with uow(write=True) as w:
            # A type no renderer knows (every type the gateway writes has one: tests/unit/api/test_webhook_bodies.py).
            event = Event.create(type="merchant.renamed", merchant_id="shop-1", app_id="app-1",
                                 data={"merchant": "shop-1"}, now=utcnow())
            w.events.add(event)
            w.commit()
        report = WebhookDispatcher(uow, sender, renderer=BODIES).run()
        assert report.claimed == [event.id] and report.retried == 1
        [row] = stored_events(engine)
        assert row.state == "PENDING" and "merchant.renamed" in row.last_error
        assert receiver.requests == []
    finally:
        sender.close()
        engine.dispose()


@pytest.fixture
def loopback_config(tmp_path: Path) -> dict[str, str]:
    """The environment of a `cashier` whose configuration lets webhooks go to the receivers on loopback."""
    config = tmp_path / "loopback.toml"
    config.write_text('[webhooks]\nallow_http = true\nallow_hosts = ["127.0.0.1"]\n', encoding="utf-8")
    return {"CASHIER_CONFIG": str(config)}


def test_set_webhook_prints_a_new_secret_once(outbox: tuple[str, str], receiver: Receiver,
                                              loopback_config: dict[str, str]) -> None:
    database_url, old_secret = outbox
    result = cashier_cli("apps", "set-webhook", "app-1", receiver.url, database_url=database_url,
                         extra_env=loopback_config)
    secret = result.stdout.strip()
    assert secret.startswith("whsec_") and secret != old_secret and "shown once" in result.stderr
    bad = cashier_cli("apps", "set-webhook", "app-1", "ftp://x", database_url=database_url, check=False)
    assert bad.returncode == 1
    missing = cashier_cli("apps", "set-webhook", "nobody", receiver.url, database_url=database_url, check=False,
                          extra_env=loopback_config)
    assert missing.returncode == 1 and "app nobody does not exist" in missing.stderr


def test_two_gateway_processes_deliver_each_event_once(outbox: tuple[str, str], receiver: Receiver,
                                                       tmp_path: Path) -> None:
    database_url, secret = outbox
    receiver.delay = 0.15  # slow enough that both processes find work
    config = tmp_path / "cashier.toml"
    config.write_text('[webhooks]\nevery_seconds = 0.05\nbatch = 2\nallow_http = true\nallow_hosts = ["127.0.0.1"]\n',
                      encoding="utf-8")
    env = {"CASHIER_CONFIG": str(config)}
    processes = [ServeProcess(database_url, extra_env=env) for _ in range(2)]
    ids = add_events(database_url, 30)  # once both are up: however slowly the second started, both take part
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


# --- fairness: a slow app delays no other app; a short lease never sends an event twice ---------------


def add_app_events(uow: Any, app_id: str, n: int) -> list[str]:
    """`n` events for `app_id` (of merchant shop-1), written in one transaction, in this order."""
    ids = []
    with uow(write=True) as w:
        for i in range(n):
            event = Event.create(type="payment.succeeded", merchant_id="shop-1", app_id=app_id, data={"n": i},
                                 now=utcnow())
            w.events.add(event)
            ids.append(event.id)
        w.commit()
    return ids


def arrival(receiver: Receiver, event_id: str, since: float, timeout: float) -> float:
    """Seconds from `since` until `event_id` reached `receiver` (its request began)."""
    wait_until(lambda: any(i == event_id for i, _t in receiver.started), timeout=timeout)
    return next(t for i, t in receiver.started if i == event_id) - since


def test_a_slow_app_does_not_delay_another_apps_webhooks(gateway: RunningGateway, receiver: Receiver) -> None:
    slow = Receiver()
    slow.delay = 3.0  # app-a's endpoint takes 3 s per event (within the 5 s attempt timeout)
    try:
        seed_tenant(gateway.gateway, "shop-1", "app-a")
        issued = gateway.gateway.admin.create_app("app-b", "App app-b")
        assert issued.key
        gateway.gateway.admin.authorize_app("app-b", "shop-1")
        dispatcher = make_dispatcher(gateway.gateway)
        dispatcher.set_webhook("app-a", slow.url)
        dispatcher.set_webhook("app-b", receiver.url)
        dispatcher.sender.close()  # type: ignore[attr-defined]
        uow = gateway.gateway.payments.uow
        # Six of app-a's events queued ahead of app-b's first.
        written = time.monotonic()
        a_ids = add_app_events(uow, "app-a", 6)
        [first] = add_app_events(uow, "app-b", 1)
        latency_same_batch = arrival(receiver, first, written, timeout=12)
        # app-b's next event is written while app-a's events are still being sent.
        time.sleep(1.0)
        written = time.monotonic()
        [second] = add_app_events(uow, "app-b", 1)
        latency_next_batch = arrival(receiver, second, written, timeout=20)
        print(f"app-b's webhook after {latency_same_batch:.2f} s (queued behind app-a's 6 slow events), "
              f"{latency_next_batch:.2f} s (written while app-a's events were being sent)")
        assert latency_same_batch < 3.0  # before: 18 s, behind app-a's six
        assert latency_next_batch < 3.0  # app-a holds only its own thread; before: ~17 s
        slow.delay = 0  # app-a recovers: its backlog drains, each event once, in the order written
        wait_until(lambda: {r.state for r in stored_events(gateway)} == {"DELIVERED"}, timeout=20)
        assert [i for i, _t in slow.started] == a_ids
        sequences = [json.loads(raw)["sequence"] for _h, raw in slow.accepted()]
        assert sequences == sorted(sequences) and len(set(sequences)) == 6
    finally:
        slow.stop()


def test_two_dispatchers_with_a_short_lease_never_send_an_event_twice(
        outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, _secret = outbox
    ids = add_events(database_url, 6)
    receiver.delay = 1.0  # six events take 6 s one after another: twice the lease
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]  # as two gateway processes
    senders = [HttpWebhookSender(timeout=2.0, policy=LOOPBACK) for _ in engines]
    dispatchers = [WebhookDispatcher(SqlUnitOfWorkFactory(e), s, batch=6, lease=timedelta(seconds=3),
                                     attempt_timeout=timedelta(seconds=2), targets=LOOPBACK, renderer=BODIES)
                   for e, s in zip(engines, senders, strict=True)]
    deadline = time.monotonic() + 40

    def work(i: int) -> None:
        while len(receiver.accepted()) < 6 and time.monotonic() < deadline:
            if not dispatchers[i].run().claimed:
                time.sleep(0.1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)  # the first claims the batch; the second finds it leased
    for t in threads:
        t.join(60)
    for s, e in zip(senders, engines, strict=True):
        s.close()
        e.dispose()
    sent = [event_id for event_id, _t in receiver.started]
    twice = sorted({i for i in sent if sent.count(i) > 1})
    assert twice == []  # before: the second dispatcher re-sent what the first was still sending
    assert sorted(sent) == sorted(ids)


# --- where webhooks may go: no SSRF through a webhook URL ------------------------------------------------


INTERNAL_URLS = [
    ("http://127.0.0.1:5432/", "https://"),
    ("https://127.0.0.1:5432/", "literal address"),
    ("https://localhost:8080/metrics", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "literal address"),
    ("https://[::1]/", "literal address"),
    ("https://10.0.0.1/hooks", "literal address"),
    ("https://0.0.0.0:22/", "literal address"),
    ("https://user:pass@hooks.example.com/", "user name or password"),
    ("https://[::ffff:127.0.0.1]/", "literal address"),
]


def test_set_webhook_refuses_internal_targets(outbox: tuple[str, str], receiver: Receiver) -> None:
    database_url, _secret = outbox
    before = stored_webhook(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:  # the default configuration: https to public host names only
        dispatcher = WebhookDispatcher(SqlUnitOfWorkFactory(engine), HttpWebhookSender())
        for url, why in INTERNAL_URLS:
            with pytest.raises(InvalidArgument) as refused:
                dispatcher.set_webhook("app-1", url)
            assert [v.field for v in refused.value.violations] == ["url"], url
            assert why in refused.value.violations[0].description, (url, refused.value.violations)
        dispatcher.sender.close()  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    refused_cli = cashier_cli("apps", "set-webhook", "app-1", "https://169.254.169.254/latest/meta-data/",
                              database_url=database_url, check=False)
    assert refused_cli.returncode == 1 and "url" in refused_cli.stderr and "literal address" in refused_cli.stderr
    assert "whsec_" not in refused_cli.stdout
    assert stored_webhook(database_url) == before  # nothing changed


def stored_webhook(database_url: str) -> Any:
    engine = make_engine(database_url, pool_size=1)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            return uow.access.get_webhook("app-1")
    finally:
        engine.dispose()
