"""A channel the conformance kit must fail by its end-to-end rule only: every check on the channel alone passes
(it is the built-in mobile channel's design on the Alipay toolkit), but it hands Alipay the notification URL
of another channel, so the buyer pays and the gateway never applies the notification."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from channels.alipay.toolkit import (
    AlipayNotifications,
    AlipayRefunds,
    AlipaySettings,
    AlipayStatus,
    notify_url,
)
from channels.contract import (
    AppPay,
    Channel,
    Decline,
    Offer,
    PaymentView,
    Platform,
    RouteRequest,
    Scenario,
    hookimpl,
)


class WrongNotifyUrl(AlipayNotifications, AlipayStatus, AlipayRefunds):
    name = "wrong_notify_url"
    display_name = "Notifies the wrong URL"
    actions = ("app_pay",)
    platforms = (Platform.IOS_APP, Platform.ANDROID_APP)
    scenarios = tuple(Scenario)

    def __init__(self, alipay: AlipaySettings, gateway_url: str):
        self.credentials = alipay.credentials
        self.seller_id = alipay.seller_id
        self.alipay = alipay.client()
        self.gateway_url = gateway_url

    def close(self) -> None:
        self.alipay.close()

    def offer(self, request: RouteRequest) -> Offer | Decline:
        if request.client.platform not in self.platforms:
            return Decline("app only")
        return Offer(10, "pays in the app")

    def prepare(self, payment: PaymentView) -> AppPay:
        order = self.alipay.app_pay(
            out_trade_no=payment.id, total_amount_fen=payment.amount, subject=payment.subject,
            time_expire=payment.expires_at.astimezone(UTC),
            # The mistake: another channel's URL (a copy-paste from the channel this one was made from).
            notify_url=notify_url(self.gateway_url, "mobile", payment.merchant_id))
        return AppPay(order.order_string)


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]], gateway_url: str) -> list[Channel]:
    return [WrongNotifyUrl(AlipaySettings.from_table(config["alipay"]), gateway_url)] if "alipay" in config else []
