"""Payments: the aggregate a trading app creates, and the buyer's client that decides how it is paid."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from channels.contract.actions import BuyerAction

# The buyer's client and the payment's states are the plugin contract's, re-used here (one definition).
from channels.contract.client import ClientInfo as ClientInfo
from channels.contract.client import Platform as Platform
from channels.contract.client import Scenario as Scenario
from channels.contract.states import PaymentState as PaymentState
from gateway.domain.errors import FailedPrecondition

REFUNDABLE_STATES = frozenset({PaymentState.SUCCEEDED, PaymentState.PARTIALLY_REFUNDED})


@dataclass(frozen=True, slots=True)
class LineItem:
    sku: str
    name: str
    quantity: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A validated request to create a payment (see `validation.validate_new_payment`)."""

    merchant_id: str
    out_trade_no: str
    amount: int
    currency: str
    subject: str
    client: ClientInfo
    scenario: Scenario
    line_items: tuple[LineItem, ...] = ()
    return_url: str = ""
    expire_after: timedelta = timedelta(minutes=30)
    metadata: Mapping[str, str] = field(default_factory=dict)
    scan_to_pay: bool = False


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    merchant_id: str
    app_id: str
    out_trade_no: str
    amount: int
    currency: str
    subject: str
    client: ClientInfo
    scenario: Scenario
    channel: str
    action: BuyerAction | None
    state: PaymentState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    line_items: tuple[LineItem, ...] = ()
    return_url: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    scan_to_pay: bool = False
    paid_at: datetime | None = None
    channel_reference: str = ""
    # The unguessable key of the payment's hosted checkout page (/pay/<token>), made with the payment.
    checkout_token: str = ""
    # Minor units refunded (refunds that SUCCEEDED), and reserved for refunds (PENDING + SUCCEEDED).
    refunded_amount: int = 0
    refund_reserved: int = 0
    # The rail's id of the buyer who paid (Alipay's buyer_id), known once paid; "" when the rail gave none.
    buyer_id: str = ""
    # The platform's fee rate in basis points, fixed when the payment succeeded (settlement/domain/fees.py), so
    # that a later change of rates never rewrites its fee. None until then, and for payments that succeeded
    # before settlement existed (booked by `cashier settle backfill` with no fee).
    fee_bps: int | None = None

    @classmethod
    def create(cls, *, payment_id: str, app_id: str, new: NewPayment, channel: str, now: datetime,
               checkout_token: str = "") -> Payment:
        return cls(
            id=payment_id,
            merchant_id=new.merchant_id,
            app_id=app_id,
            out_trade_no=new.out_trade_no,
            amount=new.amount,
            currency=new.currency,
            subject=new.subject,
            client=new.client,
            scenario=new.scenario,
            channel=channel,
            action=None,
            state=PaymentState.PENDING,
            created_at=now,
            updated_at=now,
            expires_at=now + new.expire_after,
            line_items=new.line_items,
            return_url=new.return_url,
            metadata=dict(new.metadata),
            scan_to_pay=new.scan_to_pay,
            checkout_token=checkout_token,
        )

    def with_action(self, action: BuyerAction) -> Payment:
        return replace(self, action=action)

    def paid(self, now: datetime, reference: str, buyer_id: str = "", fee_bps: int | None = None) -> Payment:
        """The payment after its channel confirmed the money arrived, with the fee rate in force then. A
        payment closed here but paid at the channel is still paid: the buyer's money was taken, so it is
        recorded, never dropped."""
        if self.state is PaymentState.SUCCEEDED or self.paid_at is not None:
            return self
        if self.state not in (PaymentState.PENDING, PaymentState.CLOSED):
            raise FailedPrecondition(
                f"payment {self.id} is {self.state.value}; a payment confirmation cannot apply",
                reason="PAYMENT_NOT_PAYABLE", metadata={"payment": self.id, "state": self.state.value})
        return replace(self, state=PaymentState.SUCCEEDED, updated_at=now, paid_at=now, channel_reference=reference,
                       buyer_id=buyer_id, fee_bps=fee_bps)

    @property
    def refundable(self) -> int:
        """What is left to refund: the amount paid less every refund pending or succeeded."""
        return self.amount - self.refund_reserved

    def check_refundable(self, amount: int) -> None:
        """Refuse a refund of `amount` that this payment cannot take: it is not paid (or already fully
        refunded), or the amount exceeds what is left, which the message names."""
        if self.state not in REFUNDABLE_STATES:
            raise FailedPrecondition(
                f"payment {self.id} is {self.state.value}; only a SUCCEEDED or PARTIALLY_REFUNDED payment "
                "can be refunded",
                reason="PAYMENT_NOT_REFUNDABLE", metadata={"payment": self.id, "state": self.state.value})
        if amount > self.refundable:
            raise FailedPrecondition(
                f"refund of {amount} exceeds what is left to refund of payment {self.id}: {self.refundable} "
                f"of {self.amount} (refunded or pending: {self.refund_reserved})",
                reason="REFUND_EXCEEDS_PAYMENT",
                metadata={"payment": self.id, "refundable_amount": str(self.refundable),
                          "requested_amount": str(amount)})

    def refund_reserved_for(self, amount: int) -> Payment:
        """The payment with `amount` held for a pending refund."""
        self.check_refundable(amount)
        return replace(self, refund_reserved=self.refund_reserved + amount)

    def refund_settled(self, amount: int, now: datetime) -> Payment:
        """The payment after a reserved refund of `amount` succeeded: PARTIALLY_REFUNDED, or REFUNDED once
        everything paid went back."""
        refunded = self.refunded_amount + amount
        if self.state not in REFUNDABLE_STATES or refunded > self.amount:
            raise FailedPrecondition(f"payment {self.id} cannot take a settled refund of {amount}",
                                     reason="PAYMENT_NOT_REFUNDABLE", metadata={"payment": self.id})
        state = PaymentState.REFUNDED if refunded == self.amount else PaymentState.PARTIALLY_REFUNDED
        return replace(self, state=state, refunded_amount=refunded, updated_at=now)

    def is_expired(self, now: datetime) -> bool:
        """Still PENDING but past its expiry: the buyer can no longer pay it."""
        return self.state is PaymentState.PENDING and now >= self.expires_at

    def closed(self, now: datetime) -> Payment:
        """The payment after a close request. Closing twice is harmless; closing a paid one is refused."""
        if self.state is PaymentState.CLOSED:
            return self
        if self.state is not PaymentState.PENDING:
            raise FailedPrecondition(
                f"payment {self.id} is {self.state.value} and can no longer be closed",
                reason="PAYMENT_NOT_PENDING",
                metadata={"payment": self.id, "state": self.state.value},
            )
        return replace(self, state=PaymentState.CLOSED, updated_at=now)
