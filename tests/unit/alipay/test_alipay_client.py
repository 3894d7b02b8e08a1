"""AlipayClient against a fake Alipay (httpx.MockTransport) that checks signatures both ways."""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from alipay_testkit import APP_ID, GATEWAY, FakeAlipay, alipay_sign, app_key_verifies

from channels.alipay.rail import (
    AlipayClient,
    AlipayConfigError,
    AmountError,
    Outcome,
    ParameterError,
    PublicKeyCredentials,
    TradeStatus,
)
from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.signing import string_to_sign

QUERY = "alipay.trade.query"
REFUND = "alipay.trade.refund"


def _request(url: str = GATEWAY) -> httpx.Request:
    return httpx.Request("POST", url)


# --- transport layout and request signature -------------------------------------------------------------


def test_params_in_query_biz_in_body_and_signature_verifies(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.reply(
        QUERY,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": "T1",
            "trade_no": "2024x",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "88.88",
        },
    )
    result = client.query(out_trade_no="T1")
    seen = fake_alipay.seen[0]
    assert seen.signature_ok
    assert seen.content_type == "application/x-www-form-urlencoded;charset=utf-8"
    assert set(seen.body) == {"biz_content"} and seen.biz == {"out_trade_no": "T1"}
    assert {"app_id", "method", "sign", "sign_type", "timestamp", "charset", "version", "format"} <= set(
        seen.query
    )
    assert seen.query["method"] == QUERY and seen.query["app_id"] == APP_ID
    assert seen.query["timestamp"] == "2024-01-02 03:04:05"
    assert result.outcome.outcome is Outcome.SUCCESS and result.outcome.grpc_status == "OK"
    assert result.trade_status is TradeStatus.TRADE_SUCCESS and result.total_amount_fen == 8888


