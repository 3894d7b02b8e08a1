"""The sandbox as merchants meet it: through Alipay's official Python SDK (`alipay-sdk-python`, 3.7.x) and the
widely used `python-alipay-sdk` (3.4.0), both unmodified, each checking answers and notifications its own way.

Both distributions ship a top-level ``alipay/__init__.py``; `python-alipay-sdk`'s must be the one installed (pip
installs it last from the `test` extra). `alipay-sdk-python` 3.7.x dials port 80/443 whatever the URL says (and
its ``get_http_connection`` adds an int to a str when a port is given): ``official_transport`` replaces that one
function, keeping the request in the absolute form the SDK sends (``POST http://host:port/gateway.do?...``).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from alipay import AliPay, DCAliPay
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayDataDataserviceBillDownloadurlQueryModel import (
    AlipayDataDataserviceBillDownloadurlQueryModel,
)
from alipay.aop.api.domain.AlipayFundTransUniTransferModel import AlipayFundTransUniTransferModel
from alipay.aop.api.domain.AlipayTradeAppPayModel import AlipayTradeAppPayModel
from alipay.aop.api.domain.AlipayTradeCloseModel import AlipayTradeCloseModel
from alipay.aop.api.domain.AlipayTradeFastpayRefundQueryModel import AlipayTradeFastpayRefundQueryModel
from alipay.aop.api.domain.AlipayTradePagePayModel import AlipayTradePagePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayTradeWapPayModel import AlipayTradeWapPayModel
from alipay.aop.api.domain.Participant import Participant
from alipay.aop.api.exception.Exception import ResponseException
from alipay.aop.api.request.AlipayDataDataserviceBillDownloadurlQueryRequest import (
    AlipayDataDataserviceBillDownloadurlQueryRequest,
)
from alipay.aop.api.request.AlipayFundTransUniTransferRequest import AlipayFundTransUniTransferRequest
from alipay.aop.api.request.AlipayTradeAppPayRequest import AlipayTradeAppPayRequest
from alipay.aop.api.request.AlipayTradeCloseRequest import AlipayTradeCloseRequest
from alipay.aop.api.request.AlipayTradeFastpayRefundQueryRequest import AlipayTradeFastpayRefundQueryRequest
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayTradeWapPayRequest import AlipayTradeWapPayRequest
from alipay.aop.api.response.AlipayDataDataserviceBillDownloadurlQueryResponse import (
    AlipayDataDataserviceBillDownloadurlQueryResponse,
)
from alipay.aop.api.response.AlipayFundTransUniTransferResponse import AlipayFundTransUniTransferResponse
from alipay.aop.api.response.AlipayTradeCloseResponse import AlipayTradeCloseResponse
from alipay.aop.api.response.AlipayTradeFastpayRefundQueryResponse import (
    AlipayTradeFastpayRefundQueryResponse,
)
from alipay.aop.api.response.AlipayTradePrecreateResponse import AlipayTradePrecreateResponse
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.util import WebUtils
from alipay.aop.api.util.SignatureUtils import get_sign_content, verify_with_rsa
from Crypto.PublicKey import RSA

from .conftest import APP_ID, CERT_APP_ID

SUBJECT = "会员月卡 & 茶"  # non-ASCII, and a character that must be escaped in a form


# ---------------------------------------------------------------- the two SDKs, pointed at the sandbox

def _bare(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


@pytest.fixture
def official_transport(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Dial the URL's own port; the request line stays absolute-form, as the SDK writes it. Records targets."""
    targets: list[str] = []

    def get_http_connection(url: str, query_string: str, timeout: float) -> tuple[str, http.client.HTTPConnection]:
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1"  # loopback only
        target = f"{parts.scheme}://{parts.netloc}{parts.path}?{query_string}"
        targets.append(target)
        return target, http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    monkeypatch.setattr(WebUtils, "get_http_connection", get_http_connection)
    return targets


@pytest.fixture
def alipay_bare_key(admin: httpx.Client) -> str:
    """The sandbox's public key as Alipay's console shows it (one line of Base64), fetched over the wire."""
    return admin.get("/sandbox/public-key", params={"format": "bare"}).text.strip()


