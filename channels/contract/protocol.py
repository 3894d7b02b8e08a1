"""The typed contract between the gateway core and a payment channel.

A channel is a stateless object: the core owns persistence and state, the channel answers questions
(can you serve this? what should the buyer do?) and performs rail operations on request. Every rail
operation answers with the closed `Outcome` enum; UNKNOWN means "ask again later", never a guess.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from channels.contract.actions import AppPay, BuyerAction, HostedCheckout, QrCode, Redirect
from channels.contract.client import ClientInfo, Platform, Scenario
from channels.contract.views import MerchantView, PaymentView, RefundView

__all__ = [
    "AppPay", "BuyerAction", "CHECKOUT_METHODS", "Channel", "ChannelNotification", "ChannelResult",
    "HostedCheckoutProvider", "NOT_CREATED", "NotificationReceiver", "StatusQuerier",
    "MisdirectionKind", "NotificationMisdirected", "NotificationRejected", "ClientInfo", "Decline",
    "HostedCheckout", "MerchantView", "Offer", "Outcome", "PaymentView", "Platform", "QrCode", "Redirect",
    "REFUND_NOT_FOUND", "RefundView", "Refunder", "RouteRequest", "Scenario",
]


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What the router asks every channel about."""

    merchant: MerchantView
    amount: int
    currency: str
    client: ClientInfo
    scenario: Scenario
    # The buyer will scan a QR code with another device.
    scan_to_pay: bool = False


@dataclass(frozen=True, slots=True)
class Offer:
    """A channel's bid to serve a payment. Higher priority wins; the reason is shown in route traces."""

    priority: int
    reason: str


@dataclass(frozen=True, slots=True)
class Decline:
    """A channel's explained refusal. Returning None from `offer` also declines, without a reason."""

    reason: str


