"""The mobile channel's offer: native payment only at or above the configured version per platform."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from packaging.version import Version

from channels.contract import ClientInfo, Decline, Offer, Platform, RouteRequest, Scenario
from channels.mobile.channel import MobileChannel
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan

MERCHANT = Merchant("m", "M", MerchantState.APPROVED, True, "food", SettlementPlan.T15,
                    datetime(2026, 1, 1, tzinfo=timezone.utc))


def ask(channel: MobileChannel, platform: Platform, version: str) -> Offer | Decline:
    return channel.offer(RouteRequest(MERCHANT, 100, "CNY", ClientInfo(platform, "", version), Scenario.OTHER))


@pytest.mark.parametrize(("platform", "version", "offered"), [
    (Platform.IOS_APP, "8.0", True), (Platform.IOS_APP, "7.99", False), (Platform.IOS_APP, "10", True),
    (Platform.ANDROID_APP, "9.0.1", True), (Platform.ANDROID_APP, "8.9", False),
    (Platform.HARMONYOS_APP, "1.0", True), (Platform.HARMONYOS_APP, "", False),
    (Platform.PC_BROWSER, "99", False), (Platform.IN_APP_BROWSER, "99", False),
])
def test_threshold_per_platform(platform: Platform, version: str, offered: bool) -> None:
    channel = MobileChannel.__new__(MobileChannel)  # offer() needs only the thresholds
    channel.min_versions = {k: Version(v) for k, v in {"ios": "8.0", "android": "9.0", "harmonyos": "1.0"}.items()}
    assert isinstance(ask(channel, platform, version), Offer) is offered


def test_bad_configuration_is_refused_with_the_key() -> None:
    with pytest.raises(ValueError, match="not windows"):
        MobileChannel(alipay=None, min_versions={"windows": "1"}, gateway_url="")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_native_version"):
        MobileChannel(alipay=None, min_versions={"ios": "eight"}, gateway_url="")  # type: ignore[arg-type]


def test_a_shared_link_is_never_paid_natively() -> None:
    channel = MobileChannel.__new__(MobileChannel)
    channel.min_versions = {"ios": Version("8.0")}
    answer = channel.offer(RouteRequest(MERCHANT, 100, "CNY", ClientInfo(Platform.IOS_APP, "", "9.0"),
                                        Scenario.SHARED_LINK))
    assert isinstance(answer, Decline) and "shared link" in answer.reason
