"""Channels that each break one per-channel rule of the conformance kit (the registration rules are broken
by the entry points of the sibling modules). Used only by tests/kit: the kit must fail each one, naming the
rule, and pass `good`."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Mapping
from typing import Any

from cashier_broken_channels.base import GoodChannel
from channels.contract import (
    ChannelNotification,
    ChannelResult,
    Decline,
    NotificationRejected,
    Offer,
    Outcome,
    PaymentView,
    Platform,
    Redirect,
    RefundView,
    RouteRequest,
    hookimpl,
)


class RaisesInOffer(GoodChannel):
    """Parses the app version without guarding: raises for a version it cannot read."""

    name = "raises_in_offer"
    platforms = tuple(Platform)

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        major = int((request.client.app_version or "0").split(".")[0])
        return Offer(10, f"version {major}") if major >= 8 else Decline(f"version {major} is too old")


class NoReason(GoodChannel):
    """Declines with None: the route trace cannot say why."""

    name = "no_reason"

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        return super().offer(request) if request.client.platform is Platform.PC_BROWSER else None


class Flaky(GoodChannel):
    """Its priority changes from call to call."""

    name = "flaky"
    _calls = itertools.count()

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        answer = super().offer(request)
        return Offer(next(self._calls) % 7, "it depends") if isinstance(answer, Offer) else answer


class Undeclared(GoodChannel):
    """Offers for every platform while declaring PC browsers only."""

    name = "undeclared"

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        return Offer(10, "anything goes")


class BadAttributes(GoodChannel):
    name = "bad_attributes"
    display_name = ""
    actions = ("redirect", "teleport")


class RelativeRedirect(GoodChannel):
    """prepare() hands the buyer a URL their browser cannot follow, and raises for big amounts."""

    name = "relative_redirect"

    def prepare(self, payment: PaymentView) -> object:
        if payment.amount > 1_000_000:
            raise OverflowError("amount too big for our rail")
        return Redirect(f"/pay/{payment.id}")


class Gullible(GoodChannel):
    """Believes any form that says it was paid."""

    name = "gullible"
    notification_ack = "success"

    def parse_notification(self, body: bytes, content_type: str) -> ChannelNotification:
        fields = dict(pair.split("=", 1) for pair in body.decode("latin-1").split("&") if "=" in pair)
        return ChannelNotification(fields.get("out_trade_no", ""), Outcome.SUCCEEDED,
                                   int(float(fields.get("total_amount", "0")) * 100))


class Optimist(GoodChannel):
    """Reports every payment paid and every refund done, whatever the rail says."""

    name = "optimist"

    def query(self, payment: PaymentView) -> ChannelResult:
        return ChannelResult(Outcome.SUCCEEDED, "surely paid", {"amount": str(payment.amount), "reference": "x"})

    def close_payment(self, payment: PaymentView) -> ChannelResult:
        return ChannelResult(Outcome.SUCCEEDED, "closed")

    def refund(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        return ChannelResult(Outcome.SUCCEEDED, "surely refunded")

    def refund_status(self, payment: PaymentView, refund: RefundView) -> ChannelResult:
        return ChannelResult(Outcome.SUCCEEDED, "surely refunded")


#: The test rail's signing secret (test-only; the kit's test signs with it in its `cashier_rail` fixture).
RAIL_SECRET = b"kit-test-rail-secret"


class GoodNotifier(GoodChannel):
    """Verifies its rail's HMAC over the whole body, so it passes the notification checks given a rail."""

    name = "good_notifier"
    notification_ack = "ok"

    def parse_notification(self, body: bytes, content_type: str) -> ChannelNotification:
        payload, _, signature = body.rpartition(b"&sig=")
        expected = hmac.new(RAIL_SECRET, payload, hashlib.sha256).hexdigest().encode()
        if not payload or not hmac.compare_digest(signature, expected):
            raise NotificationRejected("bad or missing signature")
        fields = dict(pair.split("=", 1) for pair in payload.decode().split("&") if "=" in pair)
        try:
            return ChannelNotification(fields["payment"], Outcome.SUCCEEDED, int(fields["fen"]))
        except (KeyError, ValueError) as exc:
            raise NotificationRejected(f"signed, but unreadable: {exc}") from exc


CHANNELS = (GoodChannel, RaisesInOffer, NoReason, Flaky, Undeclared, BadAttributes, RelativeRedirect, Gullible,
            Optimist, GoodNotifier)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]]) -> list[object]:
    return [cls() for cls in CHANNELS]
