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
    "AppPay", "BuyerAction", "Channel", "ChannelResult", "ClientInfo", "Decline", "HostedCheckout",
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
