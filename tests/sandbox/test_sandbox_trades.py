"""Creating, paying, querying and closing trades: precreate, page/wap pay, app pay."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

PRECREATE = "alipay.trade.precreate"
QUERY = "alipay.trade.query"
CLOSE = "alipay.trade.close"


def precreate(client, out_trade_no, amount="10.00", subject="会员月卡", **extra):
    biz = {"out_trade_no": out_trade_no, "total_amount": amount, "subject": subject, **extra}
    return client.call(PRECREATE, biz, notify_url="http://127.0.0.1:9/notify")


def test_precreate_query_pay_query(client, admin, out_trade_no):
    answer = precreate(client, out_trade_no)
    assert answer["code"] == "10000"
    # like Alipay: not visible to query until the buyer scans the code
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    page = admin.get(answer["qr_code"])
    assert page.status_code == 200 and "<svg" in page.text and "10.00" in page.text
    waiting = client.call(QUERY, {"out_trade_no": out_trade_no})
    assert waiting["code"] == "10000" and waiting["trade_status"] == "WAIT_BUYER_PAY"
    assert waiting["total_amount"] == "10.00"
    # like Alipay: once scanned, the query names the buyer who scanned, though nothing is paid yet
    assert waiting["buyer_logon_id"] == "buy***@sandbox.example" and waiting["buyer_user_id"].startswith("2088")

    paid = admin.post(f"/sandbox/trades/{out_trade_no}/pay", json={"buyer_logon_id": "13800138000"})
    assert paid.status_code == 200 and paid.json()["trade"]["status"] == "TRADE_SUCCESS"
    done = client.call(QUERY, {"trade_no": waiting["trade_no"]})
    assert done["trade_status"] == "TRADE_SUCCESS"
    assert done["buyer_logon_id"] == "138****8000"
    assert done["receipt_amount"] == "10.00" and done["buyer_pay_amount"] == "10.00"
    assert done["fund_bill_list"] == [{"amount": "10.00", "fund_channel": "ALIPAYACCOUNT"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", done["send_pay_date"])
    assert re.fullmatch(r"2088\d{12}", done["buyer_user_id"])


def test_precreate_same_order_again_is_idempotent_or_inconsistent(client, admin, out_trade_no):
    first = precreate(client, out_trade_no)
    assert precreate(client, out_trade_no)["qr_code"] == first["qr_code"]
    assert precreate(client, out_trade_no, amount="10.01")["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"
    assert precreate(client, out_trade_no, subject="other")["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    assert precreate(client, out_trade_no)["sub_code"] == "ACQ.TRADE_HAS_SUCCESS"


@pytest.mark.parametrize(
    ("amount", "sub_code"),
    [
        ("0.00", "ACQ.INVALID_PARAMETER"),
        ("-1.00", "ACQ.INVALID_PARAMETER"),
        ("1.001", "ACQ.INVALID_PARAMETER"),
        ("abc", "ACQ.INVALID_PARAMETER"),
        ("1e3", "ACQ.INVALID_PARAMETER"),
        ("100000000.01", "ACQ.TOTAL_FEE_EXCEED"),
    ],
)
def test_amount_checks(client, out_trade_no, amount, sub_code):
    answer = precreate(client, out_trade_no, amount=amount)
    assert (answer["code"], answer["sub_code"]) == ("40004", sub_code)


@pytest.mark.parametrize(("amount", "shown"), [("0.01", "0.01"), ("100000000.00", "100000000.00"), ("5", "5.00"),
                                                ("0.1", "0.10")])
def test_amount_limits_accepted(client, admin, out_trade_no, amount, shown):
    assert precreate(client, out_trade_no, amount=amount)["code"] == "10000"
    assert admin.get(f"/sandbox/trades/{out_trade_no}").json()["total_amount"] == shown


def test_missing_business_fields(client, out_trade_no):
    answer = client.call(PRECREATE, {"out_trade_no": out_trade_no, "total_amount": "1.00"})
    assert answer["sub_code"] == "ACQ.INVALID_PARAMETER" and "subject" in answer["sub_msg"]
    answer = client.call(QUERY, {})
    assert answer["sub_code"] == "ACQ.INVALID_PARAMETER"


def test_close_only_while_waiting(client, admin, out_trade_no):
    answer = precreate(client, out_trade_no)
    assert client.call(CLOSE, {"out_trade_no": out_trade_no})["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # unscanned
    admin.get(answer["qr_code"])
    closed = client.call(CLOSE, {"out_trade_no": out_trade_no})
    assert closed["code"] == "10000" and closed["out_trade_no"] == out_trade_no and closed["trade_no"]
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["trade_status"] == "TRADE_CLOSED"
    assert client.call(CLOSE, {"out_trade_no": out_trade_no})["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    assert admin.post(f"/sandbox/trades/{out_trade_no}/pay").status_code == 409
    assert precreate(client, out_trade_no)["sub_code"] == "ACQ.TRADE_HAS_CLOSE"


def test_close_paid_trade_is_refused(client, admin, out_trade_no):
    precreate(client, out_trade_no)
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    assert client.call(CLOSE, {"out_trade_no": out_trade_no})["sub_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_timeout_express_closes_the_trade(client, admin, out_trade_no):
    precreate(client, out_trade_no, timeout_express="1m")
    admin.post(f"/sandbox/trades/{out_trade_no}/expire")
    admin.get(f"/sandbox/trades/{out_trade_no}")
    assert precreate(client, out_trade_no, timeout_express="1m")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"
    other = out_trade_no + "b"
    assert precreate(client, other, timeout_express="1.5h")["sub_code"] == "ACQ.INVALID_PARAMETER"


def test_trades_are_separate_per_app(client, other_client, admin, out_trade_no):
    precreate(client, out_trade_no)
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    assert other_client.call(QUERY, {"out_trade_no": out_trade_no})["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    assert precreate(other_client, out_trade_no)["code"] == "10000"
    assert admin.post(f"/sandbox/trades/{out_trade_no}/pay").status_code == 409  # ambiguous: two apps
    sellers = {t["seller_id"] for t in admin.get("/sandbox/trades", params={"out_trade_no": out_trade_no})
               .json()["trades"]}
    assert len(sellers) == 2


def _page_params(client, method, out_trade_no, product_code, **biz_extra):
    biz = {"out_trade_no": out_trade_no, "total_amount": "66.60", "subject": "Ünïcode 订单",
           "product_code": product_code, **biz_extra}
    return client.sign(client.params(method, biz, notify_url="http://127.0.0.1:9/n",
                                     return_url="http://merchant.example/return?from=alipay"))


@pytest.mark.parametrize(
    ("method", "product_code"),
    [("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"), ("alipay.trade.wap.pay", "QUICK_WAP_WAY")],
)
@pytest.mark.parametrize("style", ["split", "get"])
def test_page_and_wap_pay_through_the_checkout(client, admin, out_trade_no, method, product_code, style):
    params = _page_params(client, method, out_trade_no, product_code, quit_url="http://merchant.example/quit")
    response = client.send(params, style=style)  # what the auto-submitting form / the GET URL does
    assert response.status_code == 302
    checkout = response.headers["location"]
    assert "/sandbox/checkout/" in checkout
    page = admin.get(checkout)
    assert page.status_code == 200 and "66.60" in page.text and "Ünïcode 订单" in page.text
    assert "<svg" not in page.text
    assert ("http://merchant.example/quit" in page.text) == (method == "alipay.trade.wap.pay")

    paid = admin.post(checkout + "/pay", data={"buyer_logon_id": "someone@example.com"})
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert (back.scheme, back.netloc, back.path) == ("http", "merchant.example", "/return")
    returned = dict(parse_qsl(back.query))
    assert returned["from"] == "alipay"
    assert returned["method"] == method + ".return"
    assert returned["out_trade_no"] == out_trade_no and returned["total_amount"] == "66.60"
    assert {"charset", "trade_no", "auth_app_id", "version", "app_id", "sign_type", "seller_id",
            "timestamp", "sign"} <= set(returned)
    del returned["from"]  # the merchant's own parameter is not part of what Alipay signed
    assert client.verify_v1(returned)
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["trade_status"] == "TRADE_SUCCESS"
    again = admin.post(checkout + "/pay", data={})
    assert again.status_code == 409 and "已付款" in again.text


def test_page_pay_errors_show_alipay_error_page(client, out_trade_no):
    params = _page_params(client, "alipay.trade.page.pay", out_trade_no, "FAST_INSTANT_TRADE_PAY")
    params["sign"] = params["sign"][:-8] + "AAAAAAA="
    page = client.send(params)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["x-sandbox-error"] == "isv.invalid-signature" and "isv.invalid-signature" in page.text
    params = _page_params(client, "alipay.trade.page.pay", out_trade_no, "QUICK_WAP_WAY")
    assert client.send(params).headers["x-sandbox-error"] == "ACQ.INVALID_PARAMETER"


def test_checkout_of_unknown_trade(admin):
    assert admin.get("/sandbox/checkout/20240101220000000000000000").status_code == 404


def _order_string(client, out_trade_no):
    biz = {"out_trade_no": out_trade_no, "total_amount": "6.00", "subject": "App 订单",
           "product_code": "QUICK_MSECURITY_PAY"}
    return urlencode(client.sign(client.params("alipay.trade.app.pay", biz, notify_url="http://127.0.0.1:9/n")))


def test_app_pay_order_string_becomes_a_payable_trade(client, admin, out_trade_no):
    order = _order_string(client, out_trade_no)
    created = admin.post("/sandbox/app-pay", content=order)
    assert created.status_code == 200
    body = created.json()
    assert body["out_trade_no"] == out_trade_no and body["total_amount"] == "6.00"
    assert admin.get(body["checkout_url"]).status_code == 200
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["trade_status"] == "WAIT_BUYER_PAY"


def test_app_pay_and_pay_at_once_gives_the_sdk_result(client, admin, out_trade_no):
    result = admin.post("/sandbox/app-pay", json={"order_string": _order_string(client, out_trade_no), "pay": True})
    body = result.json()
    assert body["resultStatus"] == "9000"
    node = client.verify_embedded(body["result"], "alipay_trade_app_pay_response")
    assert node["out_trade_no"] == out_trade_no and node["code"] == "10000"
    assert client.call(QUERY, {"out_trade_no": out_trade_no})["trade_status"] == "TRADE_SUCCESS"


def test_app_pay_tampered_order_string(client, admin, out_trade_no):
    order = _order_string(client, out_trade_no).replace("6.00", "0.01")
    refused = admin.post("/sandbox/app-pay", content=order)
    assert refused.status_code == 400 and refused.json()["sub_code"] == "isv.invalid-signature"
    assert admin.post("/sandbox/app-pay", content="method=alipay.trade.query").status_code == 400


def test_inspection_endpoints(client, admin, out_trade_no):
    precreate(client, out_trade_no)
    listed = admin.get("/sandbox/trades", params={"app_id": client.app_id}).json()["trades"]
    assert [t["out_trade_no"] for t in listed] == [out_trade_no]
    assert listed[0]["amount_fen"] == 1000 and listed[0]["status"] == "WAIT_BUYER_PAY"
    assert admin.get("/sandbox/trades/nope").status_code == 404
    assert admin.get("/").status_code == 200
    assert admin.post("/sandbox/reset").json() == {"reset": True}
    assert admin.get("/sandbox/trades").json()["trades"] == []


def test_trade_finished_cannot_be_refunded(client, admin, out_trade_no):
    precreate(client, out_trade_no)
    admin.post(f"/sandbox/trades/{out_trade_no}/pay")
    assert admin.post(f"/sandbox/trades/{out_trade_no}/finish").json()["trade"]["status"] == "TRADE_FINISHED"
    answer = client.call("alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "1.00"})
    assert answer["sub_code"] == "ACQ.TRADE_HAS_FINISHED"


def test_http_client_can_read_with_plain_json(client, out_trade_no):
    """A client that only json-parses still gets the same values (the \\/ escapes are plain JSON)."""
    answer = precreate(client, out_trade_no)
    plain = httpx.Response(200, content=answer.body).json()
    assert plain["alipay_trade_precreate_response"]["qr_code"] == answer["qr_code"]
