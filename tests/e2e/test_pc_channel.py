"""The built-in PC channel end to end over gRPC, against the local Alipay sandbox (which shares no signing
code with us): the redirect it signs is accepted by GET and by the auto-submitting form, a scan-to-pay
payment carries the QR code Alipay made, and an Alipay fault becomes UNAVAILABLE with nothing stored."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay
from gateway.runtime import RunningGateway, start
from tests.support import CashierClient, error_details, make_settings

PC = pb.Client(platform=pb.PLATFORM_PC_BROWSER, user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
RETURN_URL = "https://shop.example.test/orders/paid"
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay) -> Iterator[RunningGateway]:
    settings = make_settings(database_url, channels={
        "alipay": alipay.channel_table, "pc": {"qr_size": 6},
        # Keep the test plugin's own native channel out of the way, as in test_mobile_channel.
        "test_app": {"min_version": "999"}})
    running = start(settings, housekeeping=False)
    try:
        yield running
    finally:
        running.stop(0.5)  # closes the channels' connection pools too


class _Form(HTMLParser):
    """What a browser reads from the form: its action and the fields it would submit."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.method, self.action, self.fields = "", "", {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.method, self.action = (a.get("method") or "get").lower(), a.get("action") or ""
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def payment_id(payment: pb.Payment) -> str:
    return payment.name.rsplit("/", 1)[1]


def wait_until_paid(app: CashierClient, payment: pb.Payment, timeout: float = 10) -> pb.Payment:
    """Alipay's notification reaches the gateway's HTTP face on its own; the app only watches."""
    deadline = time.monotonic() + timeout
    while True:
        now = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
        if now.state == pb.PAYMENT_STATE_SUCCEEDED or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def sandbox_trade(alipay: LocalAlipay, payment: pb.Payment) -> dict[str, object]:
    answer = httpx.get(f"{alipay.url}/sandbox/trades/{payment_id(payment)}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_pc_browser_gets_a_redirect_the_sandbox_accepts(app: CashierClient, alipay: LocalAlipay,
                                                        gateway: RunningGateway) -> None:
    payment = app.create(amount=1999, client=PC, return_url=RETURN_URL)
    assert payment.channel == "pc" and payment.action.WhichOneof("kind") == "redirect"
    redirect = payment.action.redirect
    assert redirect.url.startswith(alipay.channel_table["gateway_url"] + "?")
    assert parse_qs(urlsplit(redirect.url).query)["method"] == ["alipay.trade.page.pay"]

    # The buyer's browser follows the link: the sandbox verifies our RSA2 signature and shows its checkout.
    page = httpx.get(redirect.url, follow_redirects=True)
    assert page.status_code == 200, page.headers.get("x-sandbox-error")
    assert urlsplit(str(page.url)).path.startswith("/sandbox/checkout/")
    assert "19.99" in page.text and payment_id(payment) in page.text

    # The auto-submitting form, POSTed as a browser does, reaches the same trade.
    form = _Form(redirect.form_html)
    assert form.method == "post" and "biz_content" in form.fields
    posted = httpx.post(form.action, data=form.fields, follow_redirects=True)
    assert posted.status_code == 200, posted.headers.get("x-sandbox-error")
    assert posted.url == page.url and "19.99" in posted.text

    trade = sandbox_trade(alipay, payment)
    assert trade["method"] == "alipay.trade.page.pay" and trade["total_amount"] == "19.99"
    assert trade["subject"] == payment.subject
    assert trade["notify_url"] == f"{gateway.http_url}/notify/pc/{app.tenant.merchant_id}"
    assert trade["expire_at"] == payment.expire_time.ToDatetime(timezone.utc).astimezone(BEIJING).strftime(
        "%Y-%m-%d %H:%M:%S")

    # Paying on the checkout page sends the buyer back to the app's return_url.
    paid = httpx.post(f"{page.url}/pay", data={"buyer_logon_id": "buyer@example.com"})
    assert paid.status_code == 303 and paid.headers["location"].startswith(RETURN_URL + "?")
    assert parse_qs(urlsplit(paid.headers["location"]).query)["out_trade_no"] == [payment_id(payment)]
    assert wait_until_paid(app, payment).state == pb.PAYMENT_STATE_SUCCEEDED


def test_a_tampered_redirect_is_refused_by_alipay(app: CashierClient) -> None:
    url = app.create(amount=1999, client=PC).action.redirect.url
    tampered = url.replace("19.99", "0.01")
    assert tampered != url
    page = httpx.get(tampered, follow_redirects=True)
    assert page.headers.get("x-sandbox-error") == "isv.invalid-signature"


