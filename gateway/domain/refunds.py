"""Refunds: money of a paid payment going back to the buyer, in full or in parts.

A refund is PENDING from the moment its amount is reserved against the payment until the channel's answer
is known: SUCCEEDED (the payment's refunded amount grows) or FAILED (the reservation is released). An
unknown answer leaves it PENDING until a query to the channel settles it; nothing is ever guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from channels.contract.states import RefundState as RefundState  # the plugin contract's, re-used here
from gateway.domain.errors import FailedPrecondition


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A validated request to refund (see `validation.validate_new_refund`)."""

    merchant_id: str
    payment_id: str
    out_refund_no: str
    amount: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    # The gateway's refund id; channels send it to the rail as the refund request number (Alipay's
    # out_request_no), which is what makes a repeated refund call harmless.
    id: str
    merchant_id: str
    payment_id: str
    app_id: str
    out_refund_no: str
    amount: int
    currency: str
    reason: str
    state: RefundState
    created_at: datetime
    updated_at: datetime
    failure_reason: str = ""
    # The rail's reference for the refund, once it succeeded (ChannelResult.data["reference"]): its refund id,
    # or for Alipay, which gives refunds none, the trade number the refund was made against.
    channel_reference: str = ""

    @classmethod
    def create(cls, *, refund_id: str, app_id: str, new: NewRefund, currency: str, now: datetime) -> Refund:
        return cls(id=refund_id, merchant_id=new.merchant_id, payment_id=new.payment_id, app_id=app_id,
                   out_refund_no=new.out_refund_no, amount=new.amount, currency=currency, reason=new.reason,
                   state=RefundState.PENDING, created_at=now, updated_at=now)

    def succeeded(self, now: datetime, channel_reference: str = "") -> Refund:
        return self._settled(RefundState.SUCCEEDED, now, "", channel_reference[:64])

    def failed(self, now: datetime, why: str) -> Refund:
        return self._settled(RefundState.FAILED, now, why[:256], "")

    def _settled(self, state: RefundState, now: datetime, why: str, channel_reference: str) -> Refund:
        if self.state is state:
            return self
        if self.state is not RefundState.PENDING:
            raise FailedPrecondition(
                f"refund {self.id} is {self.state.value} and cannot become {state.value}",
                reason="REFUND_ALREADY_SETTLED", metadata={"refund": self.id, "state": self.state.value})
        return replace(self, state=state, updated_at=now, failure_reason=why, channel_reference=channel_reference)
