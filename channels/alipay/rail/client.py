"""The Alipay Open Platform client: typed calls in fen, results with a closed outcome.

Buyer-facing flows (app, page, wap pay) only sign; they never call Alipay. Server-to-server calls go to
``gateway.do`` the way the official SDKs send them (:mod:`channels.alipay.rail.transport`, which also says
when a call is retried) and come back as the dataclasses of :mod:`channels.alipay.rail.results`, whose
``outcome`` says SUCCESS, FAILURE or UNKNOWN. Exceptions here mean the caller passed something invalid
(checked by :mod:`channels.alipay.rail.params` before anything is signed).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Self, Unpack
from urllib.parse import urlencode, urlsplit

import httpx

from channels.alipay.rail.bills import TradeBill, parse_trade_bill_zip
from channels.alipay.rail.certificates import CertificateCredentials
from channels.alipay.rail.clock import Clock, utc_now
from channels.alipay.rail.errors import AlipayConfigError, BillDownloadError, ParameterError
from channels.alipay.rail.money import check_amount_limits, fen_to_yuan
from channels.alipay.rail.outcomes import Operation
from channels.alipay.rail.params import (
    PayOrder,
    TradeOrder,
    bill_query,
    identifier,
    merge,
    pay_biz,
    read_order,
    text,
    timeout_express,
    trade_biz,
    trade_ref,
    transfer_biz,
    transfer_query_biz,
)
from channels.alipay.rail.results import (
    AppPayOrder,
    BillUrlResult,
    CloseResult,
    PagePayRedirect,
    PrecreateResult,
    RefundQueryResult,
    RefundResult,
    TradeQueryResult,
    TransferQueryResult,
    TransferResult,
    bill_url_result,
    close_result,
    precreate_result,
    refund_query_result,
    refund_result,
    trade_query_result,
    transfer_query_result,
    transfer_result,
)
from channels.alipay.rail.rotation import CertificateRotation
from channels.alipay.rail.signed_request import CHARSET, SignedRequest
from channels.alipay.rail.signing import AlipayCredentials
from channels.alipay.rail.transport import RetryPolicy, Transport

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"

PAGE_PAY_METHOD = "alipay.trade.page.pay"
WAP_PAY_METHOD = "alipay.trade.wap.pay"
APP_PAY_METHOD = "alipay.trade.app.pay"

_SECONDS = "%Y-%m-%d %H:%M:%S"

#: Why a transfer is refused before anything is sent when the app signs in public-key mode.
#: A day's bill of a busy platform zips to tens of MB (a million account lines inflate to about 250 MB).
MAX_BILL_DOWNLOAD_BYTES = 200 * 1024 * 1024
#: The whole download, not one read: a server dripping a byte a second must not hold a settlement job.
BILL_DOWNLOAD_SECONDS = 300.0

TRANSFER_NEEDS_CERTIFICATE_MODE = (
    "alipay.fund.trans.uni.transfer needs certificate mode: Alipay refuses transfers signed in public-key "
    "mode (isv.missing-app-cert-sn); configure app_cert_file, alipay_cert_file and alipay_root_cert_file "
    "for this app instead of alipay_public_key"
)


class AlipayClient:
    """One app's connection to one Alipay gateway (production, Alipay's sandbox, or a local fake).

    ``http`` may be shared; if omitted the client owns a pooled ``httpx.Client`` and ``close()``
    releases it. ``clock`` must return timezone-aware datetimes; ``sleep`` is the back-off wait.
    """

    def __init__(
        self,
        gateway_url: str,
        credentials: AlipayCredentials,
        *,
        http: httpx.Client | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        notify_url: str | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(gateway_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise AlipayConfigError("gateway_url must be an http(s) URL without query or fragment")
        if not isinstance(credentials, AlipayCredentials):
            raise AlipayConfigError("credentials must implement AlipayCredentials")
        self.gateway_url = gateway_url
        self._credentials = credentials
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
        rotation = (
            CertificateRotation(gateway_url, credentials, self._http)
            if isinstance(credentials, CertificateCredentials) else None
        )
        self._transport = Transport(
            gateway_url, credentials, self._http, retry=retry or RetryPolicy(), notify_url=notify_url,
            clock=clock, sleep=sleep, rotation=rotation,
        )

    @property
    def certificate_mode(self) -> bool:
        """Whether this app signs in certificate mode (requests carry ``app_cert_sn``), which transfers need."""
        return "app_cert_sn" in self._credentials.common_params()

    def require_certificate_mode(self) -> None:
        """Raise ``AlipayConfigError`` saying why, for code that must not start without transfers."""
        if not self.certificate_mode:
            raise AlipayConfigError(TRANSFER_NEEDS_CERTIFICATE_MODE)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AlipayClient {self.gateway_url} app_id={self._credentials.app_id}>"

    # --- buyer-facing flows (sign only) -------------------------------------------------------------

    def app_pay(
        self, *, notify_url: str | None = None, app_auth_token: str | None = None, **order: Unpack[PayOrder]
    ) -> AppPayOrder:
        """Signed order string for the Alipay mobile SDK (alipay.trade.app.pay); no HTTP call."""
        read_order(order, PayOrder, "app_pay")
        biz = pay_biz(order, product_code="QUICK_MSECURITY_PAY", time_format=_SECONDS)
        request = self._transport.sign(
            APP_PAY_METHOD, merge(biz, order.get("extra_biz")), notify_url=notify_url,
            app_auth_token=app_auth_token,
        )
        return AppPayOrder(order_string=request.order_string(), out_trade_no=order["out_trade_no"])

    def page_pay(
        self,
        *,
        return_url: str | None = None,
        notify_url: str | None = None,
        qr_pay_mode: str | None = None,
        app_auth_token: str | None = None,
        **order: Unpack[PayOrder],
    ) -> PagePayRedirect:
        """PC checkout (alipay.trade.page.pay, FAST_INSTANT_TRADE_PAY); no HTTP call."""
        read_order(order, PayOrder, "page_pay")
        biz = pay_biz(order, product_code="FAST_INSTANT_TRADE_PAY", time_format=_SECONDS)
        if qr_pay_mode is not None:
            biz["qr_pay_mode"] = text("qr_pay_mode", qr_pay_mode, 2)
        request = self._transport.sign(
            PAGE_PAY_METHOD, merge(biz, order.get("extra_biz")), notify_url=notify_url, return_url=return_url,
            app_auth_token=app_auth_token,
        )
        return self._redirect(request, order["out_trade_no"])

    def wap_pay(
        self,
        *,
        quit_url: str | None = None,
        return_url: str | None = None,
        notify_url: str | None = None,
        app_auth_token: str | None = None,
        **order: Unpack[PayOrder],
    ) -> PagePayRedirect:
        """Mobile browser checkout (alipay.trade.wap.pay, QUICK_WAP_WAY); no HTTP call."""
        read_order(order, PayOrder, "wap_pay")
        # JV javadoc documents wap's time_expire to the minute, unlike page pay.
        biz = pay_biz(order, product_code="QUICK_WAP_WAY", time_format="%Y-%m-%d %H:%M")
        if quit_url is not None:
            biz["quit_url"] = text("quit_url", quit_url, 400)
        request = self._transport.sign(
            WAP_PAY_METHOD, merge(biz, order.get("extra_biz")), notify_url=notify_url, return_url=return_url,
            app_auth_token=app_auth_token,
        )
        return self._redirect(request, order["out_trade_no"])

    def _redirect(self, request: SignedRequest, out_trade_no: str) -> PagePayRedirect:
        action = f"{self.gateway_url}?{request.query_string()}"
        url = f"{action}&{urlencode({'biz_content': request.biz_content or ''}, encoding=CHARSET)}"
        form = (
            f'<form name="punchout_form" method="post" action="{html.escape(action, quote=True)}">\n'
            f'<input type="hidden" name="biz_content" value="{html.escape(request.biz_content or "", quote=True)}">\n'
            '<input type="submit" value="立即支付" style="display:none" >\n'
            "</form>\n"
            "<script>document.forms[0].submit();</script>"
        )
        return PagePayRedirect(url=url, form_html=form, out_trade_no=out_trade_no)

    # --- server-to-server calls ----------------------------------------------------------------------

    def precreate(
        self,
        *,
        notify_url: str | None = None,
        qr_code_timeout_express: str | None = None,
        product_code: str | None = None,
        app_auth_token: str | None = None,
        **order: Unpack[TradeOrder],
    ) -> PrecreateResult:
        """Scan-to-pay QR (alipay.trade.precreate). SUCCESS carries ``qr_code``."""
        read_order(order, TradeOrder, "precreate")
        biz = trade_biz(order, product_code=product_code)
        if qr_code_timeout_express is not None:
            biz["qr_code_timeout_express"] = timeout_express("qr_code_timeout_express", qr_code_timeout_express)
        return self._transport.call(
            Operation.PRECREATE,
            merge(biz, order.get("extra_biz")),
            precreate_result,
            notify_url=notify_url,
            app_auth_token=app_auth_token,
            echoes={"out_trade_no": order["out_trade_no"]},
        )

    def query(
        self, *, out_trade_no: str | None = None, trade_no: str | None = None, app_auth_token: str | None = None
    ) -> TradeQueryResult:
        """alipay.trade.query. FAILURE/NOT_FOUND means Alipay has no such trade *yet* (unscanned QR)."""
        biz = trade_ref(out_trade_no, trade_no)
        return self._transport.call(
            Operation.QUERY, biz, trade_query_result, app_auth_token=app_auth_token, echoes=biz
        )

    def close_trade(
        self,
        *,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        operator_id: str | None = None,
        app_auth_token: str | None = None,
    ) -> CloseResult:
        """alipay.trade.close. Already closed counts as SUCCESS; already paid is FAILURE (query it)."""
        biz = trade_ref(out_trade_no, trade_no)
        if operator_id is not None:
            biz["operator_id"] = text("operator_id", operator_id, 28)
        return self._transport.call(
            Operation.CLOSE, biz, close_result, app_auth_token=app_auth_token,
            echoes=trade_ref(out_trade_no, trade_no),
        )

    def refund(
        self,
        *,
        out_request_no: str,
        refund_amount_fen: int,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        refund_reason: str | None = None,
        app_auth_token: str | None = None,
    ) -> RefundResult:
        """alipay.trade.refund. ``out_request_no`` is required: it is what makes a repeat harmless."""
        biz = trade_ref(out_trade_no, trade_no)
        biz["out_request_no"] = identifier("out_request_no", out_request_no)
        biz["refund_amount"] = fen_to_yuan(
            check_amount_limits(refund_amount_fen, field="refund_amount"), field="refund_amount"
        )
        if refund_reason is not None:
            biz["refund_reason"] = text("refund_reason", refund_reason, 256)
        return self._transport.call(
            Operation.REFUND, biz, refund_result, app_auth_token=app_auth_token,
            echoes=trade_ref(out_trade_no, trade_no),
        )

    def refund_query(
        self,
        *,
        out_request_no: str,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        app_auth_token: str | None = None,
    ) -> RefundQueryResult:
        """alipay.trade.fastpay.refund.query. SUCCESS only with refund_status REFUND_SUCCESS.

        Anything else is UNKNOWN: Alipay documents that a query sent too soon after the refund may
        not see it yet. An empty answer is UNKNOWN with status NOT_FOUND ("refund_not_found"): wait
        10 s or more, then re-send the refund with the same out_request_no, which Alipay de-duplicates.
        """
        biz = trade_ref(out_trade_no, trade_no)
        biz["out_request_no"] = identifier("out_request_no", out_request_no)
        echoes = {**trade_ref(out_trade_no, trade_no), "out_request_no": out_request_no}
        return self._transport.call(
            Operation.REFUND_QUERY, biz, refund_query_result, app_auth_token=app_auth_token, echoes=echoes
        )

    def transfer(
        self,
        *,
        out_biz_no: str,
        trans_amount_fen: int,
        payee_identity: str,
        payee_identity_type: str = "ALIPAY_USER_ID",
        payee_name: str | None = None,
        order_title: str | None = None,
        remark: str | None = None,
        app_auth_token: str | None = None,
    ) -> TransferResult:
        """alipay.fund.trans.uni.transfer (TRANS_ACCOUNT_NO_PWD / DIRECT_TRANSFER) to an Alipay account.

        Alipay enables this API in certificate mode only, so in public-key mode it raises
        ``AlipayConfigError`` before anything is signed or sent. Status DEALING is UNKNOWN.
        """
        self.require_certificate_mode()
        biz = transfer_biz(
            out_biz_no=out_biz_no, trans_amount_fen=trans_amount_fen, payee_identity=payee_identity,
            payee_identity_type=payee_identity_type, payee_name=payee_name, order_title=order_title,
            remark=remark,
        )
        return self._transport.call(
            Operation.TRANSFER, biz, transfer_result, app_auth_token=app_auth_token,
            echoes={"out_biz_no": out_biz_no},
        )

    def transfer_query(
        self, *, out_biz_no: str | None = None, order_id: str | None = None, app_auth_token: str | None = None
    ) -> TransferQueryResult:
        """alipay.fund.trans.common.query of a DIRECT_TRANSFER by our out_biz_no (or Alipay's order_id).

        To an Alipay account the status is SUCCESS or FAIL (protocol notes §9); anything else is UNKNOWN.
        """
        biz = transfer_query_biz(out_biz_no, order_id)
        echoes = {k: v for k, v in (("out_biz_no", out_biz_no), ("order_id", order_id)) if v is not None}
        return self._transport.call(
            Operation.TRANSFER_QUERY, biz, transfer_query_result, app_auth_token=app_auth_token, echoes=echoes
        )

    def bill_download_url(
        self, *, bill_date: str, bill_type: str = "trade", app_auth_token: str | None = None
    ) -> BillUrlResult:
        """alipay.data.dataservice.bill.downloadurl.query for a day (yyyy-MM-dd) or month (yyyy-MM)."""
        return self._transport.call(
            Operation.BILL_URL, bill_query(bill_date, bill_type), bill_url_result, app_auth_token=app_auth_token,
            echoes={},
        )

    def download_trade_bill(self, bill_download_url: str) -> TradeBill:
        """Fetch the bill zip from a fresh ``bill_download_url`` and parse its detail CSV."""
        return parse_trade_bill_zip(self.download_bill(bill_download_url))

    def download_bill(
        self,
        bill_download_url: str,
        *,
        max_bytes: int = MAX_BILL_DOWNLOAD_BYTES,
        timeout: float = BILL_DOWNLOAD_SECONDS,
    ) -> bytes:
        """The bill archive's bytes from a fresh ``bill_download_url`` (it lives about 30 s: call at once).

        Bounded before it is held: more than ``max_bytes`` (announced or received) or longer than ``timeout``
        seconds in all raises :class:`BillDownloadError`, as do a network error and an HTTP status but 200.
        The message never carries the URL, whose token grants the download.
        """
        if urlsplit(bill_download_url).scheme not in ("http", "https"):
            raise ParameterError("bill_download_url", "must be an http(s) URL")
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        received = 0
        try:
            with self._http.stream("GET", bill_download_url, timeout=min(timeout, 60.0)) as response:
                if response.status_code != 200:
                    raise BillDownloadError(f"bill download answered HTTP {response.status_code}")
                announced = response.headers.get("content-length", "")
                if announced.isdigit() and int(announced) > max_bytes:
                    raise BillDownloadError(f"bill archive of {announced} bytes is over the limit of {max_bytes}")
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > max_bytes:
                        raise BillDownloadError(f"bill archive is over the limit of {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise BillDownloadError(f"bill download took longer than {timeout:g} s")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise BillDownloadError(f"bill download failed: {type(exc).__name__}") from None
        return b"".join(chunks)