def test_scan_to_pay_carries_alipays_qr_code(app: CashierClient, alipay: LocalAlipay,
                                             gateway: RunningGateway) -> None:
    preview = app.stub.PreviewRoute(svc.PreviewRouteRequest(
        parent=app.tenant.parent, amount=4200, currency_code="CNY", client=PC, scan_to_pay=True),
        metadata=app.metadata())
    chosen = {c.channel: c for c in preview.candidates}["pc"]
    assert preview.channel == "pc" and chosen.priority == 60 and "QR code" in chosen.reason

    payment = app.create(amount=4200, client=PC, scan_to_pay=True)
    assert payment.channel == "pc" and payment.scan_to_pay
    qr = payment.action.qr_code
    assert payment.action.WhichOneof("kind") == "qr_code"
    assert qr.code.startswith(f"{alipay.url}/sandbox/checkout/")
    assert qr.svg.startswith("<svg") and "<path" in qr.svg and "href" not in qr.svg
    assert qr.png[:8] == b"\x89PNG\r\n\x1a\n" and len(qr.png) > 200
    trade = sandbox_trade(alipay, payment)
    assert trade["method"] == "alipay.trade.precreate" and trade["total_amount"] == "42.00"
    assert trade["expire_at"] and not trade["scanned"]
    assert trade["notify_url"] == f"{gateway.http_url}/notify/pc/{app.tenant.merchant_id}"

    # Stored with the payment, and what a phone opens when it scans the code.
    again = app.stub.GetPayment(svc.GetPaymentRequest(name=payment.name), metadata=app.metadata()).payment
    assert again.action == payment.action and again.scan_to_pay
    scanned = httpx.get(qr.code)
    assert scanned.status_code == 200 and "42.00" in scanned.text
    assert sandbox_trade(alipay, payment)["scanned"]
    # The buyer confirms on the phone; Alipay's notification settles the payment.
    paid = httpx.post(f"{qr.code}/pay", data={"buyer_logon_id": "buyer@example.com"})
    assert paid.status_code == 200 and "42.00" in paid.text
    assert wait_until_paid(app, payment).state == pb.PAYMENT_STATE_SUCCEEDED


def test_one_system_error_is_retried_with_the_same_request(app: CashierClient, alipay: LocalAlipay) -> None:
    httpx.post(f"{alipay.url}/sandbox/faults",
               json={"system_error": {"method": "alipay.trade.precreate", "count": 1}}).raise_for_status()
    payment = app.create(amount=1999, client=PC, scan_to_pay=True)
    assert payment.action.qr_code.code.startswith(f"{alipay.url}/sandbox/checkout/")


@pytest.mark.parametrize(("fault", "said"), [
    # The rail retries ACQ.SYSTEM_ERROR (the same bytes, three tries in all): it must persist to win.
    ({"method": "alipay.trade.precreate", "count": -1}, "40004 Business Failed ACQ.SYSTEM_ERROR"),
    ({"method": "alipay.trade.precreate", "count": 1, "sub_code": "ACQ.ACCESS_FORBIDDEN",
      "sub_msg": "no precreate for this app"}, "ACQ.ACCESS_FORBIDDEN no precreate for this app"),
])
def test_an_alipay_fault_is_unavailable_and_stores_nothing(app: CashierClient, alipay: LocalAlipay,
                                                           caplog: pytest.LogCaptureFixture,
                                                           fault: dict[str, object], said: str) -> None:
    httpx.post(f"{alipay.url}/sandbox/faults", json={"system_error": fault}).raise_for_status()
    with caplog.at_level(logging.ERROR, logger="gateway"), pytest.raises(grpc.RpcError) as raised:
        app.create(amount=1999, client=PC, scan_to_pay=True)
    err = raised.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert "'pc'" in err.details() and "PrecreateFailed" in err.details()  # type: ignore[attr-defined]
    _, info = error_details(err)
    assert info is not None and info.metadata["channel"] == "pc"
    # What Alipay answered is in the gateway's log, with the payment id it was about.
    assert said in caplog.text and "alipay.trade.precreate" in caplog.text
    listed = app.stub.ListPayments(svc.ListPaymentsRequest(parent=app.tenant.parent), metadata=app.metadata())
    assert list(listed.payments) == []
    # The redirect needs no call to Alipay, so it is unaffected.
    assert app.create(amount=1999, client=PC).action.redirect.url