class Outcome(enum.Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class ChannelResult:
    outcome: Outcome = Outcome.PENDING
    detail: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelNotification:
    """A verified asynchronous notification, in the gateway's terms."""

    payment_id: str  # the gateway's payment id, which channels use as the rail's out_trade_no
    outcome: Outcome
    amount: int  # minor units the channel says were paid
    reference: str = ""  # the channel's own trade number
    event_id: str = ""  # the channel's id for this notification (stable across its retries)
    buyer_id: str = ""  # the rail's id of the buyer who paid, when it says (for follow-up messages)


class NotificationRejected(Exception):
    """Not genuine, or not for us: nothing changes and the channel will send it again."""


class MisdirectionKind(enum.Enum):
    """Why a genuine notification was not for us; the gateway raises an operator flag of the same name."""

    # For another app of the rail (e.g. another Alipay app_id).
    APP_MISMATCH = "APP_MISMATCH"
    # For our app, but paid to another payee than the configured one (e.g. `[channels.alipay] seller_id`).
    SELLER_MISMATCH = "SELLER_MISMATCH"


class NotificationMisdirected(NotificationRejected):
    """Genuine (its signature verifies) but for another account of the rail, e.g. another Alipay app_id
    (APP_MISMATCH) or paid to another payee (SELLER_MISMATCH): refused like any rejection, and flagged for an
    operator as `kind`, since money may have moved. `payment_id` is ours when the notification names one."""

    def __init__(self, message: str, *, kind: MisdirectionKind = MisdirectionKind.APP_MISMATCH, payment_id: str = ""):
        super().__init__(message)
        self.kind = kind
        self.payment_id = payment_id


@runtime_checkable
class NotificationReceiver(Protocol):
    """Optional capability of a Channel that is told about payments asynchronously. The gateway serves
    `POST /notify/<channel name>/<merchant id>`; a channel puts that URL in what it sends the rail."""

    @property
    def notification_ack(self) -> str:
        """The body the channel expects once a notification is processed."""
        ...

    def parse_notification(self, body: bytes, content_type: str) -> ChannelNotification:
        """Verify and decode; raise NotificationRejected for anything not genuine or not ours."""
        ...


#: How a hosted checkout page asks a channel to take the buyer to the rail: "wap" in a mobile browser or
#: inside the Alipay app, "page" for a desktop browser's redirect, "qr" for a code scanned with a phone.
CHECKOUT_METHODS = ("wap", "page", "qr")


@runtime_checkable
class HostedCheckoutProvider(Protocol):
    """Optional capability of a Channel whose BuyerAction is a HostedCheckout: the gateway serves the
    checkout page at that URL and, when the buyer presses pay, asks the channel what comes next."""

    def checkout_action(self, payment: PaymentView, method: str, return_url: str) -> Redirect | QrCode:
        """The rail action for `method` (one of CHECKOUT_METHODS): a Redirect the browser follows, or a
        QrCode the page shows. `return_url` is the page's own result page, where the rail sends the buyer
        back. Raise to refuse; the page shows the buyer a friendly error and logs the exception."""
        ...


#: `ChannelResult.detail` of a StatusQuerier answer when the rail has no trade for the payment yet (a page or
#: order string never opened): it may still be created and paid until the payment expires.
NOT_CREATED = "not_created"


@runtime_checkable
class StatusQuerier(Protocol):
    """Optional capability of a Channel whose rail can be asked about a payment. The gateway's reconciler
    uses it for payments whose notification never came, and to close expired payments at the rail."""

    def query(self, payment: PaymentView) -> ChannelResult:
        """Where the payment stands at the rail. SUCCEEDED: paid, with `data={"amount": "<minor units>",
        "reference": "<the rail's trade number>"}` (the amount is checked against the payment). PENDING:
        it can still be paid (also when the rail has not seen it yet; `detail` says "not_created").
        FAILED: closed at the rail, it can no longer be paid. UNKNOWN: no usable answer; ask later."""
        ...

    def close_payment(self, payment: PaymentView) -> ChannelResult:
        """Close the payment at the rail so that it can no longer be paid (called once it has expired, or
        after a local close). SUCCEEDED: closed, already closed, or never created there (`detail`
        "not_created"). FAILED: the rail refused (e.g. it was paid): query to learn why. UNKNOWN: ask
        later. Named `close_payment` because `close()` releases the channel's resources at stop."""
        ...


@runtime_checkable
class Refunder(Protocol):
    """Optional capability of a Channel that can give a paid payment's money back, in full or in parts.

    `refund.id` is unique and stable: send it to the rail as the refund request number, so that sending
    the same refund again never moves money twice. SUCCEEDED: the money went back; FAILED: it did not and
    will not; UNKNOWN (or PENDING): the core keeps the refund PENDING and asks `refund_status` later.
    Raising counts as UNKNOWN. A SUCCEEDED answer's `data["reference"]` (at most 64 characters) is the rail's
    reference for the refund, shown as the refund's `channel_reference`: its refund id, or, for a rail that
    gives refunds none (Alipay), the trade number."""

    def refund(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        ...

    def refund_status(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        """What the rail says about a refund sent earlier. Answer UNKNOWN with detail
        `REFUND_NOT_FOUND` when the rail has no record of it: the core then sends the refund again."""
        ...


#: `ChannelResult.detail` of a `refund_status` answer when the rail has no record of the refund.
REFUND_NOT_FOUND = "REFUND_NOT_FOUND"


@runtime_checkable
class Channel(Protocol):
    """A payment channel. `name` is stable and unique (it is stored with each payment)."""

    # Read-only properties, so that a channel may declare them as plain class attributes of narrower types
    # (`actions = ("app_pay",)` is a `tuple[str]`); a mutable Protocol attribute would need the exact type.

    @property
    def name(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def actions(self) -> tuple[str, ...]:
        """What it can hand the buyer, from channels.contract.actions.ACTION_KINDS."""
        ...

    @property
    def platforms(self) -> tuple[Platform, ...]: ...

    @property
    def scenarios(self) -> tuple[Scenario, ...]: ...

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        """Say whether and how eagerly this channel can serve the request. Must be fast and pure:
        it runs for every channel on every CreatePayment and PreviewRoute."""
        ...

    def prepare(self, payment: PaymentView) -> BuyerAction:
        """Produce what the buyer's client must do to pay `payment` (already routed to this channel).
        Raise to refuse; the core stores nothing and answers the app with a clear status."""
        ...

    # Optional: `close()` is called when the gateway stops, to release connection pools and the like.