def official_client(sandbox: Any, app_key: RSA.RsaKey, alipay_bare_key: str, charset: str = "utf-8",
                    app_id: str = APP_ID) -> DefaultAlipayClient:
    config = AlipayClientConfig()
    config.server_url = sandbox.gateway_url
    config.app_id = app_id
    config.app_private_key = _bare(app_key.export_key(format="DER", pkcs=1))  # what Alipay's key tool gives
    config.alipay_public_key = alipay_bare_key
    config.charset = charset
    config.timeout = 10
    return DefaultAlipayClient(config)


@pytest.fixture
def official(sandbox: Any, app_key: RSA.RsaKey, alipay_bare_key: str, official_transport: list[str]) -> Any:
    return lambda charset="utf-8", **kw: official_client(sandbox, app_key, alipay_bare_key, charset, **kw)


@pytest.fixture
def fz(sandbox: Any, app_key: RSA.RsaKey, admin: httpx.Client, receiver: Any) -> AliPay:
    """python-alipay-sdk, keys as PEM text, its gateway attribute pointed at the sandbox."""
    client = AliPay(
        appid=APP_ID,
        app_notify_url=receiver.url,
        app_private_key_string=app_key.export_key().decode(),
        alipay_public_key_string=admin.get("/sandbox/public-key").text,
        sign_type="RSA2",
    )
    client._gateway = sandbox.gateway_url
    return client


def official_execute(client: DefaultAlipayClient, request: Any, response_class: type) -> Any:
    """``execute`` verifies the answer's signature itself (it raises when it does not verify)."""
    response = response_class()
    response.parse_response_content(client.execute(request))
    return response


def official_verify_notification(fields: dict[str, str], alipay_bare_key: str) -> bool:
    """The official SDK's check for a notification: drop sign and sign_type, sort, verify in the charset."""
    params = dict(fields)
    sign = params.pop("sign")
    params.pop("sign_type", None)
    charset = params.get("charset", "utf-8")
    return verify_with_rsa(alipay_bare_key, get_sign_content(params).encode(charset), sign)


def notification_for(receiver: Any, out_trade_no: str, timeout: float = 10.0) -> tuple[dict[str, str], Any]:
    """The first notification about ``out_trade_no``, decoded in the charset its body says: (fields, headers)."""
    for count in range(1, 20):
        receiver.wait_for(count, timeout)
        for headers, body in list(receiver.raw):
            charset = dict(parse_qsl(body.decode("latin-1"))).get("charset", "utf-8")
            fields = dict(parse_qsl(body.decode("ascii"), encoding=charset, errors="strict"))
            if fields.get("out_trade_no") == out_trade_no:
                return fields, headers
    raise AssertionError(f"no notification for {out_trade_no}")


def pay_at_checkout(url: str, buyer: str = "13800138000") -> httpx.Response:
    """The buyer opens the checkout (scans the QR code) and pays."""
    with httpx.Client(timeout=10) as http:
        page = http.get(url)
        assert page.status_code == 200
        trade_no = urlsplit(url).path.rsplit("/", 1)[1]
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        return http.post(f"{base}/sandbox/checkout/{trade_no}/pay", data={"buyer_logon_id": buyer})


def beijing_today() -> str:
    return datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")


# ---------------------------------------------------------------- alipay-sdk-python (official)

