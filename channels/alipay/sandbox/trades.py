"""Trades: creating one (precreate and the page, wap and app pay flows), querying and closing it.

Handlers take the sandbox and a checked :class:`~.calls.Call` and return the answer node's fields (the
dispatcher adds code and msg), or raise a :class:`~.calls.BusinessError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .calls import BusinessError, Call, amount, invalid_sub_code, out_no, text
from .store import TRADE_CLOSED, TRADE_FINISHED, TRADE_SUCCESS, WAIT_BUYER_PAY, Trade
from .values import fen_to_yuan, fmt_time, mask_logon_id, new_trade_no, parse_time, parse_timeout_express

if TYPE_CHECKING:
    from .core import Sandbox

PRODUCT_CODES = {
    "alipay.trade.page.pay": ("FAST_INSTANT_TRADE_PAY",),
    "alipay.trade.wap.pay": ("QUICK_WAP_WAY", "QUICK_WAP_PAY"),
    "alipay.trade.app.pay": ("QUICK_MSECURITY_PAY",),
    "alipay.trade.precreate": ("FACE_TO_FACE_PAYMENT", "QR_CODE_OFFLINE"),
}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_ZERO_QUERY_AMOUNTS = ("buyer_pay_amount", "invoice_amount", "point_amount", "receipt_amount")


def refresh(trade: Trade, now: datetime) -> None:
    """An unpaid trade past its deadline is closed, whoever looks at it first."""
    if trade.status == WAIT_BUYER_PAY and trade.expire_at and now >= trade.expire_at:
        trade.status = TRADE_CLOSED
        trade.gmt_close = trade.expire_at


def visible(sandbox: Sandbox, call: Call) -> Trade:
    """The trade the call names (trade_no or out_trade_no), as Alipay would show it: an unscanned precreate
    does not exist yet. Call with the store's lock held."""
    trade_no = text(call, "trade_no", max_len=64)
    out_trade_no = text(call, "out_trade_no", max_len=64)
    if not trade_no and not out_trade_no:
        raise BusinessError(invalid_sub_code(call.method), "参数有误，out_trade_no和trade_no不能同时为空")
    trade = sandbox.store.find_trade(call.app.app_id, trade_no=trade_no, out_trade_no=out_trade_no)
    if trade is None or (
        not trade.scanned and trade.status == WAIT_BUYER_PAY and sandbox.config.hide_unscanned_precreate
    ):
        echo = {}
        if call.method == "alipay.trade.query":  # Alipay's answer names the order and zero amounts
            echo = {"out_trade_no": out_trade_no, **dict.fromkeys(_ZERO_QUERY_AMOUNTS, "0.00")}
        raise BusinessError("ACQ.TRADE_NOT_EXIST", "交易不存在", echo={k: v for k, v in echo.items() if v})
    refresh(trade, call.now)
    return trade


