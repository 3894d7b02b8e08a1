"""WatchPayment over real gRPC, on SQLite and PostgreSQL: a page waiting on a payment sees it paid at the
Alipay sandbox and refunded, closed, or changed by another gateway process sharing the database; the
stream ends by itself; errors and tenancy are GetPayment's; a process serves a capped number of watches.

Timeouts here only guard against a hang; nothing waits a fixed time for something to happen."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client import generate_latest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.domain.merchants import PrincipalKind
from gateway.runtime import RunningGateway, start
from gateway.service.keys import key_prefix
from tests.e2e.test_payment_completion import pay_at_alipay
from tests.support import CashierClient, error_details, make_settings, seed_tenant

GUARD = 30.0  # seconds a stream may take to deliver its next message before the test fails
MARGIN = 4.0  # seconds beyond a promised bound that a loaded test machine may take


def watch(app: CashierClient, name: str, follow_refunds: bool = False, timeout: float = GUARD) -> Any:
    """The response stream of a WatchPayment call (a grpc.Call that is also an iterator)."""
    return app.stub.WatchPayment(svc.WatchPaymentRequest(name=name, follow_refunds=follow_refunds),
                                 metadata=app.metadata(), timeout=timeout)


def states(stream: Any) -> list[int]:
    """Every state the stream still delivers, until it ends by itself."""
    return [r.payment.state for r in stream]


def refund(app: CashierClient, payment: pb.Payment, out_refund_no: str, amount: int) -> None:
    app.stub.RefundPayment(svc.RefundPaymentRequest(parent=payment.name, out_refund_no=out_refund_no,
                                                    amount=amount), metadata=app.metadata())


def alipay_gateway(database_url: str, alipay: LocalAlipay, **server: Any) -> RunningGateway:
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table}, server=server)
    return start(settings, housekeeping=False)


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    running = alipay_gateway(database_url, alipay)
    try:
        yield running
    finally:
        running.stop(0.5)


def test_a_watch_sees_the_payment_paid_then_refunded_and_ends(app: CashierClient, alipay: LocalAlipay) -> None:
    payment = app.create(amount=1000)
    stream = watch(app, payment.name, follow_refunds=True)
    first = next(stream).payment
    assert first == app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
    assert first.state == pb.PAYMENT_STATE_PENDING
    assert dict(stream.initial_metadata())["x-request-id"]

    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    paid = next(stream).payment
    assert (paid.state, paid.refunded_amount) == (pb.PAYMENT_STATE_SUCCEEDED, 0)

    refund(app, payment, "R-1", 300)
    partly = next(stream).payment
    assert (partly.state, partly.refunded_amount) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 300)
    refund(app, payment, "R-2", 700)
    refunded = next(stream).payment
    assert (refunded.state, refunded.refunded_amount) == (pb.PAYMENT_STATE_REFUNDED, 1000)
    assert refunded == app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name),
                                           metadata=app.metadata()).payment
    assert states(stream) == []  # REFUNDED is final: the stream ended by itself
    assert stream.code() == grpc.StatusCode.OK


def test_without_follow_refunds_a_watch_ends_once_the_payment_is_paid(app: CashierClient,
                                                                      alipay: LocalAlipay) -> None:
    payment = app.create(amount=1000)
    stream = watch(app, payment.name)
    assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    assert states(stream) == [pb.PAYMENT_STATE_SUCCEEDED]
    assert stream.code() == grpc.StatusCode.OK
    # Watching a paid payment: its state, and the end.
    assert states(watch(app, payment.name)) == [pb.PAYMENT_STATE_SUCCEEDED]


def test_a_closed_payment_ends_its_watch(app: CashierClient) -> None:
    payment = app.create()
    stream = watch(app, payment.name, follow_refunds=True)
    assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
    app.stub.ClosePayment(svc.ClosePaymentRequest(name=payment.name), metadata=app.metadata())
    assert states(stream) == [pb.PAYMENT_STATE_CLOSED]
    # Already closed: one message, then the end.
    assert states(watch(app, payment.name, follow_refunds=True)) == [pb.PAYMENT_STATE_CLOSED]


def test_a_change_made_by_another_gateway_process_is_seen(database_url: str, gateway: RunningGateway,
                                                          app: CashierClient, alipay: LocalAlipay) -> None:
    # A second gateway on the same database: the payment is created there, and the sandbox's notification
    # reaches it there; the watch runs here.
    other = alipay_gateway(database_url, alipay)
    try:
        with grpc.insecure_channel(other.grpc_target) as channel:
            there = CashierClient(channel, app.tenant)
            payment = there.create(amount=1000)
            stream = watch(app, payment.name)
            assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
            pay_at_alipay(alipay, payment.action.app_pay.order_string)
            assert states(stream) == [pb.PAYMENT_STATE_SUCCEEDED]
        applied = 'cashier_notifications_total{channel="mobile",result="applied"} 1.0'
        assert applied in httpx.get(f"{other.http_url}/metrics").text
        assert applied not in httpx.get(f"{gateway.http_url}/metrics").text
    finally:
        other.stop(0.5)


def test_errors_are_those_of_get_payment(gateway: RunningGateway, app: CashierClient) -> None:
    theirs = CashierClient(app.channel, seed_tenant(gateway.gateway, merchant_id="jeweller", app_id="app-2"))
    their_payment = theirs.create()

    with pytest.raises(grpc.RpcError) as err:
        states(watch(app, their_payment.name))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_details(err.value)[1].reason == "MERCHANT_NOT_AUTHORIZED"  # type: ignore[union-attr]

    missing = f"merchants/{app.tenant.merchant_id}/payments/{their_payment.name.rsplit('/', 1)[1]}"
    with pytest.raises(grpc.RpcError) as err:
        states(watch(app, missing))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.RpcError) as err:
        states(watch(app, "payments/nope"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(error_details(err.value)[0]) == {"name"}

    with pytest.raises(grpc.RpcError) as err:
        states(app.stub.WatchPayment(svc.WatchPaymentRequest(name=their_payment.name), timeout=GUARD,
                                     metadata=[("authorization", "Bearer ck_app_not-a-real-key")]))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_watch_ends_after_the_maximum_duration(database_url: str, alipay: LocalAlipay,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    running = alipay_gateway(database_url, alipay, watch_max_seconds=0.5)
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            payment = app.create()
            stream = watch(app, payment.name)
            # Still PENDING, the stream ends without error: the client calls again.
            assert states(stream) == [pb.PAYMENT_STATE_PENDING]
            assert stream.code() == grpc.StatusCode.OK
    finally:
        running.stop(0.5)


def test_watches_are_capped_per_process_and_never_starve_other_calls(
        database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    # One app may take the whole process here (per-app limits: the test after the next).
    running = alipay_gateway(database_url, alipay, threads=4, watch_max_streams=2, watch_max_streams_per_app=2)
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            payment = app.create()
            held = [watch(app, payment.name, timeout=120) for _ in range(2)]
            for stream in held:
                assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING

            with pytest.raises(grpc.RpcError) as err:
                states(watch(app, payment.name))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limit of 2 WatchPayment streams" in (err.value.details() or "")
            info = error_details(err.value)[1]
            assert info is not None and info.reason == "TOO_MANY_WATCHES" and info.metadata["limit"] == "2"

            # The other threads still serve everything else.
            for _ in range(5):
                created = app.create()
                assert created.state == pb.PAYMENT_STATE_PENDING
            app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata(), timeout=GUARD)

            # A watcher that leaves frees its place (within a poll interval or so: keep asking).
            held[0].cancel()
            assert _watch_once_admitted(app, payment.name) == pb.PAYMENT_STATE_PENDING
            held[1].cancel()
    finally:
        running.stop(GUARD)  # returns once every call has ended
    metrics = generate_latest(running.gateway.metrics.registry).decode()
    for code in ("RESOURCE_EXHAUSTED", "CANCELLED"):
        assert f'cashier_rpc_calls_total{{code="{code}",method="WatchPayment"}}' in metrics


def test_stopping_the_server_ends_open_watches(database_url: str, alipay: LocalAlipay,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    running = alipay_gateway(database_url, alipay)
    with grpc.insecure_channel(running.grpc_target) as channel:
        app = CashierClient(channel, seed_tenant(running.gateway))
        stream = watch(app, app.create().name, timeout=120)
        assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
        stopped = threading.Thread(target=running.stop, args=(GUARD,))
        stopped.start()
        # The stream ends cleanly at once, long before the grace period would cut it off.
        assert states(stream) == []
        assert stream.code() == grpc.StatusCode.OK
        stopped.join(GUARD)
        assert not stopped.is_alive()


def _watch_once_admitted(app: CashierClient, name: str) -> int:
    """Open a watch, retrying while the process is still full; return its first state, then leave."""
    for _ in range(10_000):
        stream = watch(app, name)
        try:
            return next(stream).payment.state  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            threading.Event().wait(0.01)
        finally:
            stream.cancel()
    raise AssertionError("a watch place never came free after another watcher left")


# --- the stream is driven by the outbox: every change is a message, whoever made it and however fast ------


def test_a_partial_then_a_full_refund_in_quick_succession_are_two_messages(
        database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> None:
    # A poll interval far longer than the two refunds take: each is still its own message.
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    running = alipay_gateway(database_url, alipay, watch_poll_seconds=2.0)
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            payment = app.create(amount=1000)
            stream = watch(app, payment.name, follow_refunds=True)
            assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
            pay_at_alipay(alipay, payment.action.app_pay.order_string)
            assert next(stream).payment.state == pb.PAYMENT_STATE_SUCCEEDED
            refund(app, payment, "R-1", 300)
            refund(app, payment, "R-2", 700)
            assert [(r.payment.state, r.payment.refunded_amount) for r in stream] == [
                (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 300), (pb.PAYMENT_STATE_REFUNDED, 1000)]
            assert stream.code() == grpc.StatusCode.OK
    finally:
        running.stop(0.5)


def _ends_with_permission_denied(stream: Any, deadline: float) -> tuple[grpc.RpcError, float]:
    """Drain `stream` (a watch that will not change by itself) until it fails; the error and when."""
    with pytest.raises(grpc.RpcError) as err:
        states(stream)
    ended = time.monotonic()
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, err.value.details()
    assert ended < deadline
    return err.value, ended


CACHE_SECONDS = 1.0  # [auth] cache_seconds of the credential tests: how soon a withdrawal must reach a stream


@contextlib.contextmanager
def watching(database_url: str, alipay: LocalAlipay) -> Iterator[tuple[RunningGateway, CashierClient, Any, Any]]:
    """A gateway with a 1 s auth cache, an app, its PENDING payment and an open watch past its first message."""
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table},
                             server={"watch_max_seconds": 20}, auth={"cache_seconds": CACHE_SECONDS})
    running = start(settings, housekeeping=False)
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            app = CashierClient(channel, seed_tenant(running.gateway))
            payment = app.create()
            stream = watch(app, payment.name)
            assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
            yield running, app, payment, stream
    finally:
        running.stop(0.5)


def test_deauthorizing_the_app_ends_its_open_watch_within_the_auth_cache_time(
        database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with watching(database_url, alipay) as (running, app, payment, stream):
        assert running.gateway.admin.deauthorize_app(app.tenant.app_id, app.tenant.merchant_id)
        started = time.monotonic()
        error, ended = _ends_with_permission_denied(stream, started + CACHE_SECONDS + MARGIN)
        assert error_details(error)[1].reason == "MERCHANT_NOT_AUTHORIZED"  # type: ignore[union-attr]
        # GetPayment says the same.
        with pytest.raises(grpc.RpcError) as err:
            app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata())
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("withdrawal", ["revoked", "rolled out"])
def test_a_withdrawn_key_ends_its_open_watch_within_the_auth_cache_time(
        database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch, withdrawal: str) -> None:
    """The key a stream was opened with stops working (revoked, or rolled with no grace): the stream ends
    with PERMISSION_DENIED within [auth] cache_seconds, while a call with the app's new key still works."""
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with watching(database_url, alipay) as (running, app, payment, stream):
        admin = running.gateway.admin
        if withdrawal == "revoked":  # the old key would outlive the roll by an hour: revoke it by prefix
            new_key = admin.roll_key(PrincipalKind.APP, app.tenant.app_id, grace=timedelta(hours=1)).key
            admin.revoke_key(PrincipalKind.APP, app.tenant.app_id, key_prefix(app.tenant.key))
        else:
            new_key = admin.roll_key(PrincipalKind.APP, app.tenant.app_id, grace=timedelta(0)).key
        started = time.monotonic()
        error, _ = _ends_with_permission_denied(stream, started + CACHE_SECONDS + MARGIN)
        assert error_details(error)[1].reason == "CREDENTIALS_WITHDRAWN"  # type: ignore[union-attr]
        answer = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name),
                                     metadata=[("authorization", f"Bearer {new_key}")])
        assert answer.payment.state == pb.PAYMENT_STATE_PENDING


