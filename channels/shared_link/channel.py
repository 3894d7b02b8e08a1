"""The shared-link channel: the buyer gets a link to the gateway's own hosted checkout page.

* `prepare()` makes no rail call: it answers `HostedCheckout({gateway_url}/pay/{checkout token})`, a short,
  unguessable link that expires with the payment and works in any browser, inside or outside the platform.
* The page (gateway/web/checkout.py) looks at the buyer's browser and, when the buyer presses pay, asks
  `checkout_action()` for the rail action: `alipay.trade.wap.pay` in a mobile browser or inside the Alipay
  app, `alipay.trade.page.pay` on a desktop, or an `alipay.trade.precreate` QR code to scan with a phone.
* Alipay notifies `{gateway_url}/notify/shared_link/{merchant}`, verified here (AlipayNotifications).

Routing: a SHARED_LINK scenario is this channel's home (priority 90, whatever the client); mobile and in-app
browsers get it at 50; the platform's apps at 20, as the H5 fallback for versions without native payment
(the mobile channel's 100 wins otherwise); PC browsers at 20 (the pc channel's 60 wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from channels.alipay.toolkit import (
    AlipayNotifications,
    AlipayRefunds,
    AlipaySettings,
    AlipayStatus,
    notify_url,
    precreate_qr_code,
)
from channels.contract import (
    CHECKOUT_METHODS,
    HostedCheckout,
    Offer,
    PaymentView,
    Platform,
    QrCode,
    Redirect,
    RouteRequest,
    Scenario,
)

SHARED_LINK_PRIORITY = 90
MOBILE_BROWSER_PRIORITY = 50
FALLBACK_PRIORITY = 20
DEFAULT_QR_SIZE = 6
_KNOWN = ("qr_size",)


@dataclass(frozen=True)
class SharedLinkSettings:
    """The optional `[channels.shared_link]` table."""

    qr_size: int = DEFAULT_QR_SIZE

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> SharedLinkSettings:
        unknown = sorted(set(table) - set(_KNOWN))
        if unknown:
            raise ValueError(f"[channels.shared_link] has unknown keys: {', '.join(unknown)} "
                             f"(known: {', '.join(_KNOWN)})")
        qr_size = table.get("qr_size", DEFAULT_QR_SIZE)
        if not isinstance(qr_size, int) or isinstance(qr_size, bool) or not 1 <= qr_size <= 40:
            raise ValueError(f"[channels.shared_link] qr_size must be an integer from 1 to 40 "
                             f"(pixels per module), not {qr_size!r}")
        return cls(qr_size)


class NoCheckoutToken(RuntimeError):
    """The payment has no checkout token, so there is no page to link to."""


class SharedLinkChannel(AlipayNotifications, AlipayStatus, AlipayRefunds):
    name = "shared_link"
    display_name = "Alipay through the gateway's hosted checkout page (shared links, mobile browsers)"
    actions = ("hosted_checkout",)
    platforms = tuple(Platform)
    scenarios = tuple(Scenario)

    def __init__(self, alipay: AlipaySettings, settings: SharedLinkSettings, gateway_url: str):
        self.credentials = alipay.credentials
        self.seller_id = alipay.seller_id
        self.alipay = alipay.client()
        self.settings = settings
        self.gateway_url = gateway_url

    def close(self) -> None:
        """Release the rail's connection pool (precreate is an HTTP call; wap and page pay are not)."""
        self.alipay.close()

    def offer(self, request: RouteRequest) -> Offer:
        platform = request.client.platform
        if request.scenario is Scenario.SHARED_LINK:
            return Offer(SHARED_LINK_PRIORITY, "a link opened outside the platform: the hosted checkout page "
                                               "picks how to pay from the buyer's browser")
        if platform in (Platform.MOBILE_BROWSER, Platform.IN_APP_BROWSER):
            return Offer(MOBILE_BROWSER_PRIORITY, f"{_label(platform)}: the hosted checkout page, then "
                                                  "Alipay's mobile web checkout")
        if platform.is_platform_app:
            return Offer(FALLBACK_PRIORITY, f"H5 fallback: the hosted checkout page in the {_label(platform)}'s "
                                            "web view")
        return Offer(FALLBACK_PRIORITY, f"{_label(platform)}: the hosted checkout page (page pay or QR code)")

    def prepare(self, payment: PaymentView) -> HostedCheckout:
        if not payment.checkout_token:
            raise NoCheckoutToken(f"payment {payment.id} has no checkout token")
        return HostedCheckout(url=self.page_url(payment), expires_at=payment.expires_at)

    def page_url(self, payment: PaymentView) -> str:
        return f"{self.gateway_url}/pay/{payment.checkout_token}"

    def checkout_action(self, payment: PaymentView, method: str, return_url: str) -> Redirect | QrCode:
        # Our payment id is the Alipay out_trade_no, as in the other Alipay channels: one number space for
        # the platform's Alipay account. Asking twice (the buyer pressed pay again) reaches the same trade.
        if method not in CHECKOUT_METHODS:
            raise ValueError(f"unknown checkout method {method!r} (known: {', '.join(CHECKOUT_METHODS)})")
        notify = notify_url(self.gateway_url, self.name, payment.merchant_id)
        if method == "qr":
            return self._qr_code(payment, notify)
        common: dict[str, Any] = {
            "out_trade_no": payment.id,
            "total_amount_fen": payment.amount,
            "subject": payment.subject,
            "time_expire": payment.expires_at.astimezone(UTC),
            "return_url": return_url,
            "notify_url": notify,
        }
        if method == "wap":
            # "Cancel" on Alipay's mobile checkout brings the buyer back to our page.
            page = self.alipay.wap_pay(quit_url=self.page_url(payment), **common)
        else:
            page = self.alipay.page_pay(**common)
        return Redirect(page.url, page.form_html)

    def _qr_code(self, payment: PaymentView, notify: str) -> QrCode:
        return precreate_qr_code(self.alipay, payment, notify_url=notify, qr_size=self.settings.qr_size)


_LABELS = {
    Platform.IOS_APP: "iOS app", Platform.ANDROID_APP: "Android app", Platform.HARMONYOS_APP: "HarmonyOS app",
    Platform.PC_BROWSER: "PC browser", Platform.MOBILE_BROWSER: "mobile browser",
    Platform.IN_APP_BROWSER: "in-app browser",
}


def _label(platform: Platform) -> str:
    return _LABELS.get(platform, platform.value)

