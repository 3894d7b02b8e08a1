"""Alipay refunds in the gateway's terms, shared by every channel that pays through Alipay.

The gateway's refund id is Alipay's ``out_request_no`` and the payment id its ``out_trade_no``: sending the
same refund again is answered from Alipay's record (fund_change N), never paid out twice.
"""

from __future__ import annotations

from channels.alipay.rail.client import AlipayClient
from channels.alipay.rail.outcomes import AlipayOutcome
from channels.alipay.rail.outcomes import Outcome as AlipayVerdict
from channels.contract import REFUND_NOT_FOUND, ChannelResult, Outcome, PaymentView, RefundView

_OUTCOMES = {
    AlipayVerdict.SUCCESS: Outcome.SUCCEEDED,
    AlipayVerdict.FAILURE: Outcome.FAILED,
    AlipayVerdict.UNKNOWN: Outcome.UNKNOWN,
}


def _detail(outcome: AlipayOutcome) -> str:
    parts = [outcome.reason, outcome.sub_code or "", outcome.sub_msg or ""]
    return " ".join(p for p in parts if p)


class AlipayRefunds:
    """Mixin for Alipay channels: `self.alipay` is the channel's AlipayClient."""

    alipay: AlipayClient

    def refund(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        result = self.alipay.refund(out_request_no=refund.id, refund_amount_fen=refund.amount,
                                    out_trade_no=payment.id, refund_reason=refund.reason or None)
        # Alipay gives a refund no id of its own: it knows it by the trade number and our out_request_no.
        data = {"reference": result.trade_no} if result.trade_no else {}
        return ChannelResult(_OUTCOMES[result.outcome.outcome], _detail(result.outcome), data)

    def refund_status(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        result = self.alipay.refund_query(out_request_no=refund.id, out_trade_no=payment.id)
        verdict = result.outcome
        if verdict.succeeded:
            if result.refund_amount_fen != refund.amount:
                # Alipay refunded another amount under our request number: never settle that silently.
                return ChannelResult(Outcome.UNKNOWN, f"refund_amount_mismatch {result.refund_amount_fen}")
            return ChannelResult(Outcome.SUCCEEDED, _detail(verdict),
                                 {"reference": result.trade_no} if result.trade_no else {})
        if verdict.reason == "refund_not_found":
            return ChannelResult(Outcome.UNKNOWN, REFUND_NOT_FOUND)
        # A failed query says nothing about the refund itself: ask again later.
        return ChannelResult(Outcome.UNKNOWN, _detail(verdict))
