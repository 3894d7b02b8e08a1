"""What each call hands back, and how a verified answer node becomes it.

Every server-to-server result carries ``outcome`` (SUCCESS, FAILURE or UNKNOWN, see
:mod:`channels.alipay.rail.outcomes`) and the node it was read from (``raw``). The ``*_result`` functions
read one node: amounts into fen, times into Beijing-aware datetimes, and a 10000 refined into what its body
says. A node that does not read (a field of the wrong type, a success without its essential field) raises
``MalformedResponseError``, which the transport turns into an UNKNOWN answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import MalformedResponseError
from channels.alipay.rail.money import yuan_to_fen
from channels.alipay.rail.notifications import TradeStatus
from channels.alipay.rail.outcomes import AlipayOutcome, Outcome, refine

# --- sign-only flows -------------------------------------------------------------------------------


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


# --- server-to-server calls ------------------------------------------------------------------------


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
class TransferQueryResult:
    """``outcome`` SUCCESS: the money arrived; FAILURE with reason ``transfer_failed``: it never will."""

    outcome: AlipayOutcome
    out_biz_no: str | None = None
    order_id: str | None = None
    pay_fund_order_id: str | None = None
    status: str | None = None  # SUCCESS | FAIL (to an Alipay account)
    trans_amount_fen: int | None = None
    pay_date: datetime | None = None
    fail_reason: str | None = None
    error_code: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BillUrlResult:
    """``bill_download_url`` expires after about 30 seconds: download right away."""

    outcome: AlipayOutcome
    bill_download_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


# --- reading one answer node -----------------------------------------------------------------------


def precreate_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> PrecreateResult:
    qr_code = opt_str(node, "qr_code")
    if outcome.succeeded and not qr_code:
        raise MalformedResponseError("precreate success without qr_code")
    return PrecreateResult(outcome, opt_str(node, "out_trade_no"), qr_code, node)


def trade_query_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> TradeQueryResult:
    status = None
    if outcome.succeeded:
        text = opt_str(node, "trade_status")
        try:
            status = TradeStatus(text)
        except ValueError:
            raise MalformedResponseError("query success with unknown trade_status") from None
    return TradeQueryResult(
        outcome,
        trade_no=opt_str(node, "trade_no"),
        out_trade_no=opt_str(node, "out_trade_no"),
        trade_status=status,
        total_amount_fen=opt_fen(node, "total_amount"),
        receipt_amount_fen=opt_fen(node, "receipt_amount"),
        buyer_pay_amount_fen=opt_fen(node, "buyer_pay_amount"),
        buyer_user_id=opt_str(node, "buyer_user_id"),
        buyer_logon_id=opt_str(node, "buyer_logon_id"),
        send_pay_date=opt_time(node, "send_pay_date"),
        raw=node,
    )


def close_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> CloseResult:
    return CloseResult(outcome, opt_str(node, "trade_no"), opt_str(node, "out_trade_no"), node)


def refund_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> RefundResult:
    fund_change = opt_str(node, "fund_change")
    if outcome.succeeded and fund_change != "Y":
        # Alipay: fund_change N (or absent) means "no money moved by this call": a repeat of an
        # earlier success, or not done. Only the refund query can tell.
        outcome = refine(outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="refund_not_confirmed")
    return RefundResult(
        outcome,
        trade_no=opt_str(node, "trade_no"),
        out_trade_no=opt_str(node, "out_trade_no"),
        fund_change=None if fund_change is None else fund_change == "Y",
        refund_fee_fen=opt_fen(node, "refund_fee"),
        gmt_refund_pay=opt_time(node, "gmt_refund_pay"),
        raw=node,
    )


def refund_query_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> RefundQueryResult:
    status = opt_str(node, "refund_status")
    if outcome.succeeded and status != "REFUND_SUCCESS":
        if opt_str(node, "out_request_no") is None and opt_str(node, "refund_amount") is None:
            outcome = refine(outcome, to=Outcome.UNKNOWN, grpc_status="NOT_FOUND", reason="refund_not_found")
        else:
            outcome = refine(
                outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="refund_not_confirmed"
            )
    return RefundQueryResult(
        outcome,
        out_request_no=opt_str(node, "out_request_no"),
        refund_amount_fen=opt_fen(node, "refund_amount"),
        total_amount_fen=opt_fen(node, "total_amount"),
        refund_status=status,
        trade_no=opt_str(node, "trade_no"),
        out_trade_no=opt_str(node, "out_trade_no"),
        raw=node,
    )


def transfer_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> TransferResult:
    status = opt_str(node, "status")
    if outcome.succeeded and status != "SUCCESS":
        if status in ("FAIL", "REFUND"):
            reason = "transfer_failed" if status == "FAIL" else "transfer_returned"
            outcome = refine(outcome, to=Outcome.FAILURE, grpc_status="FAILED_PRECONDITION", reason=reason)
        else:
            outcome = refine(outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="transfer_processing")
    return TransferResult(
        outcome,
        out_biz_no=opt_str(node, "out_biz_no"),
        order_id=opt_str(node, "order_id"),
        pay_fund_order_id=opt_str(node, "pay_fund_order_id"),
        status=status,
        trans_date=opt_str(node, "trans_date"),
        raw=node,
    )


def transfer_query_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> TransferQueryResult:
    status = opt_str(node, "status")
    if outcome.succeeded and status != "SUCCESS":
        if status == "FAIL":
            outcome = refine(outcome, to=Outcome.FAILURE, grpc_status="FAILED_PRECONDITION", reason="transfer_failed")
        else:
            outcome = refine(outcome, to=Outcome.UNKNOWN, grpc_status="UNAVAILABLE", reason="transfer_processing")
    return TransferQueryResult(
        outcome,
        out_biz_no=opt_str(node, "out_biz_no"),
        order_id=opt_str(node, "order_id"),
        pay_fund_order_id=opt_str(node, "pay_fund_order_id"),
        status=status,
        trans_amount_fen=opt_fen(node, "trans_amount"),
        pay_date=opt_time(node, "pay_date"),
        fail_reason=opt_str(node, "fail_reason"),
        error_code=opt_str(node, "error_code"),
        raw=node,
    )


def bill_url_result(outcome: AlipayOutcome, node: Mapping[str, Any]) -> BillUrlResult:
    url = opt_str(node, "bill_download_url")
    if outcome.succeeded and not url:
        raise MalformedResponseError("bill query success without bill_download_url")
    return BillUrlResult(outcome, url, node)


def opt_str(node: Mapping[str, Any], key: str) -> str | None:
    value = node.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedResponseError(f"{key} is not a string")
    return value


def opt_fen(node: Mapping[str, Any], key: str) -> int | None:
    value = opt_str(node, key)
    return None if value is None else yuan_to_fen(value, field=key)


def opt_time(node: Mapping[str, Any], key: str) -> datetime | None:
    value = opt_str(node, key)
    if value is None:
        return None
    try:
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in value else "%Y-%m-%d %H:%M:%S"
        return datetime.strptime(value, fmt).replace(tzinfo=BEIJING)
    except ValueError:
        raise MalformedResponseError(f"{key} is not yyyy-MM-dd HH:mm:ss") from None
