"""The unified cashier's promise, table-driven over real gRPC: for each buyer's client and scenario the
gateway picks the expected channel and action, and the Alipay sandbox accepts the signed request."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from gateway.runtime import RunningGateway
from tests.support import CashierClient, make_settings, running_gateway

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0 Safari/537.36")
ALIPAY_APP = IPHONE + " AlipayClient/10.5.90.8000 Language/zh-Hans"
WECHAT = IPHONE + " MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"


@dataclass(frozen=True)
class Case:
    label: str
    platform: int
    version: str = ""
    user_agent: str = ""
    app_name: str = ""
    scenario: int = pb.SCENARIO_POST_PRODUCT_CARD
    scan_to_pay: bool = False
    channel: str = ""
    action: str = ""
    # For hosted checkout: the pay method the page offers for this user agent ("" = no pay button).
    method: str = ""


CASES = [
    Case("iOS app above the native minimum", pb.PLATFORM_IOS_APP, "9.0.0", channel="mobile", action="app_pay"),
    Case("iOS app below it", pb.PLATFORM_IOS_APP, "7.9", IPHONE, channel="shared_link",
         action="hosted_checkout", method="wap"),
    Case("Android app above", pb.PLATFORM_ANDROID_APP, "8.1", channel="mobile", action="app_pay"),
    Case("Android app below", pb.PLATFORM_ANDROID_APP, "7.0", IPHONE, channel="shared_link",
         action="hosted_checkout", method="wap"),
    Case("HarmonyOS app above", pb.PLATFORM_HARMONYOS_APP, "1.2", channel="mobile", action="app_pay"),
    Case("HarmonyOS app below", pb.PLATFORM_HARMONYOS_APP, "0.9", IPHONE, channel="shared_link",
         action="hosted_checkout", method="wap"),
    Case("PC browser", pb.PLATFORM_PC_BROWSER, user_agent=DESKTOP, channel="pc", action="redirect"),
    Case("PC browser, scan to pay", pb.PLATFORM_PC_BROWSER, user_agent=DESKTOP, scan_to_pay=True,
         channel="pc", action="qr_code"),
    Case("mobile browser", pb.PLATFORM_MOBILE_BROWSER, user_agent=IPHONE, channel="shared_link",
         action="hosted_checkout", method="wap"),
    Case("shared link opened on a phone", pb.PLATFORM_MOBILE_BROWSER, user_agent=IPHONE,
         scenario=pb.SCENARIO_SHARED_LINK, channel="shared_link", action="hosted_checkout", method="wap"),
    Case("shared link opened on a desktop", pb.PLATFORM_PC_BROWSER, user_agent=DESKTOP,
         scenario=pb.SCENARIO_SHARED_LINK, channel="shared_link", action="hosted_checkout", method="page"),
    Case("Alipay in-app browser", pb.PLATFORM_IN_APP_BROWSER, user_agent=ALIPAY_APP, app_name="Alipay",
         channel="shared_link", action="hosted_checkout", method="wap"),
    Case("WeChat in-app browser", pb.PLATFORM_IN_APP_BROWSER, user_agent=WECHAT, app_name="WeChat",
         channel="shared_link", action="hosted_checkout", method=""),
]


@pytest.fixture(scope="module")
def alipay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAlipay]:
    local = start_local_alipay(tmp_path_factory.mktemp("keys"))
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,pc,shared_link")
    settings = make_settings(database_url, channels={
        "alipay": alipay.channel_table, "mobile": {"min_native_version": {"ios": "8.0", "android": "8.0",
                                                                          "harmonyos": "1.0"}}})
    with running_gateway(settings, housekeeping=False) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_client_and_scenario_pick_the_channel(app: CashierClient, alipay: LocalAlipay, case: Case) -> None:
    client = pb.Client(platform=case.platform, app_name=case.app_name, app_version=case.version,
                       user_agent=case.user_agent)
    preview = app.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=app.tenant.parent, amount=3650, currency_code="CNY", client=client, scenario=case.scenario,
        scan_to_pay=case.scan_to_pay), metadata=app.metadata())
    assert preview.channel == case.channel, [(c.channel, c.reason) for c in preview.candidates]
    payment = app.create(amount=3650, client=client, scenario=case.scenario, scan_to_pay=case.scan_to_pay)
    assert (payment.channel, payment.action.WhichOneof("kind")) == (case.channel, case.action)
    with httpx.Client(follow_redirects=True, timeout=10) as http:
        accepted_by_alipay(http, alipay, payment, case)


def accepted_by_alipay(http: httpx.Client, alipay: LocalAlipay, payment: pb.Payment, case: Case) -> None:
    action = payment.action
    if case.action == "app_pay":
        answer = http.post(f"{alipay.url}/sandbox/app-pay", json={"order_string": action.app_pay.order_string})
        assert answer.status_code == 200, answer.text
        assert answer.json()["total_amount"] == "36.50"
    elif case.action == "redirect":
        page = http.get(action.redirect.url)
        assert page.status_code == 200 and str(page.url).startswith(alipay.url) and "36.50" in page.text
    elif case.action == "qr_code":
        assert action.qr_code.svg.lstrip().startswith("<svg") and action.qr_code.png.startswith(b"\x89PNG")
        page = http.get(action.qr_code.code)  # what the buyer's phone opens after scanning
        assert page.status_code == 200 and "36.50" in page.text
    else:
        url = action.hosted_checkout.url
        page = http.get(url, headers={"user-agent": case.user_agent})
        assert page.status_code == 200 and "36.50" in page.text
        if not case.method:  # WeChat blocks Alipay: the page says to open it in a browser instead
            assert 'name="method"' not in page.text
            return
        assert f'value="{case.method}"' in page.text
        went = http.post(f"{url}/go", data={"method": case.method}, headers={"user-agent": case.user_agent})
        assert went.status_code == 200 and str(went.url).startswith(alipay.url), went.text[:500]
        assert "36.50" in went.text
