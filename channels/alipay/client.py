"""The Alipay Open Platform client: typed calls in fen, results with a closed outcome.

Buyer-facing flows (app, page, wap pay) only sign; they never call Alipay. Server-to-server calls go to
``gateway.do`` the way the official SDKs send them and come back as dataclasses whose ``outcome`` says
SUCCESS, FAILURE or UNKNOWN (see :mod:`channels.alipay.outcomes`). Transport trouble is an outcome,
not an exception: exceptions here mean the caller passed something invalid.

Retries (bounded, doubling back-off, the *same signed bytes* each time):

* query, refund query, close, bill URL and precreate are retried after timeouts, connection errors,
  HTTP 5xx and Alipay's own "unknown" answers (20000, SYSTEM_ERROR): repeating them changes nothing
  (Alipay de-duplicates precreate by out_trade_no with identical parameters). Closing is only allowed
  in WAIT_BUYER_PAY, so a close that already went through answers the repeat with
  ACQ.TRADE_STATUS_ERROR, exactly as for a paid trade: after a retry that answer is UNKNOWN
  ("close_unconfirmed", query the trade), never a FAILURE.
* refund and transfer move money. Alipay de-duplicates them by out_request_no / out_biz_no, but
  refunds of one trade must be 3 s apart and a too-quick repeat may be refused with a code that looks
  definite. So they are retried only when the request certainly never left (connection refused or
  no pooled connection); otherwise the UNKNOWN goes back to the caller, who queries and may later
  re-send with the same out_request_no / out_biz_no.
* Never after a definite answer, a bad signature or an unreadable body (repeating cannot fix those).
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx

from channels.alipay.bills import TradeBill, parse_trade_bill_zip
from channels.alipay.errors import (
    AlipayConfigError,
    AmountError,
    BillDownloadError,
    MalformedResponseError,
    ParameterError,
    ResponseSignatureError,
)
from channels.alipay.money import check_amount_limits, fen_to_yuan, yuan_to_fen
from channels.alipay.notify import TradeStatus
from channels.alipay.outcomes import (
    AlipayOutcome,
    Operation,
    Outcome,
    classify_answer,
    refine,
    transport_outcome,
    untrusted_outcome,
)
from channels.alipay.request_params import (
    BEIJING,
    CHARSET,
    FORM_CONTENT_TYPE,
    Clock,
    SignedRequest,
    build_signed_request,
    utc_now,
)
from channels.alipay.responses import verify_response
from channels.alipay.signing import AlipayCredentials

log = logging.getLogger(__name__)

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
SANDBOX_GATEWAY = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"

PAGE_PAY_METHOD = "alipay.trade.page.pay"
WAP_PAY_METHOD = "alipay.trade.wap.pay"
APP_PAY_METHOD = "alipay.trade.app.pay"

#: Operations that may be repeated after the request may have reached Alipay.
RETRY_WHEN_MAYBE_SENT: frozenset[Operation] = frozenset(
    {Operation.QUERY, Operation.REFUND_QUERY, Operation.CLOSE, Operation.BILL_URL, Operation.PRECREATE}
)

# Hyphens are allowed: UUID out_trade_no values are known to work (FZ #21), the rest is JV's rule.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMEOUT_EXPRESS = re.compile(r"(?:[1-9][0-9]{0,4}[mhd]|1c)")
_BILL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?")

R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` counts the first try; back-off doubles from ``backoff_seconds``."""

    attempts: int = 3
    backoff_seconds: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff_seconds < 0:
            raise AlipayConfigError("retry policy needs attempts >= 1 and a non-negative back-off")


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppPayOrder:
    """Hand ``order_string`` to Alipay's mobile SDK as is."""

    order_string: str
    out_trade_no: str


@dataclass(frozen=True)
class PagePayRedirect:
    """Either send the buyer to ``url`` (GET) or serve ``form_html`` (auto-submitting POST form)."""

    url: str
    form_html: str
    out_trade_no: str


