"""The mobile channel: an `alipay.trade.app.pay` order string for the Alipay SDK in the platform's app.

Only app versions at or above the configured minimum per platform integrate the SDK; older ones get no
offer, so the router falls back to a browser (H5) channel and the route trace says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from packaging.version import InvalidVersion, Version

from channels.alipay.toolkit import (
    AlipayNotifications,
    AlipayRefunds,
    AlipaySettings,
    AlipayStatus,
    notify_url,
)
from channels.contract import AppPay, Decline, Offer, PaymentView, Platform, RouteRequest, Scenario

DEFAULT_MIN_VERSIONS = {"ios": "8.0", "android": "8.0", "harmonyos": "1.0"}
_PLATFORM_KEYS = {Platform.IOS_APP: "ios", Platform.ANDROID_APP: "android", Platform.HARMONYOS_APP: "harmonyos"}
NATIVE_PRIORITY = 100


class MobileChannel(AlipayNotifications, AlipayStatus, AlipayRefunds):
    name = "mobile"
    display_name = "Alipay in the platform's app"
    actions = ("app_pay",)
    platforms = tuple(_PLATFORM_KEYS)
    scenarios = tuple(Scenario)

    def __init__(self, alipay: AlipaySettings, min_versions: Mapping[str, str], gateway_url: str):
        unknown = set(min_versions) - set(DEFAULT_MIN_VERSIONS)
        if unknown:
            raise ValueError(f"[channels.mobile.min_native_version] knows only ios, android and harmonyos, "
                             f"not {', '.join(sorted(unknown))}")
        try:
            self.min_versions = {key: Version(str(value)) for key, value in min_versions.items()}
        except InvalidVersion as exc:
            raise ValueError(f"[channels.mobile.min_native_version]: {exc}") from None
        self.credentials = alipay.credentials
        self.seller_id = alipay.seller_id
        self.alipay = alipay.client()
        self.gateway_url = gateway_url

    def close(self) -> None:
        self.alipay.close()

    def offer(self, request: RouteRequest) -> Offer | Decline:
        key = _PLATFORM_KEYS.get(request.client.platform)
        if key is None:
            return Decline("not the platform's mobile app")
        if request.scenario is Scenario.SHARED_LINK:
            # The link leaves the app: whoever opens it pays outside the platform, in a browser.
            return Decline("a shared link is paid outside the app")
        minimum = self.min_versions[key]
        try:
            version = Version(request.client.app_version)
        except InvalidVersion:
            return Decline(f"no usable app version; native payment needs {key} {minimum} or later")
        if version < minimum:
            return Decline(f"app version {version} is below the native minimum {minimum} for {key}")
        return Offer(NATIVE_PRIORITY, f"{key} app {version} pays natively with the Alipay SDK")

    def prepare(self, payment: PaymentView) -> AppPay:
        # Our payment id is the Alipay out_trade_no: merchants' own numbers are unique only per merchant,
        # while the platform's Alipay account needs one number space.
        order = self.alipay.app_pay(
            out_trade_no=payment.id,
            total_amount_fen=payment.amount,
            subject=payment.subject,
            time_expire=payment.expires_at.astimezone(UTC),
            notify_url=notify_url(self.gateway_url, self.name, payment.merchant_id),
        )
        return AppPay(order.order_string)
