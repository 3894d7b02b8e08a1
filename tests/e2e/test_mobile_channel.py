"""The built-in mobile channel end to end: the gateway signs a real app-pay order string with RSA2 and
the Alipay sandbox (which shares no signing code with us) accepts it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from tests.support import CashierClient, make_settings, running_gateway


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    # Mobile against the test plugin's H5 fallback only: other built-in channels would serve PC browsers.
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,test_channels")
    settings = make_settings(database_url, channels={
        "alipay": alipay.channel_table, "mobile": {"min_native_version": {"ios": "8.2", "harmonyos": "2.0"}},
        # Keep the test plugin's own native channel out of the way: test_web is the H5 fallback here.
        "test_app": {"min_version": "999"}})
    with running_gateway(settings, housekeeping=False) as running:
        yield running


@pytest.mark.parametrize(("platform", "version", "channel"), [
    (pb.PLATFORM_IOS_APP, "8.2.0", "mobile"),
    (pb.PLATFORM_IOS_APP, "8.1.9", "test_web"),
    (pb.PLATFORM_ANDROID_APP, "8.0", "mobile"),
    (pb.PLATFORM_ANDROID_APP, "", "test_web"),
    (pb.PLATFORM_HARMONYOS_APP, "2.0.1", "mobile"),
    (pb.PLATFORM_HARMONYOS_APP, "1.9", "test_web"),
    (pb.PLATFORM_PC_BROWSER, "", "test_web"),
])
def test_native_payment_by_platform_and_version(app: CashierClient, alipay: LocalAlipay, platform: int,
                                                version: str, channel: str) -> None:
    payment = app.create(amount=1999, client=pb.Client(platform=platform, app_version=version))
    assert payment.channel == channel
    if channel != "mobile":
        preview = app.stub.PreviewRoute(svc.PreviewRouteRequest(
            parent=app.tenant.parent, amount=1999, currency_code="CNY",
            client=pb.Client(platform=platform, app_version=version)), metadata=app.metadata())
        mobile = {c.channel: c for c in preview.candidates}["mobile"]
        assert not mobile.offered and mobile.reason
        return
    order = payment.action.app_pay.order_string
    assert "sign=" in order and "alipay.trade.app.pay" in order
    # The Alipay SDK's side: the sandbox verifies our RSA2 signature and creates the trade.
    answer = httpx.post(f"{alipay.url}/sandbox/app-pay", content=order,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    trade = answer.json()
    assert trade["out_trade_no"] == payment.name.rsplit("/", 1)[1]
    assert trade["total_amount"] == "19.99"


def test_a_tampered_order_string_is_refused_by_alipay(app: CashierClient, alipay: LocalAlipay) -> None:
    order = app.create(amount=1999).action.app_pay.order_string
    tampered = order.replace("19.99", "0.01")
    assert tampered != order
    answer = httpx.post(f"{alipay.url}/sandbox/app-pay", content=tampered,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert answer.json()["sub_code"] == "isv.invalid-signature"
