"""The `huabei` channel: Huabei instalments (花呗分期) in the platform's app.

An `alipay.trade.app.pay` order string, as the built-in `mobile` channel makes, with the instalment terms in
the order's `extend_params`: `hb_fq_num` (3, 6 or 12 periods) and `hb_fq_seller_percent` (the share of the
instalment fee the seller bears: 0, or 100 for interest-free instalments). Alipay offers instalments from an
amount up, so below the configured minimum the channel declines, saying why, and the router moves on.
Notifications, status, close and refunds are the Alipay toolkit's, as for any Alipay channel.
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
)
from channels.contract import (
    AppPay,
    Decline,
    Offer,
    PaymentView,
    Platform,
    RouteRequest,
    Scenario,
    format_minor,
)

_KNOWN = ("min_amount", "periods", "seller_percent")
PERIODS = (3, 6, 12)
SELLER_PERCENTS = (0, 100)
APP_PLATFORMS = (Platform.IOS_APP, Platform.ANDROID_APP, Platform.HARMONYOS_APP)
# Above the built-in `mobile` channel (100): in the app, from the minimum up, the buyer is offered instalments;
# below it Huabei declines and mobile takes the payment. A [[routing.rules]] `deny` keeps it from a merchant.
PRIORITY = 110


def _whole(table: Mapping[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"[channels.huabei] {key} must be a whole number, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """The `[channels.huabei]` table."""

    min_amount: int = 10_000  # fen: 100 yuan
    periods: int = 3
    seller_percent: int = 0

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Settings:
        unknown = sorted(set(table) - set(_KNOWN))
        if unknown:
            raise ValueError(f"[channels.huabei] has unknown keys: {', '.join(unknown)} (known: {', '.join(_KNOWN)})")
        min_amount = _whole(table, "min_amount", cls.min_amount)
        if min_amount < 1:
            raise ValueError(f"[channels.huabei] min_amount must be at least 1 fen, not {min_amount}")
        periods = _whole(table, "periods", cls.periods)
        if periods not in PERIODS:
            raise ValueError(f"[channels.huabei] periods must be one of {PERIODS}, not {periods}")
        seller_percent = _whole(table, "seller_percent", cls.seller_percent)
        if seller_percent not in SELLER_PERCENTS:
            raise ValueError(f"[channels.huabei] seller_percent must be 0 (the buyer pays the instalment fee) "
                             f"or 100 (interest-free, the seller pays it), not {seller_percent}")
        return cls(min_amount, periods, seller_percent)


class HuabeiChannel(AlipayNotifications, AlipayStatus, AlipayRefunds):
    name = "huabei"
    display_name = "Huabei instalments (花呗分期)"
    actions = ("app_pay",)
    platforms = APP_PLATFORMS
    scenarios = tuple(Scenario)

    def __init__(self, settings: Settings, alipay: AlipaySettings, gateway_url: str):
        self.settings = settings
        self.credentials = alipay.credentials
        self.seller_id = alipay.seller_id
        self.alipay = alipay.client()
        self.gateway_url = gateway_url

    def close(self) -> None:
        self.alipay.close()

    def offer(self, request: RouteRequest) -> Offer | Decline:
        if request.client.platform not in APP_PLATFORMS:
            return Decline("Huabei instalments are paid with the Alipay SDK, in the platform's app only")
        if request.scenario is Scenario.SHARED_LINK:
            return Decline("a shared link is paid outside the app")
        if request.currency != "CNY":
            return Decline(f"Huabei instalments are in CNY, not {request.currency}")
        if request.amount < self.settings.min_amount:
            return Decline(f"{format_minor(request.amount)} is below the instalment minimum "
                           f"{format_minor(self.settings.min_amount)}")
        return Offer(PRIORITY, f"{self.settings.periods} Huabei instalments from "
                               f"{format_minor(self.settings.min_amount)}")

    def prepare(self, payment: PaymentView) -> AppPay:
        # Our payment id is the Alipay out_trade_no, as for the built-in channels: one number space.
        order = self.alipay.app_pay(
            out_trade_no=payment.id,
            total_amount_fen=payment.amount,
            subject=payment.subject,
            time_expire=payment.expires_at.astimezone(UTC),
            notify_url=notify_url(self.gateway_url, self.name, payment.merchant_id),
            extra_biz={"extend_params": {"hb_fq_num": str(self.settings.periods),
                                         "hb_fq_seller_percent": str(self.settings.seller_percent)}},
        )
        return AppPay(order.order_string)
