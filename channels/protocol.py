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

from gateway.domain.actions import (  # re-exported for channel developers
    AppPay,
    BuyerAction,
    HostedCheckout,
    QrCode,
    Redirect,
)
from gateway.domain.merchants import Merchant
from gateway.domain.payments import ClientInfo, Payment, Platform, Scenario

__all__ = [
    "AppPay", "BuyerAction", "CHECKOUT_METHODS", "Channel", "ChannelNotification", "ChannelResult",
    "HostedCheckoutProvider", "NotificationReceiver",
    "NotificationRejected", "ClientInfo", "Decline", "HostedCheckout",
    "Merchant", "Offer", "Outcome", "Payment", "Platform", "QrCode", "Redirect", "RouteRequest", "Scenario",
]


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What the router asks every channel about."""

    merchant: Merchant
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


class NotificationRejected(Exception):
    """Not genuine, or not for us: nothing changes and the channel will send it again."""


@runtime_checkable
class NotificationReceiver(Protocol):
    """Optional capability of a Channel that is told about payments asynchronously. The gateway serves
    `POST /notify/<channel name>/<merchant id>`; a channel puts that URL in what it sends the rail."""

    notification_ack: str  # the body the channel expects once a notification is processed

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

    def checkout_action(self, payment: Payment, method: str, return_url: str) -> Redirect | QrCode:
        """The rail action for `method` (one of CHECKOUT_METHODS): a Redirect the browser follows, or a
        QrCode the page shows. `return_url` is the page's own result page, where the rail sends the buyer
        back. Raise to refuse; the page shows the buyer a friendly error and logs the exception."""
        ...


@runtime_checkable
class Channel(Protocol):
    """A payment channel. `name` is stable and unique (it is stored with each payment)."""

    name: str
    display_name: str
    # What it can hand the buyer, from gateway.domain.actions.ACTION_KINDS.
    actions: tuple[str, ...]
    platforms: tuple[Platform, ...]
    scenarios: tuple[Scenario, ...]

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        """Say whether and how eagerly this channel can serve the request. Must be fast and pure:
        it runs for every channel on every CreatePayment and PreviewRoute."""
        ...

    def prepare(self, payment: Payment) -> BuyerAction:
        """Produce what the buyer's client must do to pay `payment` (already routed to this channel).
        Raise to refuse; the core stores nothing and answers the app with a clear status."""
        ...

    # Optional: `close()` is called when the gateway stops, to release connection pools and the like.
