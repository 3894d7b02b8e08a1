"""Request parameters: what a caller may ask of Alipay, checked before anything is signed or sent.

A trade order is one parameter object, declared once: :class:`TradeOrder` (what every trade-creating call
takes) and :class:`PayOrder` (the sign-only flows the buyer completes in Alipay's checkout, which take a
few fields more). The client's methods take them as keyword arguments (``**order: Unpack[PayOrder]``), so
callers write ``page_pay(out_trade_no=..., total_amount_fen=..., subject=...)`` and the list of fields lives
here only. Errors are ``ParameterError``/``AmountError`` naming the field, raised before any network call.

No ``from __future__ import annotations`` here: the TypedDicts' required keys are read at run time.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Required, TypedDict
from urllib.parse import quote

from channels.alipay.rail.clock import BEIJING
from channels.alipay.rail.errors import AmountError, ParameterError
from channels.alipay.rail.money import check_amount_limits, fen_to_yuan

# Hyphens are allowed: UUID out_trade_no values are known to work (FZ #21), the rest is JV's rule.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMEOUT_EXPRESS = re.compile(r"(?:[1-9][0-9]{0,4}[mhd]|1c)")
_BILL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?")

#: Alipay's minimum for alipay.fund.trans.uni.transfer: 0.10 yuan.
MIN_TRANSFER_FEN = 10


class TradeOrder(TypedDict, total=False):
    """One trade order: ``out_trade_no`` (1-64 of ``[A-Za-z0-9_-]``), the amount in fen, the subject.

    ``timeout_express`` is Alipay's relative timeout (``90m``, ``2h``, ``15d``, ``1c``). ``extra_biz`` adds
    biz_content fields the rail has no argument for; it may not repeat one the rail sets.
    """

    out_trade_no: Required[str]
    total_amount_fen: Required[int]
    subject: Required[str]
    timeout_express: str | None
    extra_biz: Mapping[str, Any] | None


class PayOrder(TradeOrder, total=False):
    """A trade order the buyer pays in Alipay's own checkout (app, page and wap pay).

    ``time_expire`` is an absolute, timezone-aware deadline; ``passback_params`` comes back in the
    notification (URL-encoded, as Alipay requires).
    """

    time_expire: datetime | None
    body: str | None
    passback_params: str | None


def read_order(order: Mapping[str, Any], kind: Any, method: str) -> None:
    """What Python would say for a wrong keyword list, since ``**order`` accepts any keyword at run time.

    ``kind`` is :class:`TradeOrder` or :class:`PayOrder` (typed ``Any``: mypy does not model a TypedDict
    class's ``__required_keys__``)."""
    unknown = sorted(set(order) - set(kind.__required_keys__) - set(kind.__optional_keys__))
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    missing = sorted(set(kind.__required_keys__) - set(order))
    if missing:
        raise TypeError(f"{method}() missing required keyword argument {missing[0]!r}")


def trade_biz(order: TradeOrder, *, product_code: str | None) -> dict[str, Any]:
    """biz_content of a trade order (without ``extra_biz``, which the caller merges last)."""
    biz: dict[str, Any] = {
        "out_trade_no": identifier("out_trade_no", order["out_trade_no"]),
        "total_amount": fen_to_yuan(
            check_amount_limits(order["total_amount_fen"], field="total_amount"), field="total_amount"
        ),
        "subject": text("subject", order["subject"], 256),
    }
    if product_code is not None:
        biz["product_code"] = text("product_code", product_code, 64)
    timeout = order.get("timeout_express")
    if timeout is not None:
        biz["timeout_express"] = timeout_express("timeout_express", timeout)
    return biz


def pay_biz(order: PayOrder, *, product_code: str, time_format: str) -> dict[str, Any]:
    """biz_content of a sign-only flow: the trade order plus its deadline, body and passback_params.

    The keys keep one order (the trade's, then these), so the same order always signs the same bytes.
    """
    time_expire = format_time(order.get("time_expire"), "time_expire", time_format)
    biz = trade_biz(order, product_code=product_code)
    if time_expire is not None:
        biz["time_expire"] = time_expire
    body = order.get("body")
    if body is not None:
        biz["body"] = text("body", body, 128)
    passback_params = order.get("passback_params")
    if passback_params is not None:
        # Alipay requires it URL-encoded and hands it back still encoded in the notification.
        biz["passback_params"] = quote(text("passback_params", passback_params, 512), safe="")
    return biz


def trade_ref(out_trade_no: str | None, trade_no: str | None) -> dict[str, Any]:
    """The trade a query, close or refund is about: our out_trade_no, Alipay's trade_no, or both."""
    if out_trade_no is None and trade_no is None:
        raise ParameterError("out_trade_no", "out_trade_no or trade_no is required")
    ref: dict[str, Any] = {}
    if out_trade_no is not None:
        ref["out_trade_no"] = identifier("out_trade_no", out_trade_no)
    if trade_no is not None:
        ref["trade_no"] = text("trade_no", trade_no, 64)
    return ref


def transfer_biz(
    *,
    out_biz_no: str,
    trans_amount_fen: int,
    payee_identity: str,
    payee_identity_type: str,
    payee_name: str | None,
    order_title: str | None,
    remark: str | None,
) -> dict[str, Any]:
    """biz_content of alipay.fund.trans.uni.transfer (TRANS_ACCOUNT_NO_PWD / DIRECT_TRANSFER)."""
    check_amount_limits(trans_amount_fen, field="trans_amount")
    if trans_amount_fen < MIN_TRANSFER_FEN:
        raise AmountError("trans_amount", "must be at least 0.10 yuan for transfers")
    if payee_identity_type not in ("ALIPAY_USER_ID", "ALIPAY_LOGON_ID"):
        raise ParameterError("payee_info.identity_type", "must be ALIPAY_USER_ID or ALIPAY_LOGON_ID")
    if payee_identity_type == "ALIPAY_LOGON_ID" and not payee_name:
        raise ParameterError("payee_info.name", "is required when paying to an ALIPAY_LOGON_ID")
    payee: dict[str, str] = {
        "identity": text("payee_info.identity", payee_identity, 64),
        "identity_type": payee_identity_type,
    }
    if payee_name is not None:
        payee["name"] = text("payee_info.name", payee_name, 128)
    biz: dict[str, Any] = {
        "out_biz_no": identifier("out_biz_no", out_biz_no),
        "trans_amount": fen_to_yuan(trans_amount_fen, field="trans_amount"),
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "payee_info": payee,
    }
    if order_title is not None:
        biz["order_title"] = text("order_title", order_title, 128)
    if remark is not None:
        biz["remark"] = text("remark", remark, 200)
    return biz


def transfer_query_biz(out_biz_no: str | None, order_id: str | None) -> dict[str, Any]:
    """biz_content of alipay.fund.trans.common.query for a DIRECT_TRANSFER (JV AlipayFundTransCommonQueryModel)."""
    if out_biz_no is None and order_id is None:
        raise ParameterError("out_biz_no", "out_biz_no or order_id is required")
    biz: dict[str, Any] = {"product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER"}
    if out_biz_no is not None:
        biz["out_biz_no"] = identifier("out_biz_no", out_biz_no)
    if order_id is not None:
        biz["order_id"] = text("order_id", order_id, 64)
    return biz


def bill_query(bill_date: str, bill_type: str) -> dict[str, Any]:
    """biz_content of the bill URL query: a day (yyyy-MM-dd) or a month (yyyy-MM)."""
    if not isinstance(bill_date, str) or not _BILL_DATE.fullmatch(bill_date):
        raise ParameterError("bill_date", "must be yyyy-MM-dd or yyyy-MM")
    if bill_type not in ("trade", "signcustomer"):
        raise ParameterError("bill_type", "must be trade or signcustomer")
    return {"bill_type": bill_type, "bill_date": bill_date}


def identifier(name: str, value: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ParameterError(name, "must be 1-64 letters, digits, '_' or '-'")
    return value


def text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ParameterError(name, f"must be non-empty text of at most {limit} characters")
    return value


def timeout_express(name: str, value: str) -> str:
    if not isinstance(value, str) or not _TIMEOUT_EXPRESS.fullmatch(value):
        raise ParameterError(name, "must look like 90m, 2h, 15d or 1c (whole numbers only)")
    return value


def format_time(moment: datetime | None, name: str, fmt: str) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ParameterError(name, "must be a timezone-aware datetime")
    return moment.astimezone(BEIJING).strftime(fmt)


def merge(biz: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``extra_biz`` on top of what the rail built; a field the rail sets may not be overridden."""
    if not extra:
        return biz
    clash = sorted(set(biz) & set(extra))
    if clash:
        raise ParameterError(clash[0], "is set by the rail; do not pass it in extra_biz")
    return {**biz, **extra}
