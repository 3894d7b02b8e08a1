"""Completing a purchase: the buyer pays at the Alipay sandbox, its signed notification reaches the
gateway's HTTP face, and the payment is SUCCEEDED over gRPC, exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from tests.support import CashierClient, cashier_cli, make_settings, running_gateway


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    with running_gateway(make_settings(database_url, channels={"alipay": alipay.channel_table}), housekeeping=False) as running:
        yield running


def wait_for_state(app: CashierClient, name: str, state: int, seconds: float = 10) -> pb.Payment:
    deadline = time.monotonic() + seconds
    while True:
        payment = app.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=app.metadata()).payment
        if payment.state == state or time.monotonic() > deadline:
            return payment
        time.sleep(0.05)


def pay_at_alipay(alipay: LocalAlipay, order_string: str) -> dict:  # type: ignore[type-arg]
    answer = httpx.post(f"{alipay.url}/sandbox/app-pay", json={"order_string": order_string, "pay": True})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_paying_at_alipay_makes_the_payment_succeeded(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = app.create(amount=4200)
    assert payment.channel == "mobile"
    trade = pay_at_alipay(alipay, payment.action.app_pay.order_string)
    paid = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    assert paid.state == pb.PAYMENT_STATE_SUCCEEDED
    attempts = httpx.get(f"{alipay.url}/sandbox/notifications").json()
    delivered = [a for a in _attempts(attempts) if a.get("out_trade_no") == trade["out_trade_no"]]
    assert delivered and _acknowledged(delivered[-1])
    metrics = httpx.get(f"{gateway.http_url}/metrics").text
    assert 'cashier_notifications_total{channel="mobile",result="applied"} 1.0' in metrics


def test_a_replayed_notification_changes_nothing(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    payment = app.create(amount=4200)
    # Pay, then replay the exact signed body Alipay sent, 20 times, straight at the gateway.
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    paid = wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    body = _last_body(alipay)
    url = f"{gateway.http_url}/notify/mobile/{app.tenant.merchant_id}"
    for _ in range(20):
        answer = httpx.post(url, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert (answer.status_code, answer.text) == (200, "success")
    again = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
    assert again == paid


def test_a_tampered_notification_is_refused_and_changes_nothing(app: CashierClient, alipay: LocalAlipay, gateway) -> None:  # type: ignore[no-untyped-def]
    first = app.create(amount=4200)
    pay_at_alipay(alipay, first.action.app_pay.order_string)
    wait_for_state(app, first.name, pb.PAYMENT_STATE_SUCCEEDED)
    genuine = _last_body(alipay)
    second = app.create(amount=4200)
    forged = genuine.replace(first.name.rsplit("/", 1)[1].encode(), second.name.rsplit("/", 1)[1].encode())
    answer = httpx.post(f"{gateway.http_url}/notify/mobile/{app.tenant.merchant_id}", content=forged,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and answer.text != "success"
    still = app.stub.GetPayment(svc.GetPaymentRequest(name=second.name), metadata=app.metadata()).payment
    assert still.state == pb.PAYMENT_STATE_PENDING


def _attempts(listing: dict) -> list[dict]:  # type: ignore[type-arg]
    return list(listing["notifications"])


def _acknowledged(record: dict) -> bool:  # type: ignore[type-arg]
    return bool(record["delivered"])


def _last_body(alipay: LocalAlipay) -> bytes:
    """The last notification as Alipay would send it again: same fields, signed by the sandbox's key."""
    record = _attempts(httpx.get(f"{alipay.url}/sandbox/notifications").json())[-1]
    fields = {**record["fields"], "notify_time": "2026-11-23 12:00:00"}
    fields["sign"] = alipay.handle.sandbox.sign_v1(fields)
    return urlencode(fields).encode()


def _signed(alipay: LocalAlipay, **changes: str) -> bytes:
    """The last notification with `changes`, signed by the sandbox's key: genuine, but not what we stored."""
    record = _attempts(httpx.get(f"{alipay.url}/sandbox/notifications").json())[-1]
    fields = {k: v for k, v in record["fields"].items() if k not in ("sign", "sign_type")}
    fields.update(changes, sign_type="RSA2")
    fields["sign"] = alipay.handle.sandbox.sign_v1(fields)
    return urlencode(fields).encode()


def _post(gateway: RunningGateway, merchant_id: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{gateway.http_url}/notify/mobile/{merchant_id}", content=body,
                      headers={"content-type": "application/x-www-form-urlencoded"})


def test_a_genuine_notification_for_another_amount_is_flagged_not_applied(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    first = app.create(amount=4200)
    pay_at_alipay(alipay, first.action.app_pay.order_string)
    wait_for_state(app, first.name, pb.PAYMENT_STATE_SUCCEEDED)
    second = app.create(amount=4200)
    second_id = second.name.rsplit("/", 1)[1]
    body = _signed(alipay, out_trade_no=second_id, total_amount="0.01")
    for _ in range(3):  # Alipay retries what is not acknowledged
        answer = _post(gateway, app.tenant.merchant_id, body)
        assert (answer.status_code, answer.text) == (409, "fail")
    still = app.stub.GetPayment(svc.GetPaymentRequest(name=second.name), metadata=app.metadata()).payment
    assert still.state == pb.PAYMENT_STATE_PENDING
    flags = gateway.gateway.flags.list()
    assert [(f.kind.value, f.payment_id, f.occurrences) for f in flags] == [("AMOUNT_MISMATCH", second_id, 3)]
    assert "reports 1 paid" in flags[0].detail
    # The operator's side, through the real CLI.
    database_url = str(gateway.gateway.settings.database.url)
    listed = cashier_cli("flags", "list", database_url=database_url).stdout
    assert flags[0].id in listed and "AMOUNT_MISMATCH" in listed and "seen=3" in listed
    no_note = cashier_cli("flags", "resolve", flags[0].id, "--note", " ", database_url=database_url, check=False)
    assert no_note.returncode == 1 and "resolution" in no_note.stderr
    cashier_cli("flags", "resolve", flags[0].id, "--note", "buyer paid 0.01 by mistake; refunded",
                database_url=database_url)
    assert cashier_cli("flags", "list", database_url=database_url).stdout == ""
    assert "resolved: buyer paid 0.01" in cashier_cli("flags", "list", "--all", database_url=database_url).stdout
    again = cashier_cli("flags", "resolve", flags[0].id, "--note", "x", database_url=database_url, check=False)
    assert again.returncode == 1 and "resolved already" in again.stderr


def test_a_genuine_notification_for_another_app_is_flagged(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    payment = app.create(amount=4200)
    pay_at_alipay(alipay, payment.action.app_pay.order_string)
    wait_for_state(app, payment.name, pb.PAYMENT_STATE_SUCCEEDED)
    answer = _post(gateway, app.tenant.merchant_id, _signed(alipay, app_id="2021000000009999"))
    assert answer.status_code == 400 and answer.text != "success"
    assert [(f.kind.value, f.channel) for f in gateway.gateway.flags.list()] == [("APP_MISMATCH", "mobile")]
    # A forged notification (signature does not verify) is refused but flags nothing: anyone can send those.
    forged = _signed(alipay, app_id="2021000000009999").replace(b"total_amount=42.00", b"total_amount=1.00")
    assert _post(gateway, app.tenant.merchant_id, forged).status_code == 400
    assert len(gateway.gateway.flags.list()) == 1
