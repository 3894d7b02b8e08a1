"""Asking Alipay where a payment stands, and closing it there: the StatusQuerier capability in the gateway's
terms, shared by every channel that pays through Alipay (our payment id is Alipay's out_trade_no).

This module joins the rail to the plugin contract (channels.contract); the rail modules stay free of it.
"""

from __future__ import annotations

from channels.alipay.rail.client import AlipayClient
from channels.alipay.rail.notifications import TradeStatus
from channels.alipay.rail.outcomes import AlipayOutcome
from channels.contract import NOT_CREATED, ChannelResult, Outcome, PaymentView

#: Alipay has no trade under this out_trade_no: an app-pay order string or a page never opened, an
#: unscanned precreate QR code. It may still be created until the payment's time_expire.
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"


class AlipayStatus:
    """Mixin for Alipay channels: `self.alipay` is the channel's rail client."""

    alipay: AlipayClient

    def query(self, payment: PaymentView) -> ChannelResult:
        result = self.alipay.query(out_trade_no=payment.id)
        if result.outcome.failed and result.outcome.sub_code == TRADE_NOT_EXIST:
            return ChannelResult(Outcome.PENDING, NOT_CREATED)
        if not result.outcome.succeeded:
            # A definite refusal of the *query* (permissions, arguments) says nothing about the trade.
            return ChannelResult(Outcome.UNKNOWN, _describe(result.outcome))
        status = result.trade_status
        if status in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED):
            if result.total_amount_fen is None or not result.trade_no:
                return ChannelResult(Outcome.UNKNOWN, "paid, but the answer lacks total_amount or trade_no")
            return ChannelResult(Outcome.SUCCEEDED, status.value,
                                 {"amount": str(result.total_amount_fen), "reference": result.trade_no,
                                  "buyer_id": result.buyer_user_id or ""})
        if status is TradeStatus.TRADE_CLOSED:
            return ChannelResult(Outcome.FAILED, status.value, {"reference": result.trade_no or ""})
        return ChannelResult(Outcome.PENDING, status.value if status else "")

    def close_payment(self, payment: PaymentView) -> ChannelResult:
        result = self.alipay.close_trade(out_trade_no=payment.id)
        if result.outcome.succeeded:
            return ChannelResult(Outcome.SUCCEEDED, "closed")
        if result.outcome.failed and result.outcome.sub_code == TRADE_NOT_EXIST:
            return ChannelResult(Outcome.SUCCEEDED, NOT_CREATED)
        if result.outcome.failed:
            # ACQ.TRADE_STATUS_ERROR and the like: paid, or closed already; only a query can tell.
            return ChannelResult(Outcome.FAILED, _describe(result.outcome))
        return ChannelResult(Outcome.UNKNOWN, _describe(result.outcome))


def _describe(outcome: AlipayOutcome) -> str:
    if outcome.code is None:
        return f"no answer from Alipay ({outcome.reason})"
    return " ".join(filter(None, [outcome.code, outcome.sub_code, outcome.sub_msg or outcome.msg]))