@pytest.mark.parametrize("charset", ["utf-8", "GBK"])
def test_official_precreate_scan_pay_refund_in_the_requests_charset(
        official, official_transport, receiver, alipay_bare_key, out_trade_no, charset):
    client = official(charset)
    model = AlipayTradePrecreateModel()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "12.34", SUBJECT
    request = AlipayTradePrecreateRequest(biz_model=model)
    request.notify_url = receiver.url
    created = official_execute(client, request, AlipayTradePrecreateResponse)
    assert created.is_success() and created.out_trade_no == out_trade_no
    # the SDK's request line was absolute-form, with the sandbox's port
    assert official_transport[-1].startswith("http://127.0.0.1:") and "/gateway.do?" in official_transport[-1]

    def query() -> AlipayTradeQueryResponse:
        q = AlipayTradeQueryModel()
        q.out_trade_no = out_trade_no
        return official_execute(client, AlipayTradeQueryRequest(biz_model=q), AlipayTradeQueryResponse)

    unseen = query()  # not scanned yet: Alipay says "no such trade", echoing the number and zero amounts
    assert unseen.sub_code == "ACQ.TRADE_NOT_EXIST" and unseen.out_trade_no == out_trade_no
    assert (unseen.buyer_pay_amount, unseen.invoice_amount, unseen.point_amount, unseen.receipt_amount) == \
        ("0.00",) * 4

    with httpx.Client(timeout=10) as http:
        assert http.get(created.qr_code).status_code == 200  # the buyer scans
    scanned = query()
    assert scanned.trade_status == "WAIT_BUYER_PAY"
    assert scanned.buyer_logon_id and scanned.buyer_user_id.startswith("2088")

    assert pay_at_checkout(created.qr_code).status_code == 200
    fields, headers = notification_for(receiver, out_trade_no)
    assert fields["charset"] == charset and fields["subject"] == SUBJECT
    assert f"charset={charset}".lower() in headers["Content-Type"].lower()
    assert official_verify_notification(fields, alipay_bare_key)
    paid = query()
    assert (paid.trade_status, paid.total_amount, paid.buyer_logon_id) == ("TRADE_SUCCESS", "12.34", "138****8000")
    assert paid.buyer_user_id == fields["buyer_id"]

    refund = AlipayTradeRefundModel()
    refund.out_trade_no, refund.refund_amount, refund.out_request_no = out_trade_no, "2.34", "R1"
    refund.refund_reason = "退一部分"
    refunded = official_execute(client, AlipayTradeRefundRequest(biz_model=refund), AlipayTradeRefundResponse)
    assert refunded.is_success() and (refunded.fund_change, refunded.refund_fee) == ("Y", "2.34")

    asked = AlipayTradeFastpayRefundQueryModel()
    asked.out_trade_no, asked.out_request_no = out_trade_no, "R1"
    found = official_execute(client, AlipayTradeFastpayRefundQueryRequest(biz_model=asked),
                             AlipayTradeFastpayRefundQueryResponse)
    assert (found.refund_amount, found.refund_status, found.refund_reason) == ("2.34", "REFUND_SUCCESS", "退一部分")


def test_official_close_and_business_errors(official, out_trade_no):
    client = official()
    model = AlipayTradePrecreateModel()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "1.00", "关单"
    created = official_execute(client, AlipayTradePrecreateRequest(biz_model=model), AlipayTradePrecreateResponse)
    with httpx.Client(timeout=10) as http:
        http.get(created.qr_code)
    close = AlipayTradeCloseModel()
    close.out_trade_no = out_trade_no
    closed = official_execute(client, AlipayTradeCloseRequest(biz_model=close), AlipayTradeCloseResponse)
    assert closed.is_success() and closed.out_trade_no == out_trade_no
    again = official_execute(client, AlipayTradeCloseRequest(biz_model=close), AlipayTradeCloseResponse)
    assert (again.code, again.sub_code) == ("40004", "ACQ.TRADE_STATUS_ERROR")


@pytest.mark.parametrize(
    ("request_class", "model_class", "product_code"),
    [(AlipayTradePagePayRequest, AlipayTradePagePayModel, "FAST_INSTANT_TRADE_PAY"),
     (AlipayTradeWapPayRequest, AlipayTradeWapPayModel, "QUICK_WAP_WAY")],
)
def test_official_page_and_wap_pay(official, receiver, alipay_bare_key, out_trade_no,
                                   request_class, model_class, product_code):
    client = official()
    model = model_class()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "8.88", SUBJECT
    model.product_code = product_code
    request = request_class(biz_model=model)
    request.notify_url = receiver.url
    request.return_url = "https://shop.example/return"
    with httpx.Client(timeout=10) as browser:
        # the GET form: a URL the merchant redirects the buyer to
        checkout = browser.get(client.page_execute(request, http_method="GET"))
        assert checkout.status_code == 302
        paid = pay_at_checkout(checkout.headers["location"])
    assert paid.status_code == 303
    back = dict(parse_qsl(urlsplit(paid.headers["location"]).query))
    assert back["out_trade_no"] == out_trade_no and official_verify_notification(back, alipay_bare_key)
    fields, _ = notification_for(receiver, out_trade_no)
    assert fields["trade_status"] == "TRADE_SUCCESS" and official_verify_notification(fields, alipay_bare_key)