def create_trade(sandbox: Sandbox, call: Call) -> Trade:
    """A new trade, or the same one again for an identical repeat (Alipay de-duplicates by out_trade_no)."""
    out_trade_no = out_no(call, "out_trade_no")
    total = amount(call, "total_amount", too_big="ACQ.TOTAL_FEE_EXCEED")
    subject = text(call, "subject", required=True, max_len=256)
    product_code = text(call, "product_code", max_len=64)
    if product_code and product_code not in PRODUCT_CODES[call.method]:
        raise BusinessError(invalid_sub_code(call.method), f"参数有误，product_code不支持{product_code}")
    expire_at = None
    try:
        if call.biz.get("time_expire"):
            expire_at = parse_time(str(call.biz["time_expire"]), (TIMESTAMP_FORMAT, "%Y-%m-%d %H:%M"))
        elif call.biz.get("timeout_express"):
            expire_at = parse_timeout_express(str(call.biz["timeout_express"]), call.now)
    except ValueError:
        raise BusinessError(invalid_sub_code(call.method), "参数有误，超时时间格式错误") from None
    instalments = huabei_instalments(call)
    if expire_at is not None and expire_at <= call.now:
        raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭 (time_expire已过)")
    with sandbox.store.changing():
        existing = sandbox.store.find_trade(call.app.app_id, out_trade_no=out_trade_no)
        if existing is not None:
            refresh(existing, call.now)
            if existing.status in (TRADE_SUCCESS, TRADE_FINISHED):
                raise BusinessError("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.status == TRADE_CLOSED:
                raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if existing.amount_fen != total or existing.subject != subject:
                raise BusinessError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            return existing
        trade = Trade(
            trade_no=new_trade_no(call.now),
            out_trade_no=out_trade_no,
            app_id=call.app.app_id,
            seller_id=call.app.seller_id,
            method=call.method,
            product_code=product_code or PRODUCT_CODES[call.method][0],
            amount_fen=total,
            subject=subject,
            status=WAIT_BUYER_PAY,
            gmt_create=call.now,
            body=text(call, "body", max_len=128),
            notify_url=call.params.get("notify_url", ""),
            return_url=call.params.get("return_url", "") if call.method != "alipay.trade.precreate" else "",
            quit_url=text(call, "quit_url", max_len=400) if call.method == "alipay.trade.wap.pay" else "",
            passback_params=text(call, "passback_params", max_len=512),
            charset=call.params.get("charset") or "utf-8",
            expire_at=expire_at,
            scanned=call.method != "alipay.trade.precreate",
            instalments=instalments,
        )
        sandbox.store.add_trade(trade)
        return trade


#: Huabei instalments: the periods Alipay offers and who pays the instalment fee (0: the buyer, 100: the seller).
HB_FQ_NUM = ("3", "6", "12")
HB_FQ_SELLER_PERCENT = ("0", "100")


def huabei_instalments(call: Call) -> dict[str, str]:
    """`extend_params`' Huabei fields, checked as Alipay checks them, for the trade's record; {} without them."""
    extend = call.biz.get("extend_params") or {}
    if not isinstance(extend, dict):
        raise BusinessError(invalid_sub_code(call.method), "参数有误，extend_params格式错误")
    asked = {key: str(extend[key]) for key in ("hb_fq_num", "hb_fq_seller_percent") if key in extend}
    if not asked:
        return {}
    if asked.get("hb_fq_num") not in HB_FQ_NUM:
        raise BusinessError(invalid_sub_code(call.method), "参数有误，hb_fq_num只能是3、6或12")
    if asked.get("hb_fq_seller_percent", "0") not in HB_FQ_SELLER_PERCENT:
        raise BusinessError(invalid_sub_code(call.method), "参数有误，hb_fq_seller_percent只能是0或100")
    return asked


def precreate(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    trade = create_trade(sandbox, call)
    return {"out_trade_no": trade.out_trade_no, "qr_code": checkout_url(sandbox, call.base_url, trade)}


def checkout_url(sandbox: Sandbox, base_url: str, trade: Trade) -> str:
    """The buyer's checkout page for the trade: what the QR code encodes and where page/wap pay lead."""
    return f"{(sandbox.config.public_url or base_url).rstrip('/')}/sandbox/checkout/{trade.trade_no}"


def query(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    with sandbox.store.changing():
        trade = visible(sandbox, call)
        paid = trade.gmt_payment is not None
        total = fen_to_yuan(trade.amount_fen)
        # The buyer is known from the scan on (Alipay shows who scanned a trade still WAIT_BUYER_PAY).
        node: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id) if trade.buyer_id else "",
            "trade_status": trade.status,
            "total_amount": total,
            "buyer_pay_amount": total if paid else "0.00",
            "point_amount": "0.00",
            "invoice_amount": total if paid else "0.00",
            "receipt_amount": total if paid else "0.00",
        }
        if trade.buyer_id:
            node["buyer_user_id"] = trade.buyer_id
            node["buyer_user_type"] = "PRIVATE"
        if paid:
            node["send_pay_date"] = fmt_time(trade.gmt_payment)
            node["fund_bill_list"] = [{"amount": total, "fund_channel": "ALIPAYACCOUNT"}]
        return {k: v for k, v in node.items() if v != ""}


def close(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    with sandbox.store.changing():
        trade = visible(sandbox, call)
        if trade.status != WAIT_BUYER_PAY:
            raise BusinessError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = TRADE_CLOSED
        trade.gmt_close = call.now
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}
