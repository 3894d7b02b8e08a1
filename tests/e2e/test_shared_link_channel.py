"""The shared-link channel end to end over real gRPC and real HTTP, against the local Alipay sandbox (which
shares no signing code with us): CreatePayment hands out a link to the gateway's hosted checkout page; the
page, chosen by the buyer's browser, sends the buyer to Alipay with a request Alipay accepts; paying there
brings Alipay's notification to /notify/shared_link/<merchant> and the payment is SUCCEEDED."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway
from tests.e2e.checkout_support import (
    ALIPAY_APP,
    ANDROID_CHROME,
    CHANNELS,
    DESKTOP_CHROME,
    IPHONE_SAFARI,
    WECHAT,
    alipay_and_gateway,
    payment_id,
    shared_link,
    trading_app,
    wait_for_state,
)
from tests.support import CashierClient


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[LocalAlipay, RunningGateway]]:
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", CHANNELS)
    with alipay_and_gateway(tmp_path, database_url) as both:
        yield both


@pytest.fixture
def alipay(world: tuple[LocalAlipay, RunningGateway]) -> LocalAlipay:
    return world[0]


@pytest.fixture
def gateway(world: tuple[LocalAlipay, RunningGateway]) -> RunningGateway:
    return world[1]


@pytest.fixture
def app(gateway: RunningGateway) -> Iterator[CashierClient]:
    with trading_app(gateway) as client:
        yield client


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def page(browser: httpx.Client, url: str, user_agent: str, **headers: str) -> httpx.Response:
    return browser.get(url, headers={"user-agent": user_agent, **headers})


def pay_buttons(html: str) -> list[str]:
    return re.findall(r'name="method" value="(\w+)"', html)


def test_a_shared_link_is_paid_on_a_phone(app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway,
                                          browser: httpx.Client) -> None:
    payment = shared_link(app)
    assert payment.channel == "shared_link"
    assert payment.action.WhichOneof("kind") == "hosted_checkout"
    link = payment.action.hosted_checkout.url
    assert re.fullmatch(re.escape(gateway.http_url) + r"/pay/[0-9A-Z]{16}", link)
    assert payment.action.hosted_checkout.expire_time == payment.expire_time

    # The buyer opens the link in Safari on an iPhone: a real checkout page, in Chinese by default.
    shown = page(browser, link, IPHONE_SAFARI)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    html = shown.text
    assert '<html lang="zh-CN">' in html and "收银台" in html
    assert "Tea House 茶舍" in html and "41.90" in html and "¥25.90" in html and "¥16.00" in html
    assert "Oolong tea, 250 g" in html and "Tasting cup" in html and "× 2" in html
    assert "请在" in html and "(UTC+8)" in html
    assert pay_buttons(html) == ["wap"]
    # Nothing on the page comes from another site.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert browser.get(f"{link}/status").json() == {"state": "PENDING", "expired": False}

    # Pressing pay: a 303 to Alipay's gateway.do, signed for alipay.trade.wap.pay, which Alipay accepts.
    go = browser.post(f"{link}/go", data={"method": "wap"}, headers={"user-agent": IPHONE_SAFARI})
    assert go.status_code == 303
    target = go.headers["location"]
    assert target.startswith(alipay.channel_table["gateway_url"] + "?")
    assert parse_qs(urlsplit(target).query)["method"] == ["alipay.trade.wap.pay"]
    checkout = browser.get(target, follow_redirects=True)
    assert checkout.status_code == 200, checkout.headers.get("x-sandbox-error")
    assert urlsplit(str(checkout.url)).path.startswith("/sandbox/checkout/")
    assert "41.90" in checkout.text and "确认付款 · Pay" in checkout.text

    trade = httpx.get(f"{alipay.url}/sandbox/trades/{payment_id(payment)}").json()
    assert trade["method"] == "alipay.trade.wap.pay" and trade["total_amount"] == "41.90"
    assert trade["notify_url"] == f"{gateway.http_url}/notify/shared_link/{app.tenant.merchant_id}"
    assert trade["return_url"] == f"{link}/return"
    assert f'href="{link}"' in checkout.text  # Alipay's "cancel" (quit_url) leads back to our page

    # Paying on Alipay's checkout form sends the buyer back to the gateway's return page…
    paid = browser.post(f"{checkout.url}/pay", data={"buyer_logon_id": "buyer@example.com"})
    assert paid.status_code == 303 and paid.headers["location"].startswith(f"{link}/return?")
    back = browser.get(paid.headers["location"], headers={"user-agent": IPHONE_SAFARI})
    assert back.status_code == 200 and ("支付成功" in back.text or "正在确认" in back.text)
    # …and Alipay's notification, verified by the channel, makes the payment SUCCEEDED.
    assert wait_for_state(app, payment, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    assert browser.get(f"{link}/status").json()["state"] == "SUCCEEDED"
    done = page(browser, f"{link}/return", IPHONE_SAFARI)
    assert done.status_code == 200 and "支付成功" in done.text and 'data-state="paid"' in done.text
    # The link now shows the success view, with no pay button.
    again = page(browser, link, IPHONE_SAFARI)
    assert again.status_code == 200 and "支付成功" in again.text and pay_buttons(again.text) == []
    # Pressing pay again (an old tab) is harmless: back to the page.
    stale = browser.post(f"{link}/go", data={"method": "wap"})
    assert stale.status_code == 303 and stale.headers["location"].endswith(urlsplit(link).path)
    metrics = browser.get(f"{gateway.http_url}/metrics").text
    assert 'cashier_notifications_total{channel="shared_link",result="applied"} 1.0' in metrics


def test_on_a_desktop_the_page_offers_page_pay_and_a_qr_code(app: CashierClient, alipay: LocalAlipay,
                                                            browser: httpx.Client) -> None:
    payment = shared_link(app, client=pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent=DESKTOP_CHROME),
                          return_url="https://shop.example.test/orders/1")
    assert payment.channel == "shared_link"  # the scenario outbids the pc channel
    link = payment.action.hosted_checkout.url
    shown = page(browser, link, DESKTOP_CHROME)
    assert shown.status_code == 200 and pay_buttons(shown.text) == ["page", "qr"]

    go = browser.post(f"{link}/go", data={"method": "page"})
    assert go.status_code == 303
    assert parse_qs(urlsplit(go.headers["location"]).query)["method"] == ["alipay.trade.page.pay"]
    checkout = browser.get(go.headers["location"], follow_redirects=True)
    assert checkout.status_code == 200, checkout.headers.get("x-sandbox-error")
    assert "41.90" in checkout.text

    # Scan to pay: the QR code Alipay made, drawn inline on the gateway's own page.
    qr = browser.post(f"{link}/go", data={"method": "qr"}, headers={"user-agent": DESKTOP_CHROME})
    assert qr.status_code == 200 and "<svg" in qr.text and "扫一扫" in qr.text
    assert not re.search(r'(src|href)="(https?:)?//', qr.text)
    # The phone that scans it opens Alipay's page for the same trade and pays.
    paid = httpx.post(f"{alipay.url}/sandbox/trades/{payment_id(payment)}/pay", json={})
    assert paid.status_code == 200, paid.text
    assert wait_for_state(app, payment, pb.PAYMENT_STATE_SUCCEEDED).state == pb.PAYMENT_STATE_SUCCEEDED
    # The success view offers the way back to the trading app's own page for the order.
    done = page(browser, link, DESKTOP_CHROME)
    assert "支付成功" in done.text and 'href="https://shop.example.test/orders/1"' in done.text


@pytest.mark.parametrize(("user_agent", "buttons"), [
    (ANDROID_CHROME, ["wap"]),
    (ALIPAY_APP, ["wap"]),
    (DESKTOP_CHROME, ["page", "qr"]),
    (WECHAT, []),
])
def test_the_page_follows_the_browser(app: CashierClient, browser: httpx.Client, user_agent: str,
                                      buttons: list[str]) -> None:
    link = shared_link(app).action.hosted_checkout.url
    shown = page(browser, link, user_agent)
    assert shown.status_code == 200 and pay_buttons(shown.text) == buttons
    if user_agent is WECHAT:
        # WeChat blocks Alipay's pages: tell the buyer to open the link in a browser, and give the link.
        assert "在浏览器打开" in shown.text and 'id="open-in-browser"' in shown.text
        assert f'value="{link}"' in shown.text and "<form" not in shown.text
    if user_agent is ALIPAY_APP:
        assert "在支付宝中付款" in shown.text


def test_english_when_the_browser_prefers_it(app: CashierClient, browser: httpx.Client) -> None:
    link = shared_link(app).action.hosted_checkout.url
    english = page(browser, link, IPHONE_SAFARI, **{"accept-language": "en-GB,en;q=0.9,zh-CN;q=0.5"})
    assert '<html lang="en">' in english.text and "Pay with Alipay" in english.text
    assert "Please pay before" in english.text and "收银台" not in english.text
    wechat = page(browser, link, WECHAT, **{"accept-language": "en-US,en;q=0.9"})
    assert "Open in Browser" in wechat.text
    chinese = page(browser, link, IPHONE_SAFARI, **{"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in chinese.text
    forced = page(browser, f"{link}?lang=en", IPHONE_SAFARI)
    assert '<html lang="en">' in forced.text and f'action="{urlsplit(link).path}/go?lang=en"' in forced.text


def test_an_unknown_link_gets_a_clear_404_page(gateway: RunningGateway, browser: httpx.Client) -> None:
    for token in ("ZZZZZZZZZZZZZZZZ", "short", "../../etc/passwd", "x" * 200):
        answer = page(browser, f"{gateway.http_url}/pay/{token}", IPHONE_SAFARI)
        assert answer.status_code == 404
        if "/" not in token:
            assert "找不到该付款链接" in answer.text and "Traceback" not in answer.text
    assert browser.post(f"{gateway.http_url}/pay/ZZZZZZZZZZZZZZZZ/go", data={"method": "wap"}).status_code == 404
    status = browser.get(f"{gateway.http_url}/pay/ZZZZZZZZZZZZZZZZ/status")
    assert status.status_code == 404 and status.json() == {"state": "NOT_FOUND"}
    english = page(browser, f"{gateway.http_url}/pay/ZZZZZZZZZZZZZZZZ", IPHONE_SAFARI, **{"accept-language": "en"})
    assert "Payment link not found" in english.text


def test_a_closed_or_expired_link_gets_a_clear_410_page(app: CashierClient, gateway: RunningGateway,
                                                        browser: httpx.Client,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    closed = shared_link(app)
    app.stub.ClosePayment(svc.ClosePaymentRequest(name=closed.name), metadata=app.metadata())
    answer = page(browser, closed.action.hosted_checkout.url, IPHONE_SAFARI)
    assert answer.status_code == 410 and "链接已失效" in answer.text and pay_buttons(answer.text) == []
    go = browser.post(f"{closed.action.hosted_checkout.url}/go", data={"method": "wap"})
    assert go.status_code == 410

    # Past its expiry, a payment nobody has closed yet is no longer payable either.
    pending = shared_link(app, expire_after=Duration(seconds=60))
    service = gateway.gateway.payments
    later = pending.expire_time.ToDatetime().replace(tzinfo=service.clock().tzinfo) + timedelta(seconds=1)
    monkeypatch.setattr(service, "clock", lambda: later)
    link = pending.action.hosted_checkout.url
    answer = page(browser, link, DESKTOP_CHROME, **{"accept-language": "en"})
    assert answer.status_code == 410 and "This payment link has expired" in answer.text
    assert browser.get(f"{link}/status").json() == {"state": "PENDING", "expired": True}


def test_a_channel_failure_is_a_friendly_502(app: CashierClient, alipay: LocalAlipay,
                                             browser: httpx.Client) -> None:
    httpx.post(f"{alipay.url}/sandbox/faults",
               json={"system_error": {"method": "alipay.trade.precreate", "count": -1}}).raise_for_status()
    link = shared_link(app).action.hosted_checkout.url
    answer = browser.post(f"{link}/go", data={"method": "qr"}, headers={"user-agent": DESKTOP_CHROME})
    assert answer.status_code == 502 and "暂时无法发起支付" in answer.text
    for secret in ("Traceback", "PrecreateFailed", "SYSTEM_ERROR", "private", alipay.app_id):
        assert secret not in answer.text
    assert browser.post(f"{link}/go", data={"method": "bogus"}).status_code == 400
    assert browser.post(f"{link}/go", data={"method": "wap", "pad": "x" * 10_000}).status_code == 400


def test_an_old_app_falls_back_to_the_hosted_page_and_the_trace_says_why(app: CashierClient) -> None:
    old_ios = pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="8.1.9")
    payment = app.create(client=old_ios)
    assert payment.channel == "shared_link" and payment.action.WhichOneof("kind") == "hosted_checkout"
    preview = app.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=app.tenant.parent, amount=2590, currency_code="CNY", client=old_ios,
        scenario=pb.SCENARIO_POST_PRODUCT_CARD), metadata=app.metadata())
    candidates = {c.channel: c for c in preview.candidates}
    assert preview.channel == "shared_link"
    assert not candidates["mobile"].offered
    assert "below the native minimum 8.2" in candidates["mobile"].reason
    assert candidates["shared_link"].chosen and "H5 fallback" in candidates["shared_link"].reason
    # A recent app still pays natively.
    assert app.create(client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_version="8.2")).channel == "mobile"
