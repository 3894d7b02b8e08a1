"""`[channels.alipay] seller_id`: a notification signed by Alipay for our app, but paid to another payee (another
seller_id), is refused and flagged SELLER_MISMATCH, on SQLite and PostgreSQL; with our seller it is applied."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.rail.errors import AlipayConfigError
from channels.alipay.sandbox.local import LocalAlipay
from channels.alipay.toolkit import AlipaySettings
from gateway.runtime import RunningGateway
from tests.e2e.test_payment_completion import pay_at_alipay, wait_for_state
from tests.support import CashierClient, cashier_cli, make_settings, running_gateway

OTHER_SELLER = "2088999999999999"


def sandbox_seller(alipay: LocalAlipay) -> str:
    """The PID the sandbox pays our app's trades to, as it says itself."""
    apps = httpx.get(f"{alipay.url}/sandbox/apps").json()["apps"]
    return next(a["seller_id"] for a in apps if a["app_id"] == alipay.app_id)


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile")
    table = {**alipay.channel_table, "seller_id": sandbox_seller(alipay)}
    with running_gateway(make_settings(database_url, channels={"alipay": table}), housekeeping=False) as running:
        yield running


def notification_for(alipay: LocalAlipay, payment_id: str, **changes: str | None) -> bytes:
    """The sandbox's last notification, moved to `payment_id` with `changes` (None drops a field), signed by the
    sandbox's key: genuine as far as any signature check can tell."""
    record = httpx.get(f"{alipay.url}/sandbox/notifications").json()["notifications"][-1]
    fields = {k: v for k, v in record["fields"].items() if k not in ("sign", "sign_type")}
    fields.update(out_trade_no=payment_id, trade_no=f"2026{payment_id[-20:]}", sign_type="RSA2")
    for key, value in changes.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    fields["sign"] = alipay.handle.sandbox.sign_v1(fields)
    return urlencode(fields).encode()


def post(gateway: RunningGateway, merchant_id: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{gateway.http_url}/notify/mobile/{merchant_id}", content=body,
                      headers={"content-type": "application/x-www-form-urlencoded"})


def state_of(app: CashierClient, name: str) -> int:
    return app.stub.GetPayment(svc.GetPaymentRequest(name=name), metadata=app.metadata()).payment.state


def test_a_notification_paid_to_another_seller_is_refused_and_flagged(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    # Our seller: the sandbox's own notification is applied as ever.
    first = app.create(amount=4200)
    pay_at_alipay(alipay, first.action.app_pay.order_string)
    assert wait_for_state(app, first.name, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED

    second = app.create(amount=4200)
    second_id = second.name.rsplit("/", 1)[1]
    no_seller = post(gateway, app.tenant.merchant_id, notification_for(alipay, second_id, seller_id=None))
    assert (no_seller.status_code, no_seller.text) == (400, "fail")
    elsewhere = notification_for(alipay, second_id, seller_id=OTHER_SELLER)
    for _ in range(2):  # Alipay resends what is not acknowledged
        answer = post(gateway, app.tenant.merchant_id, elsewhere)
        assert (answer.status_code, answer.text) == (400, "fail")
    assert state_of(app, second.name) == pb.PAYMENT_STATE_PENDING

    flags = gateway.gateway.flags.list()
    assert [(f.kind.value, f.payment_id, f.channel, f.occurrences) for f in flags] == [
        ("SELLER_MISMATCH", second_id, "mobile", 3)]
    assert OTHER_SELLER in flags[0].detail
    listed = cashier_cli("flags", "list", database_url=str(gateway.gateway.settings.database.url)).stdout
    assert flags[0].id in listed and "SELLER_MISMATCH" in listed
    metrics = httpx.get(f"{gateway.http_url}/metrics").text
    assert 'cashier_notifications_total{channel="mobile",result="misdirected"} 3.0' in metrics

    # The same notification naming our seller is applied.
    ours = post(gateway, app.tenant.merchant_id, notification_for(alipay, second_id))
    assert (ours.status_code, ours.text) == (200, "success")
    assert state_of(app, second.name) == pb.PAYMENT_STATE_SUCCEEDED
    assert len(gateway.gateway.flags.list()) == 1


def test_another_platforms_trade_number_is_flagged_without_a_payment(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway) -> None:
    paid = app.create(amount=4200)
    pay_at_alipay(alipay, paid.action.app_pay.order_string)
    wait_for_state(app, paid.name, pb.PAYMENT_STATE_SUCCEEDED)
    foreign = notification_for(alipay, "T" * 64, seller_id=OTHER_SELLER)  # no payment id of ours, and too long
    assert post(gateway, app.tenant.merchant_id, foreign).status_code == 400
    assert [(f.kind.value, f.payment_id) for f in gateway.gateway.flags.list()] == [("SELLER_MISMATCH", "")]


def test_a_seller_id_that_is_no_alipay_pid_is_refused_at_start(alipay: LocalAlipay) -> None:
    for seller_id in ("2088", "1088999999999999", "2088 99999999999", 2088999999999999):
        with pytest.raises(AlipayConfigError, match=r"\[channels.alipay\] seller_id must be .* 16 digits"):
            AlipaySettings.from_table({**alipay.channel_table, "seller_id": seller_id})