@dataclass(frozen=True)
class PrecreateResult:
    outcome: AlipayOutcome
    out_trade_no: str | None = None
    qr_code: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TradeQueryResult:
    """``outcome`` is about the query; the trade's state is ``trade_status`` (set on SUCCESS)."""

    outcome: AlipayOutcome
    trade_no: str | None = None
    out_trade_no: str | None = None
    trade_status: TradeStatus | None = None
    total_amount_fen: int | None = None
    receipt_amount_fen: int | None = None
    buyer_pay_amount_fen: int | None = None
    buyer_user_id: str | None = None
    buyer_logon_id: str | None = None
    send_pay_date: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class CloseResult:
    outcome: AlipayOutcome
    trade_no: str | None = None
    out_trade_no: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RefundResult:
    """SUCCESS only when Alipay says money moved now (``fund_change`` Y); N means "confirm by query"."""

    outcome: AlipayOutcome
    trade_no: str | None = None
    out_trade_no: str | None = None
    fund_change: bool | None = None
    refund_fee_fen: int | None = None  # cumulative refunded amount of the trade
    gmt_refund_pay: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RefundQueryResult:
    outcome: AlipayOutcome
    out_request_no: str | None = None
    refund_amount_fen: int | None = None
    total_amount_fen: int | None = None
    refund_status: str | None = None
    trade_no: str | None = None
    out_trade_no: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TransferResult:
    outcome: AlipayOutcome
    out_biz_no: str | None = None
    order_id: str | None = None
    pay_fund_order_id: str | None = None
    status: str | None = None  # SUCCESS | FAIL | DEALING | REFUND
    trans_date: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BillUrlResult:
    """``bill_download_url`` expires after about 30 seconds: download right away."""

    outcome: AlipayOutcome
    bill_download_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