def test_official_page_pay_post_form(official, out_trade_no):
    client = official()
    model = AlipayTradePagePayModel()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "3.00", SUBJECT
    model.product_code = "FAST_INSTANT_TRADE_PAY"
    form = client.page_execute(AlipayTradePagePayRequest(biz_model=model))  # the auto-submitting form
    action = form.split('action="', 1)[1].split('"', 1)[0]
    biz = form.split('name="biz_content" value="', 1)[1].split('"', 1)[0].replace("&quot;", '"')
    with httpx.Client(timeout=10) as browser:
        submitted = browser.post(action, data={"biz_content": biz})
    assert submitted.status_code == 302 and "/sandbox/checkout/" in submitted.headers["location"]


def test_official_app_pay(official, admin, receiver, alipay_bare_key, out_trade_no):
    client = official()
    model = AlipayTradeAppPayModel()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "6.00", SUBJECT
    model.product_code = "QUICK_MSECURITY_PAY"
    request = AlipayTradeAppPayRequest(biz_model=model)
    request.notify_url = receiver.url
    order_string = client.sdk_execute(request)
    answer = admin.post("/sandbox/app-pay", json={"order_string": order_string, "pay": True}).json()
    assert answer["resultStatus"] == "9000"
    result = answer["result"]
    node = result.split('"alipay_trade_app_pay_response":', 1)[1].rsplit(',"sign":', 1)[0]
    sign = json.loads(result)["sign"]
    assert verify_with_rsa(alipay_bare_key, node.encode("utf-8"), sign)
    fields, _ = notification_for(receiver, out_trade_no)
    assert fields["total_amount"] == "6.00" and official_verify_notification(fields, alipay_bare_key)


def test_official_transfer_is_refused_in_key_mode_as_alipay_refuses_it(official):
    """Alipay's official Python SDK has no certificate mode, and Alipay takes transfers in that mode only."""
    client = official()
    model = AlipayFundTransUniTransferModel()
    model.out_biz_no, model.trans_amount = "B1", "1.50"
    model.product_code, model.biz_scene, model.order_title = "TRANS_ACCOUNT_NO_PWD", "DIRECT_TRANSFER", "结算"
    payee = Participant()
    payee.identity, payee.identity_type = "2088000000000001", "ALIPAY_USER_ID"
    model.payee_info = payee
    refused = official_execute(client, AlipayFundTransUniTransferRequest(biz_model=model),
                               AlipayFundTransUniTransferResponse)
    assert (refused.code, refused.sub_code) == ("40002", "isv.missing-app-cert-sn")


def test_official_bill_download_url(official, admin, out_trade_no):
    client = official()
    model = AlipayTradePrecreateModel()
    model.out_trade_no, model.total_amount, model.subject = out_trade_no, "5.00", SUBJECT
    official_execute(client, AlipayTradePrecreateRequest(biz_model=model), AlipayTradePrecreateResponse)
    admin.post(f"/sandbox/trades/{out_trade_no}/pay").raise_for_status()
    bill = AlipayDataDataserviceBillDownloadurlQueryModel()
    bill.bill_type, bill.bill_date = "trade", beijing_today()
    answer = official_execute(client, AlipayDataDataserviceBillDownloadurlQueryRequest(biz_model=bill),
                              AlipayDataDataserviceBillDownloadurlQueryResponse)
    assert answer.is_success()
    with httpx.Client(timeout=10) as http:
        archive = zipfile.ZipFile(io.BytesIO(http.get(answer.bill_download_url).content))
    assert any(out_trade_no in archive.read(name).decode("gbk") for name in archive.namelist())