def test_notify_url_default_is_sent_and_signed(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.reply(
        "alipay.trade.precreate",
        {"code": "10000", "msg": "Success", "out_trade_no": "T1", "qr_code": "https://qr.alipay.com/bax1"},
    )
    result = client.precreate(out_trade_no="T1", total_amount_fen=1, subject="测试")
    assert fake_alipay.seen[0].query["notify_url"] == "https://cashier.test/notify/alipay"
    assert fake_alipay.seen[0].signature_ok
    assert fake_alipay.seen[0].biz == {"out_trade_no": "T1", "total_amount": "0.01", "subject": "测试"}
    assert result.qr_code == "https://qr.alipay.com/bax1"


# --- outcomes --------------------------------------------------------------------------------------------


def test_trade_not_exist_is_a_definite_not_found(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.reply(
        QUERY,
        {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        },
    )
    result = client.query(out_trade_no="T1")
    assert (result.outcome.outcome, result.outcome.grpc_status) == (Outcome.FAILURE, "NOT_FOUND")
    assert result.outcome.sub_msg == "交易不存在" and result.trade_status is None
    assert len(fake_alipay.seen) == 1  # definite answers are never retried


def test_bad_response_signature_claiming_success_is_unknown(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    node = '{"code":"10000","msg":"Success","out_trade_no":"T1","trade_status":"TRADE_SUCCESS"}'
    forged = f'{{"alipay_trade_query_response":{node},"sign":"{alipay_sign(node + " ")}"}}'
    fake_alipay.answers.append(httpx.Response(200, text=forged))
    result = client.query(out_trade_no="T1")
    assert result.outcome.outcome is Outcome.UNKNOWN
    assert (result.outcome.grpc_status, result.outcome.reason) == ("INTERNAL", "response_signature_invalid")
    assert result.trade_status is None and result.raw == {}
    assert len(fake_alipay.seen) == 1  # a key mismatch is not fixed by repeating


def test_unsigned_gateway_error_is_a_failure(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.answers.append(
        httpx.Response(
            200,
            text='{"error_response":{"code":"40002","msg":"Invalid Arguments",'
            '"sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}',
        )
    )
    result = client.query(out_trade_no="T1")
    assert (result.outcome.outcome, result.outcome.grpc_status) == (Outcome.FAILURE, "INVALID_ARGUMENT")
    assert result.outcome.sub_code == "isv.invalid-app-id"


def test_unsigned_success_is_unknown(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.reply(QUERY, {"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS"}, sign=False)
    result = client.query(out_trade_no="T1")
    assert result.outcome.outcome is Outcome.UNKNOWN and result.trade_status is None


def test_signed_answer_about_another_trade_is_not_believed(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.reply(
        QUERY,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": "OTHER",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "1.00",
        },
    )
    result = client.query(out_trade_no="T1")
    assert result.outcome.outcome is Outcome.UNKNOWN and result.trade_status is None


def test_malformed_amount_in_a_signed_answer_is_unknown(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.reply(
        QUERY,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": "T1",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "1e3",
        },
    )
    result = client.query(out_trade_no="T1")
    assert (result.outcome.outcome, result.outcome.reason) == (Outcome.UNKNOWN, "malformed_answer")


def test_close_already_closed_is_success(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.reply(
        "alipay.trade.close", {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_HAS_CLOSE"}
    )
    assert client.close_trade(out_trade_no="T1").outcome.outcome is Outcome.SUCCESS


def test_refund_success_needs_fund_change(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    base = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "T1",
        "trade_no": "2024x",
        "refund_fee": "30.50",
        "gmt_refund_pay": "2024-01-02 03:04:06",
    }
    fake_alipay.reply(REFUND, {**base, "fund_change": "Y"})
    fake_alipay.reply(REFUND, {**base, "fund_change": "N"})
    first = client.refund(out_trade_no="T1", out_request_no="R1", refund_amount_fen=1050)
    again = client.refund(out_trade_no="T1", out_request_no="R1", refund_amount_fen=1050)
    assert fake_alipay.seen[0].biz == {"out_trade_no": "T1", "out_request_no": "R1", "refund_amount": "10.50"}
    assert first.outcome.outcome is Outcome.SUCCESS and first.fund_change is True
    assert first.refund_fee_fen == 3050  # cumulative, in fen
    assert first.gmt_refund_pay == datetime(2024, 1, 2, 3, 4, 6, tzinfo=BEIJING)
    assert (again.outcome.outcome, again.outcome.reason) == (Outcome.UNKNOWN, "refund_not_confirmed")
    assert again.fund_change is False


def test_refund_query_outcomes(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    method = "alipay.trade.fastpay.refund.query"
    found = {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "T1",
        "out_request_no": "R1",
        "refund_amount": "10.50",
        "total_amount": "88.88",
    }
    fake_alipay.reply(method, {**found, "refund_status": "REFUND_SUCCESS"})
    fake_alipay.reply(method, found)
    fake_alipay.reply(method, {"code": "10000", "msg": "Success"})
    done = client.refund_query(out_trade_no="T1", out_request_no="R1")
    pending = client.refund_query(out_trade_no="T1", out_request_no="R1")
    missing = client.refund_query(out_trade_no="T1", out_request_no="R1")
    assert done.outcome.outcome is Outcome.SUCCESS and done.refund_amount_fen == 1050
    assert (pending.outcome.outcome, pending.outcome.grpc_status) == (Outcome.UNKNOWN, "UNAVAILABLE")
    assert (missing.outcome.outcome, missing.outcome.grpc_status) == (Outcome.UNKNOWN, "NOT_FOUND")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("SUCCESS", Outcome.SUCCESS),
        ("DEALING", Outcome.UNKNOWN),
        ("FAIL", Outcome.FAILURE),
        (None, Outcome.UNKNOWN),
    ],
)
def test_transfer_status_decides(cert_client: AlipayClient, fake_alipay: FakeAlipay, status, outcome) -> None:
    client = cert_client  # Alipay accepts transfers in certificate mode only
    node = {"code": "10000", "msg": "Success", "out_biz_no": "P1", "order_id": "2024o"}
    if status:
        node["status"] = status
    fake_alipay.reply("alipay.fund.trans.uni.transfer", node)
    result = client.transfer(
        out_biz_no="P1",
        trans_amount_fen=12345,
        payee_identity="alice@example.com",
        payee_identity_type="ALIPAY_LOGON_ID",
        payee_name="张三",
    )
    assert result.outcome.outcome is outcome
    assert fake_alipay.seen[0].biz == {
        "out_biz_no": "P1",
        "trans_amount": "123.45",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "payee_info": {"identity": "alice@example.com", "identity_type": "ALIPAY_LOGON_ID", "name": "张三"},
    }


def test_bill_url(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    url = "http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip"
    fake_alipay.reply(
        "alipay.data.dataservice.bill.downloadurl.query",
        {"code": "10000", "msg": "Success", "bill_download_url": url},
    )
    result = client.bill_download_url(bill_date="2024-01-01")
    assert result.bill_download_url == url and fake_alipay.seen[0].biz == {
        "bill_type": "trade",
        "bill_date": "2024-01-01",
    }


# --- retries ---------------------------------------------------------------------------------------------


def test_safe_methods_retry_after_timeouts_and_5xx(
    client: AlipayClient, fake_alipay: FakeAlipay, sleeps: list[float]
) -> None:
    fake_alipay.answers += [
        httpx.ReadTimeout("slow", request=_request()),
        httpx.Response(502, text="bad gateway"),
    ]
    fake_alipay.reply(
        QUERY, {"code": "10000", "msg": "Success", "out_trade_no": "T1", "trade_status": "WAIT_BUYER_PAY"}
    )
    result = client.query(out_trade_no="T1")
    assert result.trade_status is TradeStatus.WAIT_BUYER_PAY
    assert len(fake_alipay.seen) == 3 and sleeps == [0.1, 0.2]
    # The very same signed request is repeated.
    assert len({(s.query["sign"], s.query["timestamp"]) for s in fake_alipay.seen}) == 1


def test_retries_are_bounded_and_end_unknown(
    client: AlipayClient, fake_alipay: FakeAlipay, sleeps: list[float]
) -> None:
    fake_alipay.answers += [httpx.ReadTimeout("slow", request=_request()) for _ in range(3)]
    result = client.close_trade(out_trade_no="T1")
    assert (result.outcome.outcome, result.outcome.reason) == (Outcome.UNKNOWN, "timeout")
    assert len(fake_alipay.seen) == 3 and len(sleeps) == 2


def test_safe_methods_retry_alipay_system_error(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.reply(
        QUERY, {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}
    )
    fake_alipay.reply(
        QUERY, {"code": "10000", "msg": "Success", "out_trade_no": "T1", "trade_status": "TRADE_CLOSED"}
    )
    assert client.query(out_trade_no="T1").trade_status is TradeStatus.TRADE_CLOSED


def test_refund_is_not_retried_once_the_request_may_have_arrived(
    client: AlipayClient, fake_alipay: FakeAlipay, sleeps: list[float]
) -> None:
    fake_alipay.answers.append(httpx.ReadTimeout("slow", request=_request()))
    result = client.refund(out_trade_no="T1", out_request_no="R1", refund_amount_fen=100)
    assert (result.outcome.outcome, result.outcome.grpc_status) == (Outcome.UNKNOWN, "UNAVAILABLE")
    assert result.outcome.request_sent and len(fake_alipay.seen) == 1 and sleeps == []


def test_refund_system_error_is_unknown_and_not_repeated(
    client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.reply(REFUND, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"})
    result = client.refund(out_trade_no="T1", out_request_no="R1", refund_amount_fen=100)
    assert result.outcome.outcome is Outcome.UNKNOWN and len(fake_alipay.seen) == 1


def test_money_calls_retry_when_the_request_never_left(cert_client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    client = cert_client  # Alipay accepts transfers in certificate mode only
    fake_alipay.answers.append(httpx.ConnectError("refused", request=_request()))
    fake_alipay.reply(
        "alipay.fund.trans.uni.transfer",
        {"code": "10000", "msg": "Success", "out_biz_no": "P1", "status": "SUCCESS"},
    )
    result = client.transfer(out_biz_no="P1", trans_amount_fen=100, payee_identity="2088000000000001")
    assert result.outcome.outcome is Outcome.SUCCESS
    first, second = fake_alipay.seen
    assert first.query == second.query and first.body == second.body  # same out_biz_no, same bytes


def test_http_4xx_is_unknown_without_retry(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    fake_alipay.answers.append(httpx.Response(404, text="not found"))
    result = client.query(out_trade_no="T1")
    assert (result.outcome.outcome, result.outcome.grpc_status) == (Outcome.UNKNOWN, "INTERNAL")
    assert len(fake_alipay.seen) == 1


# --- buyer-facing flows (no HTTP) ------------------------------------------------------------------------


def test_app_pay_order_string(client: AlipayClient, fake_alipay: FakeAlipay) -> None:
    order = client.app_pay(out_trade_no="T1", total_amount_fen=8888, subject="测试商品")
    pairs = parse_qsl(order.order_string)
    params = dict(pairs)
    assert pairs[-1][0] == "sign" and fake_alipay.seen == []
    assert (
        params["method"] == "alipay.trade.app.pay"
        and '"product_code":"QUICK_MSECURITY_PAY"' in params["biz_content"]
    )
    assert app_key_verifies(string_to_sign(params), params["sign"])


@pytest.mark.parametrize("flow", ["page", "wap"])
def test_page_and_wap_pay_give_a_url_and_an_escaped_form(
    client: AlipayClient, fake_alipay: FakeAlipay, flow
) -> None:
    subject = 'Tom & "Jerry" <b>商品</b>'
    if flow == "page":
        redirect = client.page_pay(
            out_trade_no="T1", total_amount_fen=100, subject=subject, return_url="https://shop.test/done"
        )
        method, product = "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"
    else:
        redirect = client.wap_pay(
            out_trade_no="T1",
            total_amount_fen=100,
            subject=subject,
            quit_url="https://shop.test/quit",
            return_url="https://shop.test/done",
        )
        method, product = "alipay.trade.wap.pay", "QUICK_WAP_WAY"
    assert fake_alipay.seen == []
    params = dict(parse_qsl(urlsplit(redirect.url).query))
    assert redirect.url.startswith(GATEWAY + "?") and params["method"] == method
    assert params["return_url"] == "https://shop.test/done"
    assert app_key_verifies(string_to_sign(params), params["sign"])
    assert f'"product_code":"{product}"' in params["biz_content"]
    # The form: action carries protocol params + sign; biz_content is a hidden field, HTML-escaped.
    form = redirect.form_html
    assert form.startswith('<form name="punchout_form" method="post" action="')
    assert "<b>" not in form and 'value="{&quot;out_trade_no&quot;' in form
    action = html.unescape(re.search(r'action="([^"]*)"', form).group(1))
    biz = html.unescape(re.search(r'name="biz_content" value="([^"]*)"', form).group(1))
    form_params = {**dict(parse_qsl(urlsplit(action).query)), "biz_content": biz}
    assert "biz_content" not in dict(parse_qsl(urlsplit(action).query))
    assert form_params == params


# --- argument checking ------------------------------------------------------------------------------------


def test_bad_arguments_fail_before_any_call(
    client: AlipayClient, cert_client: AlipayClient, fake_alipay: FakeAlipay
) -> None:
    with pytest.raises(AmountError, match="total_amount"):
        client.precreate(out_trade_no="T1", total_amount_fen=0, subject="x")
    with pytest.raises(AmountError, match="refund_amount"):
        client.refund(out_trade_no="T1", out_request_no="R1", refund_amount_fen=10_000_000_001)
    with pytest.raises(AmountError, match="trans_amount"):
        cert_client.transfer(out_biz_no="P1", trans_amount_fen=9, payee_identity="2088")
    with pytest.raises(ParameterError, match="out_trade_no"):
        client.query()
    with pytest.raises(ParameterError, match="out_trade_no"):
        client.query(out_trade_no="has space")
    with pytest.raises(ParameterError, match="payee_info.name"):
        cert_client.transfer(
            out_biz_no="P1",
            trans_amount_fen=100,
            payee_identity="a@b.c",
            payee_identity_type="ALIPAY_LOGON_ID",
        )
    with pytest.raises(ParameterError, match="bill_date"):
        client.bill_download_url(bill_date="20240101")
    with pytest.raises(ParameterError, match="timeout_express"):
        client.precreate(out_trade_no="T1", total_amount_fen=1, subject="x", timeout_express="1.5h")
    assert fake_alipay.seen == []


def test_gateway_url_must_be_plain(credentials: PublicKeyCredentials) -> None:
    for url in ("ftp://x/gateway.do", "https://x/gateway.do?charset=utf-8", "gateway.do"):
        with pytest.raises(AlipayConfigError):
            AlipayClient(url, credentials)


def test_owned_http_client_is_closed(credentials: PublicKeyCredentials) -> None:
    alipay = AlipayClient(GATEWAY, credentials)
    alipay.close()
    assert alipay._http.is_closed
