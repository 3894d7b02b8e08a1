"""The watch loop without a transport, on a real database (SQLite and PostgreSQL): what it yields, when it
ends, who it keeps serving, and the limits per process and per app. Changes are written as the use cases
write them: the payment's row, then its event, in one transaction."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from gateway.bootstrap import Gateway, bootstrap
from gateway.config import ServerSettings
from gateway.domain.actions import QrCode
from gateway.domain.errors import NotFound, PermissionDenied, ResourceExhausted
from gateway.domain.events import (
    PAYMENT_CLOSED,
    PAYMENT_SUCCEEDED,
    payment_event,
    payment_from_snapshot,
    payment_snapshot,
    refund_event,
)
from gateway.domain.ids import new_payment_id, new_refund_id, utcnow
from gateway.domain.payments import (
    ClientInfo,
    LineItem,
    NewPayment,
    Payment,
    PaymentState,
    Platform,
    Scenario,
)
from gateway.domain.refunds import NewRefund, Refund
from gateway.service.watch import WatchPayment, WatchService, watch_ends
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import UTCDateTime, apps
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.support import Tenant, make_settings, seed_tenant


@pytest.fixture
def gateway(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    built = bootstrap(make_settings(database_url))
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def tenant(gateway: Gateway) -> Tenant:
    return seed_tenant(gateway)


def service(gateway: Gateway, **limits: Any) -> WatchService:
    options: dict[str, Any] = {"poll_seconds": 0.01, "recheck_seconds": 0.05} | limits
    return WatchService(gateway.payments.uow, gateway.payments, gateway.authenticator, **options)


def command(gateway: Gateway, tenant: Tenant, payment: Payment, follow_refunds: bool = False) -> WatchPayment:
    principal = gateway.authenticator.authenticate(tenant.key)
    return WatchPayment(principal, tenant.merchant_id, payment.id, follow_refunds, tenant.key)


def stored_payment(gateway: Gateway, tenant: Tenant, amount: int = 1000) -> Payment:
    now = utcnow()
    new = NewPayment(tenant.merchant_id, "order-" + new_payment_id(now)[-8:], amount, "CNY", "Tea",
                     ClientInfo(Platform.IOS_APP, "Platform", "9.2.0"), Scenario.OTHER,
                     line_items=(LineItem("tea", "Oolong", 1, amount),), metadata={"table": "7"})
    payment = Payment.create(payment_id=new_payment_id(now), app_id=tenant.app_id, new=new, channel="mobile",
                             now=now)
    with gateway.payments.uow(write=True) as uow:
        assert uow.payments.add(payment)
        uow.commit()
    return payment


def pay(gateway: Gateway, payment: Payment) -> Payment:
    paid = payment.paid(utcnow(), "trade-1")
    with gateway.payments.uow(write=True) as uow:
        assert uow.payments.save_state(paid, expected=payment.state)
        uow.events.add(payment_event(PAYMENT_SUCCEEDED, paid, paid.updated_at))
        uow.commit()
    return paid


def close(gateway: Gateway, payment: Payment) -> None:
    closed = payment.closed(utcnow())
    with gateway.payments.uow(write=True) as uow:
        assert uow.payments.save_state(closed, expected=payment.state)
        uow.events.add(payment_event(PAYMENT_CLOSED, closed, closed.updated_at))
        uow.commit()


def refund(gateway: Gateway, payment: Payment, amount: int, *, succeeds: bool = True) -> None:
    """A refund as RefundService records it: held, then settled (or released) with its event."""
    now = utcnow()
    pending = Refund.create(refund_id=new_refund_id(now), app_id=payment.app_id, currency=payment.currency,
                            now=now, new=NewRefund(payment.merchant_id, payment.id, "R-" + new_refund_id(now),
                                                   amount, ""))
    with gateway.payments.uow(write=True) as uow:
        assert uow.payments.reserve_refund(payment.merchant_id, payment.id, amount)
        assert uow.refunds.add(pending)
        uow.commit()
    settled = pending.succeeded(utcnow()) if succeeds else pending.failed(utcnow(), "refused")
    with gateway.payments.uow(write=True) as uow:
        assert uow.refunds.save_state(settled, expected=pending.state)
        if succeeds:
            assert uow.payments.settle_refund(payment.merchant_id, payment.id, amount, settled.updated_at)
        else:
            assert uow.payments.release_refund(payment.merchant_id, payment.id, amount)
        after = uow.payments.get(payment.merchant_id, payment.id)
        assert after is not None
        uow.events.add(refund_event(settled, after, settled.updated_at))
        uow.commit()


def observed(payments: Iterator[Payment] | list[Payment]) -> list[tuple[PaymentState, int]]:
    return [(p.state, p.refunded_amount) for p in payments]


# --- what a watch yields ----------------------------------------------------------------------------------


def test_a_snapshot_is_plain_json_and_gives_the_payment_back_but_its_buyer_action() -> None:
    new = NewPayment("shop-1", "order-1", 1000, "CNY", "Tea", ClientInfo(Platform.PC_BROWSER, "", "", "UA/1"),
                     Scenario.SHARED_LINK, line_items=(LineItem("tea", "Oolong", 2, 500),), metadata={"k": "v"})
    now = utcnow()
    payment = (Payment.create(payment_id="pay_1", app_id="app-1", new=new, channel="pc", now=now,
                              checkout_token="secret-token")
               .with_action(QrCode("https://qr.example/1")).paid(now + timedelta(seconds=3), "trade-1", "buyer-1")
               .refund_reserved_for(300).refund_settled(300, now + timedelta(seconds=9)))
    snapshot = json.loads(json.dumps(payment_snapshot(payment)))
    assert "action" not in snapshot and "secret-token" not in json.dumps(snapshot)
    assert payment_from_snapshot(snapshot) == replace(payment, action=None, checkout_token="")


def test_every_change_is_one_message_even_when_several_land_between_two_reads(
        gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    stream = service(gateway).watch(command(gateway, tenant, payment, follow_refunds=True))
    assert observed([next(stream)]) == [(PaymentState.PENDING, 0)]
    # The stream reads nothing until it is asked for its next message: all of this lands before its read.
    paid = pay(gateway, payment)
    refund(gateway, paid, 300)
    refund(gateway, paid, 200, succeeds=False)  # only the amount held moves: nothing to tell
    refund(gateway, paid, 700)
    assert observed(stream) == [(PaymentState.SUCCEEDED, 0), (PaymentState.PARTIALLY_REFUNDED, 300),
                                (PaymentState.REFUNDED, 1000)]


def test_a_message_is_the_payment_as_get_payment_shows_it_after_that_change(
        gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    stream = service(gateway).watch(command(gateway, tenant, payment, follow_refunds=True))
    first = next(stream)
    paid = pay(gateway, payment)
    assert next(stream) == replace(paid, action=first.action)
    refund(gateway, paid, 1000)
    last = next(stream)
    assert last == gateway.payments.get(command(gateway, tenant, payment).principal, tenant.merchant_id,
                                        payment.id)
    assert list(stream) == []


def test_without_follow_refunds_the_watch_ends_when_the_payment_leaves_pending(
        gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    stream = service(gateway).watch(command(gateway, tenant, payment))
    assert next(stream).state is PaymentState.PENDING
    close(gateway, payment)
    assert [p.state for p in stream] == [PaymentState.CLOSED]
    # Already closed: one message, then the end.
    assert [p.state for p in service(gateway).watch(command(gateway, tenant, payment))] == [PaymentState.CLOSED]


@pytest.mark.parametrize(("state", "follow", "ends"), [
    (PaymentState.PENDING, False, False), (PaymentState.PENDING, True, False),
    (PaymentState.SUCCEEDED, False, True), (PaymentState.SUCCEEDED, True, False),
    (PaymentState.PARTIALLY_REFUNDED, True, False), (PaymentState.REFUNDED, True, True),
    (PaymentState.CLOSED, True, True), (PaymentState.FAILED, True, True),
])
def test_when_a_watch_ends(state: PaymentState, follow: bool, ends: bool) -> None:
    assert watch_ends(state, follow) is ends


def test_the_watch_ends_after_its_maximum_duration(gateway: Gateway, tenant: Tenant) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    payment = stored_payment(gateway, tenant)
    watches = service(gateway, max_seconds=5, recheck_seconds=1000, clock=clock)
    assert [p.state for p in watches.watch(command(gateway, tenant, payment))] == [PaymentState.PENDING]


# --- who it keeps serving ---------------------------------------------------------------------------------


def test_withdrawing_the_merchants_authorisation_ends_the_watch(gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    stream = service(gateway).watch(command(gateway, tenant, payment))
    next(stream)
    assert gateway.admin.deauthorize_app(tenant.app_id, tenant.merchant_id)
    with pytest.raises(PermissionDenied) as err:
        next(stream)
    assert err.value.reason == "MERCHANT_NOT_AUTHORIZED"


def test_disabling_the_app_ends_the_watch_though_its_key_is_cached(gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    watches = service(gateway)
    stream = watches.watch(command(gateway, tenant, payment))
    next(stream)
    gateway.authenticator.cache_seconds = 3600  # a cached key would stay good for an hour
    gateway.authenticator.authenticate(tenant.key)
    with gateway.engine.begin() as conn:  # no operator command disables an app yet
        conn.execute(sa.update(apps).where(apps.c.app_id == tenant.app_id).values(disabled=True))
    with pytest.raises(PermissionDenied) as err:
        next(stream)
    assert err.value.reason == "CREDENTIALS_WITHDRAWN"
    assert watches.active == 0


def test_stop_ends_the_watch_and_frees_its_place(gateway: Gateway, tenant: Tenant) -> None:
    watches = service(gateway, max_streams=1)
    stop = threading.Event()
    stream = watches.watch(command(gateway, tenant, stored_payment(gateway, tenant)), stop)
    next(stream)
    assert watches.active == 1
    stop.set()
    assert list(stream) == []
    assert watches.active == 0


def test_limits_per_process_and_per_app_refuse_at_once_until_a_watch_leaves(
        gateway: Gateway, tenant: Tenant) -> None:
    other = seed_tenant(gateway, merchant_id="jeweller", app_id="app-2")
    mine, theirs = stored_payment(gateway, tenant), stored_payment(gateway, other)
    watches = service(gateway, max_streams=3, max_streams_per_app=2)
    held = [watches.watch(command(gateway, tenant, mine)) for _ in range(2)]
    for stream in held:
        next(stream)
    with pytest.raises(ResourceExhausted) as err:
        next(watches.watch(command(gateway, tenant, mine)))
    assert err.value.reason == "TOO_MANY_WATCHES_FOR_APP"
    assert err.value.metadata == {"limit": "2", "setting": "server.watch_max_streams_per_app"}

    their_stream = watches.watch(command(gateway, other, theirs))
    next(their_stream)  # another app still gets the place left
    with pytest.raises(ResourceExhausted) as err:
        next(watches.watch(command(gateway, other, theirs)))
    assert err.value.reason == "TOO_MANY_WATCHES"
    assert err.value.metadata == {"limit": "3", "setting": "server.watch_max_streams"}

    held[0].close()  # the transport drops a stream whose client left
    assert next(watches.watch(command(gateway, tenant, mine))).state is PaymentState.PENDING
    with pytest.raises(ResourceExhausted):
        next(service(gateway, max_streams=0).watch(command(gateway, tenant, mine)))


def test_the_limits_default_to_half_the_threads_and_half_of_that_per_app() -> None:
    assert (ServerSettings().watch_streams, ServerSettings().watch_streams_per_app) == (8, 4)
    assert ServerSettings(threads=3).watch_streams_per_app == 1  # never 0 unless set so
    configured = ServerSettings(watch_max_streams=6, watch_max_streams_per_app=5)
    assert (configured.watch_streams, configured.watch_streams_per_app) == (6, 5)


def test_errors_of_the_read_come_through_and_take_no_place(gateway: Gateway, tenant: Tenant) -> None:
    watches = service(gateway, max_streams=1)
    missing = replace(stored_payment(gateway, tenant), id=new_payment_id(utcnow()))
    with pytest.raises(NotFound):
        next(watches.watch(command(gateway, tenant, missing)))
    assert watches.active == 0


def test_closing_ends_open_watches_and_later_ones_after_their_first_message(
        gateway: Gateway, tenant: Tenant) -> None:
    payment = stored_payment(gateway, tenant)
    watches = service(gateway)
    stream = watches.watch(command(gateway, tenant, payment))
    next(stream)
    watches.close()
    assert list(stream) == []
    assert [p.state for p in watches.watch(command(gateway, tenant, payment))] == [PaymentState.PENDING]


# --- events written before the migration -------------------------------------------------------------------


def test_the_migration_gives_earlier_events_their_payment_and_a_sequence_in_order(database_url: str) -> None:
    before = ScriptDirectory(str(migrate.MIGRATIONS)).get_revision("0010").down_revision
    assert isinstance(before, str)
    engine = make_engine(database_url, pool_size=1)
    try:
        migrate.upgrade(engine, before)
        rows = [("evt_01", {"data": {"payment": {"payment_id": "pay_1"}}}),
                ("evt_02", {"data": {"refund": {"refund_id": "ref_1", "payment_id": "pay_1"}}}),
                ("evt_03", {"data": {"merchant": {"merchant_id": "shop-1"}}})]
        # The events table as it was before the migration.
        earlier = sa.table("events", *(sa.column(name) for name in (
            "merchant_id", "event_id", "app_id", "type", "state", "attempts", "last_error", "hooks_pending")),
            sa.column("payload", sa.JSON), sa.column("created_at", UTCDateTime),
            sa.column("next_attempt_at", UTCDateTime))
        with engine.begin() as conn:
            for event_id, payload in rows:
                conn.execute(sa.insert(earlier).values(
                    merchant_id="shop-1", event_id=event_id, app_id="app-1", type="t", payload=payload,
                    created_at=utcnow(), state="PENDING", attempts=0, next_attempt_at=utcnow(), last_error="",
                    hooks_pending=False))
        migrate.upgrade(engine)
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT event_id, payment_id, sequence FROM events ORDER BY event_id"))
            assert [tuple(row) for row in found] == [("evt_01", "pay_1", 1), ("evt_02", "pay_1", 2),
                                                     ("evt_03", None, 3)]
        # The next event is numbered after them.
        uow = SqlUnitOfWorkFactory(engine)
        now = utcnow()
        new = NewPayment("shop-1", "order-1", 100, "CNY", "Tea", ClientInfo(Platform.IOS_APP), Scenario.OTHER)
        payment = Payment.create(payment_id="pay_1", app_id="app-1", new=new, channel="mobile", now=now)
        with uow(write=True) as w:
            w.events.add(payment_event(PAYMENT_CLOSED, payment.closed(now), now))
            w.commit()
        with uow() as r:
            assert [e.sequence for e in r.events.of_payment("shop-1", "pay_1", 0, 10)] == [1, 2, 4]
            assert r.events.last_of_payment("shop-1", "pay_1") == 4
    finally:
        engine.dispose()