def test_an_app_at_its_own_watch_limit_does_not_stop_another_app(
        database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    running = alipay_gateway(database_url, alipay, threads=8, watch_max_streams=4, watch_max_streams_per_app=2)
    try:
        with grpc.insecure_channel(running.grpc_target) as channel:
            a = CashierClient(channel, seed_tenant(running.gateway))
            b = CashierClient(channel, seed_tenant(running.gateway, merchant_id="jeweller", app_id="app-2"))
            a_payment, b_payment = a.create(), b.create()
            held = [watch(a, a_payment.name, timeout=120) for _ in range(2)]
            for stream in held:
                assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING

            with pytest.raises(grpc.RpcError) as err:
                states(watch(a, a_payment.name))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "watch_max_streams_per_app" in (err.value.details() or "")
            info = error_details(err.value)[1]
            assert info is not None and info.reason == "TOO_MANY_WATCHES_FOR_APP" and info.metadata["limit"] == "2"

            # B still watches, up to the process's limit of 4 (2 of A's, 2 of B's).
            mine = [watch(b, b_payment.name, timeout=120) for _ in range(2)]
            for stream in mine:
                assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
            with pytest.raises(grpc.RpcError) as err:
                states(watch(b, b_payment.name))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            info = error_details(err.value)[1]
            assert info is not None and info.reason == "TOO_MANY_WATCHES" and info.metadata["limit"] == "4"
            for stream in held + mine:
                stream.cancel()
    finally:
        running.stop(GUARD)


def test_refunds_made_by_another_gateway_process_reach_the_stream_one_by_one(
        database_url: str, gateway: RunningGateway, app: CashierClient, alipay: LocalAlipay) -> None:
    other = alipay_gateway(database_url, alipay)
    try:
        with grpc.insecure_channel(other.grpc_target) as channel:
            there = CashierClient(channel, app.tenant)
            payment = there.create(amount=1000)
            stream = watch(app, payment.name, follow_refunds=True)
            assert next(stream).payment.state == pb.PAYMENT_STATE_PENDING
            pay_at_alipay(alipay, payment.action.app_pay.order_string)
            assert next(stream).payment.state == pb.PAYMENT_STATE_SUCCEEDED
            refund(there, payment, "R-1", 100)
            refund(there, payment, "R-2", 900)
            assert [(r.payment.state, r.payment.refunded_amount) for r in stream] == [
                (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 100), (pb.PAYMENT_STATE_REFUNDED, 1000)]
    finally:
        other.stop(0.5)
