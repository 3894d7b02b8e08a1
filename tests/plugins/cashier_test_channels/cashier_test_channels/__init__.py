"""A third-party-style channel plugin used by the tests. It is installed with pip like any other
plugin and found through the `cashier.channels` entry point; nothing in the core names it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from channels.contract import (
    AppPay,
    Decline,
    Offer,
    PaymentView,
    Platform,
    Redirect,
    RouteRequest,
    Scenario,
    hookimpl,
    parse_version,
)

APP_PLATFORMS = (Platform.IOS_APP, Platform.ANDROID_APP, Platform.HARMONYOS_APP)


class AppChannel:
    name = "test_app"
    display_name = "Test in-app payment"
    actions = ("app_pay",)
    platforms = APP_PLATFORMS
    scenarios = tuple(Scenario)

    def __init__(self, min_version: str):
        self.min_version = parse_version(min_version)

    def offer(self, request: RouteRequest) -> Offer | Decline:
        if request.client.platform not in APP_PLATFORMS:
            return Decline("not the platform's app")
        version = parse_version(request.client.app_version)
        if version is None or version < self.min_version:
            return Decline(f"app version {request.client.app_version or '?'} is below {self.min_version}")
        return Offer(100, f"native payment in app {version}")

    def prepare(self, payment: PaymentView) -> AppPay:
        return AppPay(f"test-order&out_trade_no={payment.out_trade_no}&amount={payment.amount}")


class WebChannel:
    name = "test_web"
    display_name = "Test web checkout"
    actions = ("redirect",)
    platforms = tuple(Platform)
    scenarios = tuple(Scenario)

    def offer(self, request: RouteRequest) -> Offer:
        return Offer(10, "any browser can follow a redirect")

    def prepare(self, payment: PaymentView) -> Redirect:
        return Redirect(f"https://pay.example.test/checkout/{payment.id}")


class FaultyChannel:
    """Misbehaves on request, so that tests can prove a failing plugin is contained."""

    name = "test_faulty"
    display_name = "Test faulty channel"
    actions = ("redirect",)
    platforms = (Platform.IN_APP_BROWSER,)
    scenarios = tuple(Scenario)

    def offer(self, request: RouteRequest) -> Offer | None:
        if request.client.app_name == "explode-offer":
            raise RuntimeError("offer exploded")
        if request.client.app_name == "explode-prepare":
            return Offer(1000, "wants this one, then fails")
        if request.client.app_name == "slow-prepare":
            return Offer(1000, "takes its time")
        return None

    def prepare(self, payment: PaymentView) -> Redirect:
        if payment.client.app_name == "slow-prepare":
            time.sleep(1.5)  # long enough for a test to stop the server mid-call
            return Redirect(f"https://pay.example.test/slow/{payment.id}")
        raise RuntimeError("prepare exploded")


@hookimpl
def cashier_register_channels(config: Mapping[str, Mapping[str, Any]]) -> list[object]:
    min_version = str(config.get("test_app", {}).get("min_version", "8.0"))
    return [AppChannel(min_version), WebChannel(), FaultyChannel()]
