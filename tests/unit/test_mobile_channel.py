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


@pytest.mark.parametrize(("table", "named"), [
    ({"min_native_version": "8.0"}, "[channels.mobile] min_native_version must be a table"),
    ({"min_native_versions": {"ios": "8.0"}}, "[channels.mobile] has no key min_native_versions"),
])
def test_a_mistyped_mobile_table_stops_start_up_naming_the_key(table: dict[str, object], named: str) -> None:
    # Found by the channel kit: a string where a table belongs failed with "'str' object is not a mapping", and
    # a misspelt key was ignored, so the default versions applied without a word.
    from channels.mobile import cashier_register_channels

    alipay = {"gateway_url": "http://127.0.0.1:9", "app_id": "2021000000000000",
              "app_private_key_file": "/nonexistent", "alipay_public_key_file": "/nonexistent"}
    with pytest.raises(ValueError) as refused:
        cashier_register_channels(config={"alipay": alipay, "mobile": table}, gateway_url="http://gw")
    assert named in str(refused.value)