def test_official_gateway_errors_are_signed_for_a_known_app(sandbox, other_key, alipay_bare_key, official_transport,
                                                            out_trade_no):
    # the app is known, but the request is signed with another key: a signed 40002 the SDK hands back
    client = official_client(sandbox, other_key, alipay_bare_key)
    q = AlipayTradeQueryModel()
    q.out_trade_no = out_trade_no
    refused = official_execute(client, AlipayTradeQueryRequest(biz_model=q), AlipayTradeQueryResponse)
    assert (refused.code, refused.sub_code) == ("40002", "isv.invalid-signature")
    # the string-to-sign it quotes has its "&" written as "&amp;", as Alipay's does
    assert "&amp;charset=utf-8&amp;" in refused.sub_msg and "&charset" not in refused.sub_msg.replace("&amp;", "")
    # an app the gateway does not know cannot be signed for: the SDK refuses the unsigned answer
    stranger = official_client(sandbox, other_key, alipay_bare_key, app_id="2021999999999999")
    with pytest.raises(ResponseException, match="isv.invalid-app-id"):
        stranger.execute(AlipayTradeQueryRequest(biz_model=q))


def test_sign_is_not_slash_escaped(client, out_trade_no):
    """Inside ``sign`` Alipay writes ``/`` as is (its node text escapes them; its Base64 does not)."""
    for _ in range(8):  # a 2048-bit signature in Base64 holds a "/" with probability ~1 - (63/64)**344
        answer = client.call("alipay.trade.precreate",
                             {"out_trade_no": out_trade_no, "total_amount": "1.00", "subject": "s"})
        sign_text = answer.body.rsplit(b'"sign":"', 1)[1]
        if b"/" in sign_text:
            assert b"\\/" not in sign_text
            return
    raise AssertionError("no signature with a slash in 8 answers")


# ---------------------------------------------------------------- python-alipay-sdk (fzlee/alipay)

def test_fz_precreate_scan_pay_refund_close(fz, receiver, out_trade_no):
    created = fz.api_alipay_trade_precreate(subject=SUBJECT, out_trade_no=out_trade_no, total_amount="9.90")
    assert created["code"] == "10000"  # the SDK returns only what it verified
    unseen = fz.api_alipay_trade_query(out_trade_no=out_trade_no)
    assert (unseen["sub_code"], unseen["out_trade_no"], unseen["receipt_amount"]) == \
        ("ACQ.TRADE_NOT_EXIST", out_trade_no, "0.00")
    with httpx.Client(timeout=10) as http:
        http.get(created["qr_code"])
    scanned = fz.api_alipay_trade_query(out_trade_no=out_trade_no)
    assert scanned["trade_status"] == "WAIT_BUYER_PAY" and scanned["buyer_user_id"]
    assert pay_at_checkout(created["qr_code"]).status_code == 200
    fields, _ = notification_for(receiver, out_trade_no)
    sign = fields.pop("sign")
    assert fz.verify(fields, sign)  # the SDK's own notification check
    assert fz.api_alipay_trade_query(out_trade_no=out_trade_no)["trade_status"] == "TRADE_SUCCESS"

    refunded = fz.api_alipay_trade_refund(refund_amount="0.90", out_trade_no=out_trade_no, out_request_no="R1")
    assert (refunded["code"], refunded["fund_change"]) == ("10000", "Y")
    found = fz.api_alipay_trade_fastpay_refund_query(out_request_no="R1", out_trade_no=out_trade_no)
    assert found["refund_amount"] == "0.90"
    unpaid = f"{out_trade_no}c"
    fz.api_alipay_trade_precreate(subject="关单", out_trade_no=unpaid, total_amount="1.00")
    assert fz.api_alipay_trade_close(out_trade_no=unpaid)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    with httpx.Client(timeout=10) as http:
        http.get(fz.api_alipay_trade_precreate(subject="关单", out_trade_no=unpaid, total_amount="1.00")["qr_code"])
    assert fz.api_alipay_trade_close(out_trade_no=unpaid)["code"] == "10000"