# --- the client ---------------------------------------------------------------------------------------


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
        self._retry = retry or RetryPolicy()
        self._notify_url = notify_url
        self._clock = clock
        self._sleep = sleep

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
        self,
        *,
        out_trade_no: str,
        total_amount_fen: int,
        subject: str,
        notify_url: str | None = None,
        timeout_express: str | None = None,
        time_expire: datetime | None = None,
        body: str | None = None,
        passback_params: str | None = None,
        app_auth_token: str | None = None,
        extra_biz: Mapping[str, Any] | None = None,
    ) -> AppPayOrder:
        """Signed order string for the Alipay mobile SDK (alipay.trade.app.pay); no HTTP call."""
        biz = _trade_biz(
            out_trade_no,
            total_amount_fen,
            subject,
            "QUICK_MSECURITY_PAY",
            timeout_express,
            _format_time(time_expire, "time_expire", "%Y-%m-%d %H:%M:%S"),
            body,
            passback_params,
        )
        request = self._sign(APP_PAY_METHOD, _merge(biz, extra_biz), notify_url, None, app_auth_token)
        return AppPayOrder(order_string=request.order_string(), out_trade_no=out_trade_no)

    def page_pay(
        self,
        *,
        out_trade_no: str,
        total_amount_fen: int,
        subject: str,
        return_url: str | None = None,
        notify_url: str | None = None,
        timeout_express: str | None = None,
        time_expire: datetime | None = None,
        body: str | None = None,
        passback_params: str | None = None,
        qr_pay_mode: str | None = None,
        app_auth_token: str | None = None,
        extra_biz: Mapping[str, Any] | None = None,
    ) -> PagePayRedirect:
        """PC checkout (alipay.trade.page.pay, FAST_INSTANT_TRADE_PAY); no HTTP call."""
        biz = _trade_biz(
            out_trade_no,
            total_amount_fen,
            subject,
            "FAST_INSTANT_TRADE_PAY",
            timeout_express,
            _format_time(time_expire, "time_expire", "%Y-%m-%d %H:%M:%S"),
            body,
            passback_params,
        )
        if qr_pay_mode is not None:
            biz["qr_pay_mode"] = _text("qr_pay_mode", qr_pay_mode, 2)
        request = self._sign(PAGE_PAY_METHOD, _merge(biz, extra_biz), notify_url, return_url, app_auth_token)
        return self._redirect(request, out_trade_no)

    def wap_pay(
        self,
        *,
        out_trade_no: str,
        total_amount_fen: int,
        subject: str,
        quit_url: str | None = None,
        return_url: str | None = None,
        notify_url: str | None = None,
        timeout_express: str | None = None,
        time_expire: datetime | None = None,
        body: str | None = None,
        passback_params: str | None = None,
        app_auth_token: str | None = None,
        extra_biz: Mapping[str, Any] | None = None,
    ) -> PagePayRedirect:
        """Mobile browser checkout (alipay.trade.wap.pay, QUICK_WAP_WAY); no HTTP call."""
        # JV javadoc documents wap's time_expire to the minute, unlike page pay.
        biz = _trade_biz(
            out_trade_no,
            total_amount_fen,
            subject,
            "QUICK_WAP_WAY",
            timeout_express,
            _format_time(time_expire, "time_expire", "%Y-%m-%d %H:%M"),
            body,
            passback_params,
        )
        if quit_url is not None:
            biz["quit_url"] = _text("quit_url", quit_url, 400)
        request = self._sign(WAP_PAY_METHOD, _merge(biz, extra_biz), notify_url, return_url, app_auth_token)
        return self._redirect(request, out_trade_no)

    # --- server-to-server calls ----------------------------------------------------------------------

    def precreate(
        self,
        *,
        out_trade_no: str,
        total_amount_fen: int,
        subject: str,
        notify_url: str | None = None,
        timeout_express: str | None = None,
        qr_code_timeout_express: str | None = None,
        product_code: str | None = None,
        app_auth_token: str | None = None,
        extra_biz: Mapping[str, Any] | None = None,
    ) -> PrecreateResult:
        """Scan-to-pay QR (alipay.trade.precreate). SUCCESS carries ``qr_code``."""
        biz = _trade_biz(
            out_trade_no, total_amount_fen, subject, product_code, timeout_express, None, None, None
        )
        if qr_code_timeout_express is not None:
            biz["qr_code_timeout_express"] = _timeout_express(
                "qr_code_timeout_express", qr_code_timeout_express
            )

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> PrecreateResult:
            qr_code = _opt_str(node, "qr_code")
            if outcome.succeeded and not qr_code:
                raise MalformedResponseError("precreate success without qr_code")
            return PrecreateResult(outcome, _opt_str(node, "out_trade_no"), qr_code, node)

        return self._call(
            Operation.PRECREATE,
            _merge(biz, extra_biz),
            build,
            notify_url=notify_url,
            app_auth_token=app_auth_token,
            echoes={"out_trade_no": out_trade_no},
        )

    def query(
        self,
        *,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        app_auth_token: str | None = None,
    ) -> TradeQueryResult:
        """alipay.trade.query. FAILURE/NOT_FOUND means Alipay has no such trade *yet* (unscanned QR)."""
        biz = _trade_ref(out_trade_no, trade_no)

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> TradeQueryResult:
            status = None
            if outcome.succeeded:
                text = _opt_str(node, "trade_status")
                try:
                    status = TradeStatus(text)
                except ValueError:
                    raise MalformedResponseError("query success with unknown trade_status") from None
            return TradeQueryResult(
                outcome,
                trade_no=_opt_str(node, "trade_no"),
                out_trade_no=_opt_str(node, "out_trade_no"),
                trade_status=status,
                total_amount_fen=_opt_fen(node, "total_amount"),
                receipt_amount_fen=_opt_fen(node, "receipt_amount"),
                buyer_pay_amount_fen=_opt_fen(node, "buyer_pay_amount"),
                buyer_user_id=_opt_str(node, "buyer_user_id"),
                buyer_logon_id=_opt_str(node, "buyer_logon_id"),
                send_pay_date=_opt_time(node, "send_pay_date"),
                raw=node,
            )

        return self._call(Operation.QUERY, biz, build, app_auth_token=app_auth_token, echoes=biz)

    def close_trade(
        self,
        *,
        out_trade_no: str | None = None,
        trade_no: str | None = None,
        operator_id: str | None = None,
        app_auth_token: str | None = None,
    ) -> CloseResult:
        """alipay.trade.close. Already closed counts as SUCCESS; already paid is FAILURE (query it)."""
        biz: dict[str, Any] = _trade_ref(out_trade_no, trade_no)
        if operator_id is not None:
            biz["operator_id"] = _text("operator_id", operator_id, 28)

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> CloseResult:
            return CloseResult(outcome, _opt_str(node, "trade_no"), _opt_str(node, "out_trade_no"), node)

        return self._call(
            Operation.CLOSE,
            biz,
            build,
            app_auth_token=app_auth_token,
            echoes=_trade_ref(out_trade_no, trade_no),
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
        biz: dict[str, Any] = _trade_ref(out_trade_no, trade_no)
        biz["out_request_no"] = _identifier("out_request_no", out_request_no)
        biz["refund_amount"] = fen_to_yuan(
            check_amount_limits(refund_amount_fen, field="refund_amount"), field="refund_amount"
        )
        if refund_reason is not None:
            biz["refund_reason"] = _text("refund_reason", refund_reason, 256)

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> RefundResult:
            fund_change = _opt_str(node, "fund_change")
            if outcome.succeeded and fund_change != "Y":
                # Alipay: fund_change N (or absent) means "no money moved by this call": a repeat of an
                # earlier success, or not done. Only the refund query can tell.
                outcome = refine(
                    outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="refund_not_confirmed"
                )
            return RefundResult(
                outcome,
                trade_no=_opt_str(node, "trade_no"),
                out_trade_no=_opt_str(node, "out_trade_no"),
                fund_change=None if fund_change is None else fund_change == "Y",
                refund_fee_fen=_opt_fen(node, "refund_fee"),
                gmt_refund_pay=_opt_time(node, "gmt_refund_pay"),
                raw=node,
            )

        return self._call(
            Operation.REFUND,
            biz,
            build,
            app_auth_token=app_auth_token,
            echoes=_trade_ref(out_trade_no, trade_no),
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
        biz: dict[str, Any] = _trade_ref(out_trade_no, trade_no)
        biz["out_request_no"] = _identifier("out_request_no", out_request_no)

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> RefundQueryResult:
            status = _opt_str(node, "refund_status")
            if outcome.succeeded and status != "REFUND_SUCCESS":
                if _opt_str(node, "out_request_no") is None and _opt_str(node, "refund_amount") is None:
                    outcome = refine(
                        outcome, to=Outcome.UNKNOWN, grpc_status="NOT_FOUND", reason="refund_not_found"
                    )
                else:
                    outcome = refine(
                        outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="refund_not_confirmed"
                    )
            return RefundQueryResult(
                outcome,
                out_request_no=_opt_str(node, "out_request_no"),
                refund_amount_fen=_opt_fen(node, "refund_amount"),
                total_amount_fen=_opt_fen(node, "total_amount"),
                refund_status=status,
                trade_no=_opt_str(node, "trade_no"),
                out_trade_no=_opt_str(node, "out_trade_no"),
                raw=node,
            )

        echoes = {**_trade_ref(out_trade_no, trade_no), "out_request_no": out_request_no}
        return self._call(Operation.REFUND_QUERY, biz, build, app_auth_token=app_auth_token, echoes=echoes)

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

        Alipay enables this API in certificate mode only; the call is built here so that a
        certificate-mode ``AlipayCredentials`` can use it unchanged. Status DEALING is UNKNOWN.
        """
        check_amount_limits(trans_amount_fen, field="trans_amount")
        if trans_amount_fen < 10:
            raise AmountError("trans_amount", "must be at least 0.10 yuan for transfers")
        if payee_identity_type not in ("ALIPAY_USER_ID", "ALIPAY_LOGON_ID"):
            raise ParameterError("payee_info.identity_type", "must be ALIPAY_USER_ID or ALIPAY_LOGON_ID")
        if payee_identity_type == "ALIPAY_LOGON_ID" and not payee_name:
            raise ParameterError("payee_info.name", "is required when paying to an ALIPAY_LOGON_ID")
        payee: dict[str, str] = {
            "identity": _text("payee_info.identity", payee_identity, 64),
            "identity_type": payee_identity_type,
        }
        if payee_name is not None:
            payee["name"] = _text("payee_info.name", payee_name, 128)
        biz: dict[str, Any] = {
            "out_biz_no": _identifier("out_biz_no", out_biz_no),
            "trans_amount": fen_to_yuan(trans_amount_fen, field="trans_amount"),
            "product_code": "TRANS_ACCOUNT_NO_PWD",
            "biz_scene": "DIRECT_TRANSFER",
            "payee_info": payee,
        }
        if order_title is not None:
            biz["order_title"] = _text("order_title", order_title, 128)
        if remark is not None:
            biz["remark"] = _text("remark", remark, 200)

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> TransferResult:
            status = _opt_str(node, "status")
            if outcome.succeeded and status != "SUCCESS":
                if status in ("FAIL", "REFUND"):
                    reason = "transfer_failed" if status == "FAIL" else "transfer_returned"
                    outcome = refine(
                        outcome, to=Outcome.FAILURE, grpc_status="FAILED_PRECONDITION", reason=reason
                    )
                else:
                    outcome = refine(
                        outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="transfer_processing"
                    )
            return TransferResult(
                outcome,
                out_biz_no=_opt_str(node, "out_biz_no"),
                order_id=_opt_str(node, "order_id"),
                pay_fund_order_id=_opt_str(node, "pay_fund_order_id"),
                status=status,
                trans_date=_opt_str(node, "trans_date"),
                raw=node,
            )

        return self._call(
            Operation.TRANSFER, biz, build, app_auth_token=app_auth_token, echoes={"out_biz_no": out_biz_no}
        )

    def bill_download_url(
        self, *, bill_date: str, bill_type: str = "trade", app_auth_token: str | None = None
    ) -> BillUrlResult:
        """alipay.data.dataservice.bill.downloadurl.query for a day (yyyy-MM-dd) or month (yyyy-MM)."""
        if not isinstance(bill_date, str) or not _BILL_DATE.fullmatch(bill_date):
            raise ParameterError("bill_date", "must be yyyy-MM-dd or yyyy-MM")
        if bill_type not in ("trade", "signcustomer"):
            raise ParameterError("bill_type", "must be trade or signcustomer")

        def build(outcome: AlipayOutcome, node: Mapping[str, Any]) -> BillUrlResult:
            url = _opt_str(node, "bill_download_url")
            if outcome.succeeded and not url:
                raise MalformedResponseError("bill query success without bill_download_url")
            return BillUrlResult(outcome, url, node)

        return self._call(
            Operation.BILL_URL,
            {"bill_type": bill_type, "bill_date": bill_date},
            build,
            app_auth_token=app_auth_token,
            echoes={},
        )

    def download_trade_bill(self, bill_download_url: str) -> TradeBill:
        """Fetch the bill zip from a fresh ``bill_download_url`` and parse its detail CSV."""
        if urlsplit(bill_download_url).scheme not in ("http", "https"):
            raise ParameterError("bill_download_url", "must be an http(s) URL")
        try:
            response = self._http.get(bill_download_url)
        except httpx.TransportError as exc:
            raise BillDownloadError(f"bill download failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise BillDownloadError(f"bill download answered HTTP {response.status_code}")
        return parse_trade_bill_zip(response.content)

    # --- internals ------------------------------------------------------------------------------------

    def _sign(
        self,
        method: str,
        biz: Mapping[str, Any],
        notify_url: str | None,
        return_url: str | None,
        app_auth_token: str | None,
    ) -> SignedRequest:
        return build_signed_request(
            self._credentials,
            method,
            biz,
            now=self._clock(),
            notify_url=notify_url or self._notify_url,
            return_url=return_url,
            app_auth_token=app_auth_token,
        )

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

    def _call(
        self,
        operation: Operation,
        biz: Mapping[str, Any],
        build: Callable[[AlipayOutcome, Mapping[str, Any]], R],
        *,
        app_auth_token: str | None,
        echoes: Mapping[str, Any],
        notify_url: str | None = None,
    ) -> R:
        request = self._sign(operation.value, biz, notify_url, None, app_auth_token)
        url = f"{self.gateway_url}?{request.query_string()}"
        body = request.form_body()
        attempt = 0
        maybe_processed = False  # an earlier attempt may have reached Alipay and been carried out
        while True:
            attempt += 1
            outcome, node = self._attempt(operation, url, body)
            if (
                maybe_processed
                and operation is Operation.CLOSE
                and outcome.failed
                and outcome.sub_code == "ACQ.TRADE_STATUS_ERROR"
            ):
                # "Not WAIT_BUYER_PAY" may be our own earlier attempt's doing: only a query can tell.
                outcome = refine(
                    outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="close_unconfirmed"
                )
            if outcome.code is not None and node:
                mismatch = next((k for k, v in echoes.items() if k in node and node[k] != v), None)
                if mismatch is not None:
                    # A signed answer about another trade would be an Alipay bug or a replay: never act on it.
                    outcome, node = untrusted_outcome(f"response_{mismatch}_mismatch", outcome), {}
            try:
                result = build(outcome, node)
            except (MalformedResponseError, AmountError, ValueError):
                outcome = untrusted_outcome("malformed_answer", outcome)
                result = build(outcome, {})
            may_retry = (
                outcome.retryable
                and attempt < self._retry.attempts
                and (operation in RETRY_WHEN_MAYBE_SENT or not outcome.request_sent)
            )
            log.info(
                "alipay %s attempt %d: %s %s code=%s sub_code=%s%s",
                operation.value,
                attempt,
                outcome.outcome.value,
                outcome.reason,
                outcome.code,
                outcome.sub_code,
                " (retrying)" if may_retry else "",
            )
            if not may_retry:
                return result
            maybe_processed = maybe_processed or outcome.request_sent
            self._sleep(self._retry.backoff_seconds * 2 ** (attempt - 1))

    def _attempt(
        self, operation: Operation, url: str, body: bytes
    ) -> tuple[AlipayOutcome, Mapping[str, Any]]:
        try:
            response = self._http.post(url, content=body, headers={"Content-Type": FORM_CONTENT_TYPE})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            # Raised before any byte of the request was written.
            return transport_outcome("connect_failed", request_sent=False), {}
        except httpx.TimeoutException:
            return transport_outcome("timeout", request_sent=True), {}
        except httpx.TransportError:
            return transport_outcome("transport_error", request_sent=True), {}
        if response.status_code >= 500:
            return transport_outcome(f"http_{response.status_code}", request_sent=True), {}
        if response.status_code != 200:
            # Alipay answers 200 even for errors; anything else is a proxy or a wrong URL. Who knows
            # whether the request got through: UNKNOWN, and INTERNAL so an operator looks.
            return untrusted_outcome(f"http_{response.status_code}"), {}
        try:
            verified = verify_response(
                response.content, response.headers.get("content-type"), operation.value, self._credentials
            )
        except ResponseSignatureError:
            log.warning("alipay %s: response signature does not verify", operation.value)
            return untrusted_outcome("response_signature_invalid"), {}
        except MalformedResponseError as exc:
            log.warning("alipay %s: unreadable response: %s", operation.value, exc)
            return untrusted_outcome("malformed_response"), {}
        node = verified.fields
        outcome = classify_answer(
            operation,
            code=_opt_str(node, "code"),
            sub_code=_opt_str(node, "sub_code"),
            msg=_opt_str(node, "msg"),
            sub_msg=_opt_str(node, "sub_msg"),
            signed=verified.signed,
        )
        return outcome, node


# --- parameter helpers ---------------------------------------------------------------------------------


def _identifier(name: str, value: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ParameterError(name, "must be 1-64 letters, digits, '_' or '-'")
    return value


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ParameterError(name, f"must be non-empty text of at most {limit} characters")
    return value


def _timeout_express(name: str, value: str) -> str:
    if not isinstance(value, str) or not _TIMEOUT_EXPRESS.fullmatch(value):
        raise ParameterError(name, "must look like 90m, 2h, 15d or 1c (whole numbers only)")
    return value


def _format_time(moment: datetime | None, name: str, fmt: str) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError(name, "must be a timezone-aware datetime")
    return moment.astimezone(BEIJING).strftime(fmt)


def _trade_biz(
    out_trade_no: str,
    total_amount_fen: int,
    subject: str,
    product_code: str | None,
    timeout_express: str | None,
    time_expire: str | None,
    body: str | None,
    passback_params: str | None,
) -> dict[str, Any]:
    biz: dict[str, Any] = {
        "out_trade_no": _identifier("out_trade_no", out_trade_no),
        "total_amount": fen_to_yuan(
            check_amount_limits(total_amount_fen, field="total_amount"), field="total_amount"
        ),
        "subject": _text("subject", subject, 256),
    }
    if product_code is not None:
        biz["product_code"] = _text("product_code", product_code, 64)
    if timeout_express is not None:
        biz["timeout_express"] = _timeout_express("timeout_express", timeout_express)
    if time_expire is not None:
        biz["time_expire"] = time_expire
    if body is not None:
        biz["body"] = _text("body", body, 128)
    if passback_params is not None:
        # Alipay requires it URL-encoded and hands it back still encoded in the notification.
        biz["passback_params"] = quote(_text("passback_params", passback_params, 512), safe="")
    return biz


def _trade_ref(out_trade_no: str | None, trade_no: str | None) -> dict[str, Any]:
    if out_trade_no is None and trade_no is None:
        raise ParameterError("out_trade_no", "out_trade_no or trade_no is required")
    ref: dict[str, Any] = {}
    if out_trade_no is not None:
        ref["out_trade_no"] = _identifier("out_trade_no", out_trade_no)
    if trade_no is not None:
        ref["trade_no"] = _text("trade_no", trade_no, 64)
    return ref


def _merge(biz: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if not extra:
        return biz
    clash = sorted(set(biz) & set(extra))
    if clash:
        raise ParameterError(clash[0], "is set by the rail; do not pass it in extra_biz")
    return {**biz, **extra}


def _opt_str(node: Mapping[str, Any], key: str) -> str | None:
    value = node.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{key} is not a string")
    return value


def _opt_fen(node: Mapping[str, Any], key: str) -> int | None:
    value = _opt_str(node, key)
    return None if value is None else yuan_to_fen(value, field=key)


def _opt_time(node: Mapping[str, Any], key: str) -> datetime | None:
    value = _opt_str(node, key)
    if value is None:
        return None
    try:
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
        return datetime.strptime(value, fmt).replace(tzinfo=BEIJING)
    except ValueError:
        raise MalformedResponseError(f"{key} is not yyyy-MM-dd HH:mm:ss") from None
