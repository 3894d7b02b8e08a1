"""The Alipay rail (channels.alipay.rail) against the Alipay sandbox (channels.alipay.sandbox), over real HTTP.

The two were written independently and share no signing code, so every green test here means: the rail's
request signature is accepted by an independent verifier, and the sandbox's response / notification
signature verifies with the rail. Keys are generated per run (2048-bit), never stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from channels.alipay.rail import (
    AlipayClient,
    AmountMismatchError,
    NotificationSignatureError,
    PagePayRedirect,
    PrivateKey,
    TradeStatus,
)
from channels.alipay.rail.notifications import verify_notification_signature
from channels.alipay.rail.responses import verify_response
from tests.e2e.alipay_world import (
    App,
    Order,
    Receiver,
    World,
    new_rsa_key,
    parse_form,
    private_pem,
    start_world,
    unique,
    wait_until,
)

BEIJING = timezone(timedelta(hours=8))
# Chinese, spaces and URL/form metacharacters: the encodings on both sides must agree byte for byte.
SUBJECT = "测试商品 A&B=1+1 100% / ok"


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    # Retry gaps 4m, 10m, 10m, ... become 0.12 s, 0.3 s, 0.3 s, ...
    w = start_world(time_scale=0.0005)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def app(world: World) -> App:
    return world.register_app("2021000000000101", new_rsa_key())


@pytest.fixture(autouse=True)
def _no_leftover_faults(world: World) -> Iterator[None]:
    world.reset_faults()
    yield
    world.reset_faults()


@pytest.fixture
def alipay(world: World, app: App) -> Iterator[AlipayClient]:
    with world.client(app) as client:
        yield client


@pytest.fixture(scope="module")
def receiver(world: World, app: App) -> Iterator[Receiver]:
    r = Receiver(world.credentials(app), app.seller_id)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def scanned_precreate(world: World, alipay: AlipayClient, app: App, amount_fen: int, **kw: object) -> str:
    out_trade_no = unique("PRE")
    created = alipay.precreate(out_trade_no=out_trade_no, total_amount_fen=amount_fen, subject=SUBJECT, **kw)
    assert created.outcome.succeeded, created.outcome
    assert created.qr_code
    assert world.scan(created.qr_code).status_code == 200
    return out_trade_no


def paid_trade(world: World, alipay: AlipayClient, app: App, amount_fen: int) -> str:
    out_trade_no = scanned_precreate(world, alipay, app, amount_fen)
    world.pay(out_trade_no, app.app_id, notify=False)
    return out_trade_no


# --- 1. every server-to-server method ------------------------------------------------------------------


def test_precreate_query_pay_refund_lifecycle(world: World, app: App, alipay: AlipayClient) -> None:
    out_trade_no = unique("LIFE")
    created = alipay.precreate(out_trade_no=out_trade_no, total_amount_fen=12_345, subject=SUBJECT)
    assert created.outcome.succeeded and created.outcome.code == "10000"
    assert created.out_trade_no == out_trade_no
    assert created.qr_code and created.qr_code.startswith(world.handle.url)  # the slashes came as \/

    # Not scanned yet: like Alipay, the trade does not exist for the merchant.
    hidden = alipay.query(out_trade_no=out_trade_no)
    assert hidden.outcome.failed and hidden.outcome.sub_code == "ACQ.TRADE_NOT_EXIST"
    assert hidden.outcome.grpc_status == "NOT_FOUND"

    page = world.scan(created.qr_code)
    assert page.status_code == 200 and "123.45" in page.text

    waiting = alipay.query(out_trade_no=out_trade_no)
    assert waiting.outcome.succeeded, waiting.outcome
    assert waiting.trade_status is TradeStatus.WAIT_BUYER_PAY
    assert waiting.total_amount_fen == 12_345
    assert waiting.trade_no

    world.pay(out_trade_no, app.app_id, buyer_logon_id="buyer@example.com", notify=False)

    paid = alipay.query(trade_no=waiting.trade_no)
    assert paid.outcome.succeeded
    assert paid.trade_status is TradeStatus.TRADE_SUCCESS and paid.trade_status.is_paid
    assert paid.out_trade_no == out_trade_no
    assert (paid.total_amount_fen, paid.receipt_amount_fen, paid.buyer_pay_amount_fen) == (12_345,) * 3
    assert paid.buyer_logon_id == "buy***@example.com"
    assert paid.buyer_user_id and paid.send_pay_date is not None
    # Both sides speak Beijing time: the payment happened just now, not 8 hours off.
    assert abs(paid.send_pay_date - datetime.now(BEIJING)) < timedelta(minutes=2)

    first = alipay.refund(
        out_trade_no=out_trade_no, out_request_no="R1", refund_amount_fen=1_000, refund_reason="部分退款 one"
    )
    assert first.outcome.succeeded, first.outcome
    assert first.fund_change is True and first.refund_fee_fen == 1_000
    second = alipay.refund(out_trade_no=out_trade_no, out_request_no="R2", refund_amount_fen=2_345)
    assert second.outcome.succeeded and second.refund_fee_fen == 3_345

    for request_no, amount in (("R1", 1_000), ("R2", 2_345)):
        found = alipay.refund_query(out_trade_no=out_trade_no, out_request_no=request_no)
        assert found.outcome.succeeded, found.outcome
        assert found.refund_status == "REFUND_SUCCESS"
        assert (found.out_request_no, found.refund_amount_fen, found.total_amount_fen) == (
            request_no,
            amount,
            12_345,
        )

    # 123.45 - 33.45 = 90.00 left: 90.01 is refused, definitely, and nothing moves.
    too_much = alipay.refund(out_trade_no=out_trade_no, out_request_no="R3", refund_amount_fen=9_001)
    assert too_much.outcome.failed, too_much.outcome
    assert too_much.outcome.code == "40004" and too_much.outcome.sub_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    missing = alipay.refund_query(out_trade_no=out_trade_no, out_request_no="R3")
    assert missing.outcome.unknown and missing.outcome.grpc_status == "NOT_FOUND"

    # Re-sending R1 (e.g. after a lost answer) is harmless: no money moves, the rail does not claim it did.
    again = alipay.refund(out_trade_no=out_trade_no, out_request_no="R1", refund_amount_fen=1_000)
    assert again.fund_change is False and again.refund_fee_fen == 3_345
    assert again.outcome.unknown and again.outcome.reason == "refund_not_confirmed"
    # Same number, other amount: a definite refusal.
    clash = alipay.refund(out_trade_no=out_trade_no, out_request_no="R1", refund_amount_fen=1_001)
    assert clash.outcome.failed and clash.outcome.sub_code == "ACQ.DISCORDANT_REPEAT_REQUEST"

    after = alipay.query(out_trade_no=out_trade_no)
    assert after.trade_status is TradeStatus.TRADE_SUCCESS
    assert world.trade(out_trade_no, app.app_id).json()["refund_fee"] == "33.45"


def test_close_unpaid_trade(world: World, app: App, alipay: AlipayClient) -> None:
    out_trade_no = scanned_precreate(world, alipay, app, 500)
    closed = alipay.close_trade(out_trade_no=out_trade_no, operator_id="op1")
    assert closed.outcome.succeeded, closed.outcome
    assert closed.out_trade_no == out_trade_no and closed.trade_no

    state = alipay.query(out_trade_no=out_trade_no)
    assert state.trade_status is TradeStatus.TRADE_CLOSED
    # A closed trade can no longer be paid or refunded.
    assert (
        world.admin.post(f"/sandbox/trades/{out_trade_no}/pay", params={"app_id": app.app_id}).status_code
        == 409
    )
    refund = alipay.refund(out_trade_no=out_trade_no, out_request_no="R1", refund_amount_fen=100)
    assert refund.outcome.failed and refund.outcome.sub_code == "ACQ.TRADE_HAS_CLOSE"

    # A paid trade cannot be closed: a definite failure the caller notices.
    paid = paid_trade(world, alipay, app, 600)
    refused = alipay.close_trade(out_trade_no=paid)
    assert refused.outcome.failed and refused.outcome.sub_code == "ACQ.TRADE_STATUS_ERROR"


# Transfers need certificate mode: tests/e2e/test_alipay_cert_mode_sandbox.py (success, de-duplication by
# out_biz_no, refused payees, the query, and a key-mode app refusing to transfer).


def test_bill_download_matches_trades(world: World) -> None:
    # A fresh app is a fresh merchant (PID), so its bill holds exactly these trades.
    app = world.register_app("2021000000000102", new_rsa_key())
    with world.client(app) as alipay:
        today = datetime.now(BEIJING).strftime("%Y-%m-%d")
        none_yet = alipay.bill_download_url(bill_date=today)
        assert none_yet.outcome.failed and none_yet.outcome.sub_code == "isp.bill_not_exist"

        first = paid_trade(world, alipay, app, 10_000)
        second = paid_trade(world, alipay, app, 2_599)
        assert alipay.refund(
            out_trade_no=first, out_request_no="BR1", refund_amount_fen=2_550
        ).outcome.succeeded

        url = alipay.bill_download_url(bill_date=today)
        assert url.outcome.succeeded, url.outcome
        assert url.bill_download_url and "downloadBillFile.resource" in url.bill_download_url
        bill = alipay.download_trade_bill(url.bill_download_url)

    rows = {(r.out_trade_no, r.business_type): r for r in bill.rows}
    assert set(rows) == {(first, "交易"), (second, "交易"), (first, "退款")}
    pay1, pay2, refund = rows[first, "交易"], rows[second, "交易"], rows[first, "退款"]
    assert (pay1.order_amount_fen, pay1.merchant_received_fen) == (10_000, 10_000)
    assert (pay2.order_amount_fen, pay2.merchant_received_fen) == (2_599, 2_599)
    assert refund.is_refund and not pay1.is_refund
    assert (refund.order_amount_fen, refund.merchant_received_fen) == (10_000, -2_550)
    assert refund.refund_request_no == "BR1"
    assert pay1.subject == SUBJECT.replace(",", "，")
    assert pay1.trade_no == refund.trade_no and pay1.trade_no != pay2.trade_no
    assert pay1.finished_at is not None and pay1.finished_at.date() == datetime.now(BEIJING).date()
    assert any(note.startswith("交易合计：2笔") for note in bill.notes)
    assert sum(r.merchant_received_fen for r in bill.rows) == 10_000 + 2_599 - 2_550


# --- 2. page pay and wap pay: what the buyer's browser does ----------------------------------------------


# Sent as an aware UTC datetime: the rail must hand Alipay Beijing wall-clock time.
EXPIRE = (datetime.now(BEIJING) + timedelta(hours=2)).replace(second=0, microsecond=0)


def _redirect(
    alipay: AlipayClient, kind: str, out_trade_no: str, amount_fen: int, **kw: Any
) -> PagePayRedirect:
    make = alipay.page_pay if kind == "page" else alipay.wap_pay
    extra = {"quit_url": "https://merchant.example/cart"} if kind == "wap" else {}
    return make(
        out_trade_no=out_trade_no,
        total_amount_fen=amount_fen,
        subject=SUBJECT,
        return_url="https://merchant.example/return?x=1",
        body="详情 details",
        passback_params="a=1&b=二",
        time_expire=EXPIRE.astimezone(UTC),
        **extra,
        **kw,
    )


@pytest.mark.parametrize("kind", ["page", "wap"])
@pytest.mark.parametrize("how", ["url", "form"])
def test_browser_checkout_accepts_rail_redirect(
    world: World, app: App, alipay: AlipayClient, kind: str, how: str
) -> None:
    out_trade_no = unique(kind.upper())
    redirect = _redirect(alipay, kind, out_trade_no, 8_808)
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        if how == "url":
            page = browser.get(redirect.url)
        else:
            form = parse_form(redirect.form_html)
            assert form.method == "post" and set(form.fields) == {"biz_content"}
            # A browser posts the form fields to the action URL, whose query it keeps as is.
            page = browser.post(form.action, data=form.fields)
    assert page.status_code == 200, page.text
    assert "x-sandbox-error" not in page.headers
    assert "88.08" in page.text and out_trade_no in page.text
    assert "/sandbox/checkout/" in str(page.url)

    trade = world.trade(out_trade_no, app.app_id).json()
    assert trade["status"] == "WAIT_BUYER_PAY" and trade["subject"] == SUBJECT
    assert trade["method"] == f"alipay.trade.{kind}.pay"
    assert trade["expire_at"] == EXPIRE.strftime("%Y-%m-%d %H:%M:%S")

    state = alipay.query(out_trade_no=out_trade_no)
    assert state.outcome.succeeded and state.trade_status is TradeStatus.WAIT_BUYER_PAY
    assert state.total_amount_fen == 8_808

    # The buyer pays on the checkout page and is sent back to the merchant's return_url.
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        paid = browser.post(
            f"{world.handle.url}/sandbox/checkout/{trade['trade_no']}/pay",
            data={"buyer_logon_id": "13800138000"},
        )
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert back.netloc == "merchant.example" and back.path == "/return"
    returned = dict(parse_qsl(back.query))
    assert returned.pop("x") == "1"  # the merchant's own parameter in return_url, not Alipay's
    assert returned["out_trade_no"] == out_trade_no and returned["total_amount"] == "88.08"
    assert returned["method"] == f"alipay.trade.{kind}.pay.return"
    # return_url parameters are signed like notifications (rsaCheckV1): the rail's check accepts them.
    verify_notification_signature(returned, world.credentials(app))
    assert alipay.query(out_trade_no=out_trade_no).trade_status is TradeStatus.TRADE_SUCCESS


@pytest.mark.parametrize("kind", ["page", "wap"])
def test_tampered_redirect_is_refused(world: World, app: App, alipay: AlipayClient, kind: str) -> None:
    out_trade_no = unique("TAMPER")
    redirect = _redirect(alipay, kind, out_trade_no, 8_808)
    parts = urlsplit(redirect.url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    tampered = []
    for key, value in params:
        if key == "biz_content":
            assert json.loads(value)["total_amount"] == "88.08"
            value = value.replace('"total_amount":"88.08"', '"total_amount":"0.01"')
            assert json.loads(value)["total_amount"] == "0.01"  # the buyer "edits" the price in the URL
        tampered.append((key, value))
    url = urlunsplit(parts._replace(query=urlencode(tampered)))
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and page.headers["x-sandbox-error"] == "isv.invalid-signature"
        assert world.trade(out_trade_no, app.app_id).status_code == 404

        # The untouched URL still works afterwards.
        ok = browser.get(redirect.url)
    assert ok.status_code == 302 and "/sandbox/checkout/" in ok.headers["location"]


# --- 3. app pay -----------------------------------------------------------------------------------------


def test_app_pay_order_string_is_accepted_and_payable(world: World, app: App, alipay: AlipayClient) -> None:
    out_trade_no = unique("APP")
    order = alipay.app_pay(
        out_trade_no=out_trade_no,
        total_amount_fen=4_321,
        subject=SUBJECT,
        timeout_express="15m",
        body="正文",
        passback_params="k=v&x=中",
    )
    answer = world.admin.post(
        "/sandbox/app-pay", content=order.order_string.encode("ascii"), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["out_trade_no"] == out_trade_no and doc["total_amount"] == "43.21"

    state = alipay.query(out_trade_no=out_trade_no)
    assert state.outcome.succeeded and state.trade_status is TradeStatus.WAIT_BUYER_PAY
    world.pay(doc["trade_no"], app.app_id, notify=False)
    paid = alipay.query(out_trade_no=out_trade_no)
    assert paid.trade_status is TradeStatus.TRADE_SUCCESS and paid.total_amount_fen == 4_321

    # The mobile SDK path: pay at once; its signed sync result verifies with the rail's response code.
    other = alipay.app_pay(out_trade_no=unique("APP"), total_amount_fen=99, subject="app")
    sdk = world.admin.post("/sandbox/app-pay", json={"order_string": other.order_string, "pay": True})
    assert sdk.status_code == 200, sdk.text
    assert sdk.json()["resultStatus"] == "9000"
    result = verify_response(
        sdk.json()["result"].encode("utf-8"),
        "text/plain;charset=utf-8",
        "alipay.trade.app.pay",
        world.credentials(app),
    )
    assert result.signed and result.fields["out_trade_no"] == other.out_trade_no
    assert result.fields["total_amount"] == "0.99"


# --- 4. asynchronous notifications ------------------------------------------------------------------------


def test_notification_retried_until_acknowledged(
    world: World, app: App, alipay: AlipayClient, receiver: Receiver
) -> None:
    out_trade_no = unique("NOTE")
    receiver.orders[out_trade_no] = Order(total_amount_fen=7_777, ack_after=3)
    created = alipay.precreate(
        out_trade_no=out_trade_no, total_amount_fen=7_777, subject=SUBJECT, notify_url=receiver.url
    )
    assert created.outcome.succeeded and created.qr_code
    world.scan(created.qr_code)
    notify_id = world.pay(out_trade_no, app.app_id, buyer_logon_id="buyer@example.com")["notify_id"]
    assert notify_id

    note = world.wait_notification(out_trade_no)
    assert note["state"] == "delivered", note
    assert [a["outcome"] for a in note["attempts"]] == ["failed", "failed", "success"]
    assert [a["body"] for a in note["attempts"]] == ["fail", "fail", "success"]

    deliveries = receiver.for_order(out_trade_no)
    assert len(deliveries) == 3
    assert all(d.error is None for d in deliveries), deliveries  # every copy verified and matched the order
    assert {d.notify_id for d in deliveries} == {notify_id}  # stable across retries
    assert [d.acked for d in deliveries] == [False, False, True]


def test_page_pay_notification_after_checkout(
    world: World, app: App, alipay: AlipayClient, receiver: Receiver
) -> None:
    out_trade_no = unique("PAGENOTE")
    receiver.orders[out_trade_no] = Order(total_amount_fen=2_000)
    redirect = _redirect(alipay, "page", out_trade_no, 2_000, notify_url=receiver.url)
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        checkout = browser.get(redirect.url)
        assert checkout.status_code == 200
        trade_no = checkout.url.path.rsplit("/", 1)[1]
        browser.post(
            f"{world.handle.url}/sandbox/checkout/{trade_no}/pay",
            data={"buyer_logon_id": "b@x.cn"},
            follow_redirects=False,
        )
    assert world.wait_notification(out_trade_no)["state"] == "delivered"
    (delivery,) = receiver.for_order(out_trade_no)
    assert delivery.error is None and delivery.acked and delivery.note is not None
    note = delivery.note
    assert (note.trade_no, note.trade_status, note.total_amount_fen) == (
        trade_no,
        TradeStatus.TRADE_SUCCESS,
        2_000,
    )
    assert note.seller_id == app.seller_id and note.app_id == app.app_id
    assert note.raw["subject"] == SUBJECT and note.raw["body"] == "详情 details"
    # passback_params comes back exactly as the rail encoded it (still URL-encoded).
    assert (
        note.raw["passback_params"]
        == json.loads(dict(parse_qsl(urlsplit(redirect.url).query))["biz_content"])["passback_params"]
    )
    assert unquote(note.raw["passback_params"]) == "a=1&b=二"
    assert note.gmt_payment is not None and abs(note.gmt_payment - datetime.now(BEIJING)) < timedelta(
        minutes=2
    )


def test_refund_notifications_when_enabled() -> None:
    """A sandbox that also notifies refunds (--notify-refunds): partial, then full (TRADE_CLOSED)."""
    world = start_world(time_scale=0.0005, notify_refunds=True)
    app = world.register_app("2021000000000103", new_rsa_key())
    receiver = Receiver(world.credentials(app), app.seller_id)
    receiver.start()
    try:
        with world.client(app, notify_url=receiver.url) as alipay:
            out_trade_no = scanned_precreate(world, alipay, app, 5_000)
            receiver.orders[out_trade_no] = Order(total_amount_fen=5_000)
            world.pay(out_trade_no, app.app_id)
            assert alipay.refund(
                out_trade_no=out_trade_no, out_request_no="N1", refund_amount_fen=1_500
            ).outcome.succeeded
            assert alipay.refund(
                out_trade_no=out_trade_no, out_request_no="N2", refund_amount_fen=3_500
            ).outcome.succeeded
            assert alipay.query(out_trade_no=out_trade_no).trade_status is TradeStatus.TRADE_CLOSED
        wait_until(
            lambda: (
                all(n["state"] == "delivered" for n in world.notifications(out_trade_no))
                and len(world.notifications(out_trade_no)) == 3
            )
        )
        notes = {d.note.out_biz_no: d.note for d in receiver.for_order(out_trade_no) if d.note is not None}
        assert set(notes) == {None, "N1", "N2"}
        assert all(d.error is None for d in receiver.for_order(out_trade_no))
        paid, partial, full = notes[None], notes["N1"], notes["N2"]
        assert paid.trade_status is TradeStatus.TRADE_SUCCESS and paid.refund_fee_fen is None
        assert (partial.trade_status, partial.refund_fee_fen, partial.gmt_close) == (
            TradeStatus.TRADE_SUCCESS,
            1_500,
            None,
        )
        assert partial.gmt_refund is not None
        # Fully refunded: TRADE_CLOSED with the cumulative refund_fee, which tells it from an unpaid timeout.
        assert (full.trade_status, full.refund_fee_fen) == (TradeStatus.TRADE_CLOSED, 5_000)
        assert full.gmt_close is not None and full.total_amount_fen == 5_000
        assert len({paid.notify_id, partial.notify_id, full.notify_id}) == 3
    finally:
        receiver.stop()
        world.close()


def test_notification_with_wrong_key_is_refused(
    world: World, app: App, alipay: AlipayClient, receiver: Receiver
) -> None:
    out_trade_no = unique("FORGED")
    receiver.orders[out_trade_no] = Order(total_amount_fen=1_234, ack_after=1)
    created = alipay.precreate(
        out_trade_no=out_trade_no, total_amount_fen=1_234, subject=SUBJECT, notify_url=receiver.url
    )
    assert created.qr_code
    world.scan(created.qr_code)
    world.faults(wrong_key_notifications=1)
    notify_id = world.pay(out_trade_no, app.app_id)["notify_id"]

    note = world.wait_notification(out_trade_no)
    assert [a["outcome"] for a in note["attempts"]] == ["failed", "success"]
    deliveries = receiver.for_order(out_trade_no)
    assert [d.error for d in deliveries] == [NotificationSignatureError, None]
    assert [d.acked for d in deliveries] == [False, True]
    assert {d.notify_id for d in deliveries} == {notify_id}


def test_notification_for_wrong_amount_is_not_acknowledged(
    world: World, app: App, alipay: AlipayClient, receiver: Receiver
) -> None:
    out_trade_no = unique("MISMATCH")
    # The merchant stored another amount: genuine notification, but it must not be acknowledged.
    receiver.orders[out_trade_no] = Order(total_amount_fen=1_000)
    created = alipay.precreate(
        out_trade_no=out_trade_no, total_amount_fen=1_001, subject="x", notify_url=receiver.url
    )
    assert created.qr_code
    world.scan(created.qr_code)
    world.pay(out_trade_no, app.app_id)
    wait_until(lambda: len(receiver.for_order(out_trade_no)) >= 2)
    assert {d.error for d in receiver.for_order(out_trade_no)} == {AmountMismatchError}
    assert world.notifications(out_trade_no)[0]["state"] == "pending"


# --- 5. faults, as the rail maps them ------------------------------------------------------------------


def test_system_error_on_query_is_retried(world: World, app: App, alipay: AlipayClient) -> None:
    out_trade_no = paid_trade(world, alipay, app, 300)
    world.faults(system_error={"method": "alipay.trade.query", "count": 1})
    answer = alipay.query(out_trade_no=out_trade_no)
    assert answer.outcome.succeeded, answer.outcome
    assert answer.trade_status is TradeStatus.TRADE_SUCCESS
    assert world.faults()["system_error"][0]["count"] == 0  # the rail did hit the fault once

    # A lasting outage: bounded retries (3 attempts), then UNKNOWN, never a guess.
    world.faults(system_error={"method": "alipay.trade.query", "count": 5})
    down = alipay.query(out_trade_no=out_trade_no)
    assert down.outcome.unknown and down.outcome.sub_code == "ACQ.SYSTEM_ERROR"
    assert down.trade_status is None
    assert world.faults()["system_error"][0]["count"] == 2


def test_system_error_on_refund_is_unknown_and_not_retried(
    world: World, app: App, alipay: AlipayClient
) -> None:
    out_trade_no = paid_trade(world, alipay, app, 1_000)
    world.faults(system_error={"method": "alipay.trade.refund", "count": 2})
    answer = alipay.refund(out_trade_no=out_trade_no, out_request_no="RS1", refund_amount_fen=100)
    assert answer.outcome.unknown, answer.outcome
    assert answer.outcome.sub_code == "ACQ.SYSTEM_ERROR" and answer.outcome.grpc_status == "UNAVAILABLE"
    # Exactly one attempt: money-moving calls are not repeated after a maybe-processed answer.
    assert world.faults()["system_error"][0]["count"] == 1
    # The caller queries: nothing happened, and re-sending the same request number then succeeds.
    missing = alipay.refund_query(out_trade_no=out_trade_no, out_request_no="RS1")
    assert missing.outcome.grpc_status == "NOT_FOUND"
    world.reset_faults()
    resent = alipay.refund(out_trade_no=out_trade_no, out_request_no="RS1", refund_amount_fen=100)
    assert resent.outcome.succeeded and resent.refund_fee_fen == 100


def test_response_signed_with_wrong_key_is_unknown(world: World, app: App, alipay: AlipayClient) -> None:
    out_trade_no = paid_trade(world, alipay, app, 1_000)
    world.faults(wrong_key_responses=1)
    refund = alipay.refund(out_trade_no=out_trade_no, out_request_no="RW1", refund_amount_fen=500)
    assert refund.outcome.unknown and refund.outcome.reason == "response_signature_invalid"
    # Nothing from the unverifiable body is used.
    assert refund.fund_change is None and refund.refund_fee_fen is None
    # The refund did happen at "Alipay": only a query with a good signature tells.
    found = alipay.refund_query(out_trade_no=out_trade_no, out_request_no="RW1")
    assert found.outcome.succeeded and found.refund_amount_fen == 500

    world.faults(wrong_key_responses=1)
    query = alipay.query(out_trade_no=out_trade_no)
    assert query.outcome.unknown and query.outcome.reason == "response_signature_invalid"
    assert query.trade_status is None


def test_timeout_unknown_for_refund_retried_for_query(world: World, app: App) -> None:
    with world.client(app, read_timeout=0.5) as alipay:
        out_trade_no = paid_trade(world, alipay, app, 2_000)

        world.faults(timeout=[{"method": "alipay.trade.refund", "count": 1, "seconds": 2}])
        refund = alipay.refund(out_trade_no=out_trade_no, out_request_no="RT1", refund_amount_fen=700)
        assert refund.outcome.unknown and refund.outcome.reason == "timeout"
        assert refund.outcome.code is None
        # The sandbox processed it before answering late: the money moved, the rail did not guess either way.
        found = alipay.refund_query(out_trade_no=out_trade_no, out_request_no="RT1")
        assert found.outcome.succeeded and found.refund_amount_fen == 700

        world.faults(timeout=[{"method": "alipay.trade.query", "count": 1, "seconds": 2}])
        query = alipay.query(out_trade_no=out_trade_no)
        assert query.outcome.succeeded, query.outcome
        assert query.trade_status is TradeStatus.TRADE_SUCCESS
        assert world.faults()["timeout"][0]["count"] == 0


# --- 6. identity errors: definite, unsigned -------------------------------------------------------------


def test_unregistered_app_is_a_definite_failure(world: World, app: App) -> None:
    stranger = App("2021000000009999", app.seller_id, app.private_key)
    with world.client(stranger) as alipay:
        answer = alipay.query(out_trade_no="ANY")
        refund = alipay.refund(out_trade_no="ANY", out_request_no="R1", refund_amount_fen=1)
    for outcome in (answer.outcome, refund.outcome):
        assert outcome.failed, outcome
        assert (outcome.code, outcome.sub_code, outcome.grpc_status) == (
            "40002",
            "isv.invalid-app-id",
            "INVALID_ARGUMENT",
        )


def test_wrong_app_key_is_a_definite_failure(world: World, app: App) -> None:
    # Registered app_id, but signed with a key whose public half was never uploaded.
    impostor = App(app.app_id, app.seller_id, PrivateKey.from_text(private_pem(new_rsa_key())))
    with world.client(impostor) as alipay:
        answer = alipay.precreate(out_trade_no=unique("BAD"), total_amount_fen=100, subject="x")
    assert answer.outcome.failed, answer.outcome
    assert (answer.outcome.code, answer.outcome.sub_code) == ("40002", "isv.invalid-signature")
    assert answer.qr_code is None


def test_timeout_on_close_and_precreate(world: World, app: App) -> None:
    with world.client(app, read_timeout=0.5) as alipay:
        world.faults(timeout=[{"method": "alipay.trade.precreate", "count": 1, "seconds": 2}])
        out_trade_no = unique("TOP")
        created = alipay.precreate(out_trade_no=out_trade_no, total_amount_fen=100, subject=SUBJECT)
        assert created.outcome.succeeded, created.outcome  # retried; Alipay de-duplicates by out_trade_no
        assert created.qr_code
        world.scan(created.qr_code)

        world.faults(timeout=[{"method": "alipay.trade.close", "count": 1, "seconds": 2}])
        closed = alipay.close_trade(out_trade_no=out_trade_no)
        # The first attempt closed the trade; the retry hears ACQ.TRADE_STATUS_ERROR ("not WAIT_BUYER_PAY").
        # That must not read as "close failed": the rail says UNKNOWN and the query settles it.
        assert closed.outcome.unknown, closed.outcome
        assert (closed.outcome.reason, closed.outcome.sub_code) == (
            "close_unconfirmed",
            "ACQ.TRADE_STATUS_ERROR",
        )
        assert alipay.query(out_trade_no=out_trade_no).trade_status is TradeStatus.TRADE_CLOSED
        assert world.faults()["timeout"][0]["count"] == 0
