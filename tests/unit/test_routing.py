"""The router: offers, priorities, pins, denials, version rules, and a trace that explains each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.contract import Decline, Offer, Platform, Redirect, RouteRequest, Scenario
from gateway.domain.errors import ChannelUnavailable, FailedPrecondition
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.payments import ClientInfo
from gateway.service.routing import Router, RoutingRule

MERCHANT = Merchant("shop-1", "Tea", MerchantState.APPROVED, True, "food", SettlementPlan.T15,
                    datetime(2026, 1, 1, tzinfo=UTC))


class Fixed:
    def __init__(self, name: str, answer: object):
        self.name, self.display_name, self.answer = name, name, answer
        self.actions, self.platforms, self.scenarios = ("redirect",), tuple(Platform), tuple(Scenario)

    def offer(self, request: RouteRequest) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def prepare(self, payment: object) -> Redirect:
        raise RuntimeError("boom")


def request(platform: Platform = Platform.IOS_APP, version: str = "9.0", merchant: Merchant = MERCHANT,
            scenario: Scenario = Scenario.SHOP_HOME) -> RouteRequest:
    return RouteRequest(merchant, 100, "CNY", ClientInfo(platform, "Platform", version), scenario)


def test_highest_priority_wins_and_ties_go_to_the_first_name() -> None:
    router = Router([Fixed("b", Offer(5, "b")), Fixed("a", Offer(5, "a")), Fixed("c", Offer(1, "c"))])
    decision = router.route(request())
    assert decision.channel.name == "a"
    assert [(c.channel, c.chosen) for c in decision.candidates] == [("b", False), ("a", True), ("c", False)]


def test_denial_rule_applies_only_where_it_matches() -> None:
    rule = RoutingRule(name="no-native-for-old-ios", platforms=frozenset({Platform.IOS_APP}),
                       app_version="<8.0", deny=frozenset({"native"}))
    router = Router([Fixed("native", Offer(100, "native")), Fixed("h5", Offer(10, "h5"))], [rule])
    old = router.route(request(version="7.9.1"))
    assert old.channel.name == "h5"
    native = {c.channel: c for c in old.candidates}["native"]
    assert native.rule == "no-native-for-old-ios" and "denied by rule" in native.reason
    assert router.route(request(version="8.0")).channel.name == "native"
    assert router.route(request(platform=Platform.ANDROID_APP, version="7.0")).channel.name == "native"


def test_pin_by_business_category_overrides_priority() -> None:
    rule = RoutingRule(name="food-uses-h5", business_categories=frozenset({"food"}), pin="h5")
    router = Router([Fixed("native", Offer(100, "n")), Fixed("h5", Offer(10, "h"))], [rule])
    assert router.route(request()).channel.name == "h5"


def test_no_offer_refuses_with_every_reason() -> None:
    router = Router([Fixed("x", Decline("not a PC")), Fixed("y", None), Fixed("z", ValueError("bad"))])
    decision = router.route(request())
    assert decision.channel is None
    assert decision.refusal == "no channel can serve this payment: x: not a PC; y: declined; z: channel error: ValueError"
    with pytest.raises(FailedPrecondition, match="x: not a PC"):
        decision.require()
    assert Router([]).route(request()).refusal == "no payment channel is installed"


def test_a_bad_answer_from_offer_is_contained() -> None:
    decision = Router([Fixed("weird", "yes please")]).route(request())
    assert decision.candidates[0].reason == "channel error: offer() returned str"


def test_prepare_failures_become_channel_unavailable_and_are_observed() -> None:
    observed = []
    router = Router([], observe=lambda *args: observed.append(args[:3]))
    with pytest.raises(ChannelUnavailable) as err:
        router.prepare(Fixed("x", None), type("P", (), {"id": "pay_1"})())
    assert err.value.metadata == {"channel": "x"}
    assert observed == [("x", "prepare", "error")]


def test_a_malformed_version_range_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="app_version '<<8' is not a version range"):
        RoutingRule(name="broken", app_version="<<8")
