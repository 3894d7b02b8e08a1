"""Refunds of a paid trade and the refund query, de-duplicated by out_request_no as Alipay does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .calls import BusinessError, Call, amount, out_no, text
from .store import TRADE_CLOSED, TRADE_FINISHED, WAIT_BUYER_PAY, Refund
from .trades import visible
from .values import fen_to_yuan, fmt_time, mask_logon_id

if TYPE_CHECKING:
    from .core import Sandbox


def refund(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    """A known request number is answered from its record (fund_change N), even after the trade closed."""
    refund_fen = amount(call, "refund_amount")
    reason = text(call, "refund_reason", max_len=256)
    with sandbox.store.changing():
        trade = visible(sandbox, call)
        request_no = out_no(call, "out_request_no", required=False) or trade.out_trade_no
        previous = trade.find_refund(request_no)
        fund_change = "N"
        if previous is not None:
            if previous.amount_fen != refund_fen:
                raise BusinessError("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致，同一退款请求号的退款金额不同")
            record = previous
        else:
            if trade.status == WAIT_BUYER_PAY:
                raise BusinessError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法，交易未支付")
            if trade.status == TRADE_CLOSED:
                raise BusinessError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if trade.status == TRADE_FINISHED:
                raise BusinessError("ACQ.TRADE_HAS_FINISHED", "交易已完结，不可退款")
            if trade.refunded_fen + refund_fen > trade.amount_fen:
                raise BusinessError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限，累计退款金额大于订单金额")
            record = Refund(request_no, refund_fen, reason, call.now)
            trade.refunds.append(record)
            fund_change = "Y"
            if trade.refunded_fen == trade.amount_fen:
                trade.status = TRADE_CLOSED
                trade.gmt_close = call.now
        node = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": mask_logon_id(trade.buyer_logon_id),
            "buyer_user_id": trade.buyer_id,
            "fund_change": fund_change,
            "refund_fee": fen_to_yuan(trade.refunded_fen),
            "gmt_refund_pay": fmt_time(record.gmt_refund),
            "send_back_fee": fen_to_yuan(record.amount_fen),
        }
    if fund_change == "Y" and sandbox.config.notify_refunds and trade.notify_url:
        sandbox.notify_trade(trade, record)
    return node


def refund_query(sandbox: Sandbox, call: Call) -> dict[str, Any]:
    request_no = out_no(call, "out_request_no")
    with sandbox.store.lock:
        trade = visible(sandbox, call)
        record = trade.find_refund(request_no)
        if record is None:
            return {}  # Alipay answers 10000 with nothing in it for an unknown request number
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": record.out_request_no,
            "total_amount": fen_to_yuan(trade.amount_fen),
            "refund_amount": fen_to_yuan(record.amount_fen),
            "refund_reason": record.reason,
            "refund_status": "REFUND_SUCCESS",
            "gmt_refund_pay": fmt_time(record.gmt_refund),
        }
