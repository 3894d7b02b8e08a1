"""A channel that passes the kit; each broken channel changes one thing of it."""

from __future__ import annotations

from channels.contract import Decline, Offer, PaymentView, Platform, Redirect, RouteRequest, Scenario


class GoodChannel:
    name = "good"
    display_name = "A channel that follows every rule"
    actions: tuple[str, ...] = ("redirect",)
    platforms: tuple[Platform, ...] = (Platform.PC_BROWSER,)
    scenarios: tuple[Scenario, ...] = tuple(Scenario)

    def offer(self, request: RouteRequest) -> Offer | Decline | None:
        if request.client.platform is not Platform.PC_BROWSER:
            return Decline("only PC browsers")
        return Offer(10, "a PC browser follows a redirect")

    def prepare(self, payment: PaymentView) -> object:
        return Redirect(f"https://pay.example.test/{payment.id}")