@pytest.mark.parametrize("method", ["api_alipay_trade_page_pay", "api_alipay_trade_wap_pay"])
def test_fz_page_and_wap_pay(fz, receiver, out_trade_no, method):
    order_string = getattr(fz, method)(subject=SUBJECT, out_trade_no=out_trade_no, total_amount="4.56",
                                        return_url="https://shop.example/return")
    with httpx.Client(timeout=10) as browser:
        checkout = browser.get(f"{fz._gateway}?{order_string}")
    assert checkout.status_code == 302
    paid = pay_at_checkout(checkout.headers["location"])
    back = dict(parse_qsl(urlsplit(paid.headers["location"]).query))
    assert fz.verify(back, back.pop("sign"))
    fields, _ = notification_for(receiver, out_trade_no)
    assert fz.verify(fields, fields.pop("sign"))


def test_fz_app_pay(fz, admin, receiver, out_trade_no):
    order_string = fz.api_alipay_trade_app_pay(subject=SUBJECT, out_trade_no=out_trade_no, total_amount="2.00")
    answer = admin.post("/sandbox/app-pay", json={"order_string": order_string, "pay": True}).json()
    assert answer["resultStatus"] == "9000"
    node = fz._get_string_to_be_signed(answer["result"], "alipay_trade_app_pay_response")
    assert fz._verify(node, json.loads(answer["result"])["sign"])
    fields, _ = notification_for(receiver, out_trade_no)
    assert fz.verify(fields, fields.pop("sign"))


@pytest.mark.filterwarnings("ignore:X509.get_issuer is deprecated:DeprecationWarning")  # the SDK still calls it
def test_fz_transfer_in_certificate_mode_and_bill(fz, cert_client, admin, out_trade_no):
    """python-alipay-sdk's certificate-mode client (DCAliPay) with the files the sandbox issued: it computes
    both serial numbers itself, and verifies the answer with the key of the Alipay certificate."""
    files = cert_client.files
    dc = DCAliPay(appid=CERT_APP_ID, app_private_key_string=cert_client.key.export_key().decode(),
                  app_public_key_cert_string=files["app_cert"], alipay_public_key_cert_string=files["alipay_cert"],
                  alipay_root_cert_string=files["alipay_root_cert"])
    dc._gateway = fz._gateway
    done = dc.server_api("alipay.fund.trans.uni.transfer", {
        "out_biz_no": "B1", "trans_amount": "0.10", "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "payee_info": {"identity": "someone@example.com", "identity_type": "ALIPAY_LOGON_ID", "name": "张三"},
    })
    assert done["status"] == "SUCCESS"
    found = dc.server_api("alipay.fund.trans.common.query", {"out_biz_no": "B1", "product_code": "TRANS_ACCOUNT_NO_PWD",
                                                             "biz_scene": "DIRECT_TRANSFER"})
    assert (found["status"], found["trans_amount"]) == ("SUCCESS", "0.10")
    fz.api_alipay_trade_precreate(subject=SUBJECT, out_trade_no=out_trade_no, total_amount="1.00")
    admin.post(f"/sandbox/trades/{out_trade_no}/pay").raise_for_status()
    bill = fz.server_api("alipay.data.dataservice.bill.downloadurl.query",
                         {"bill_type": "trade", "bill_date": beijing_today()})
    assert bill["bill_download_url"].startswith(str(admin.base_url).rstrip("/"))


def test_fz_gateway_error_is_verified_not_raised(sandbox, other_key, admin):
    """A known app with the wrong key gets a signed 40002, which python-alipay-sdk verifies and returns."""
    wrong = AliPay(appid=APP_ID, app_private_key_string=other_key.export_key().decode(),
                   alipay_public_key_string=admin.get("/sandbox/public-key").text)
    wrong._gateway = sandbox.gateway_url
    answer = wrong.api_alipay_trade_query(out_trade_no="nothing")
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-signature")
