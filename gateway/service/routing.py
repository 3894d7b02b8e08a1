"""The router: asks every channel for an offer, applies the configured rules, picks one, keeps the trace."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from channels.contract.actions import BuyerAction
from channels.contract.protocol import Channel, Decline, Offer, RouteRequest
from channels.contract.versions import parse_version
from gateway.domain.errors import ChannelUnavailable, FailedPrecondition
from gateway.domain.payments import Payment, Platform, Scenario
from gateway.service.channel_views import payment_view

log = logging.getLogger(__name__)


class ChannelObserver(Protocol):
    def __call__(self, channel: str, operation: str, outcome: str, seconds: float) -> None: ...


def _ignore(channel: str, operation: str, outcome: str, seconds: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """A configured rule. Every condition given must match; an empty condition matches anything."""

    name: str
    merchants: frozenset[str] = frozenset()
    business_categories: frozenset[str] = frozenset()
    platforms: frozenset[Platform] = frozenset()
    scenarios: frozenset[Scenario] = frozenset()
    app_version: str = ""  # a PEP 440 specifier such as "<8.0"
    pin: str = ""
    deny: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.app_version:
            try:
                SpecifierSet(self.app_version)
            except InvalidSpecifier as exc:
                raise ValueError(f"rule {self.name!r}: app_version {self.app_version!r} is not a "
                                 "version range such as '<8.0' or '>=7.1,<8'") from exc

    def matches(self, request: RouteRequest) -> bool:
        if self.merchants and request.merchant.id not in self.merchants:
            return False
        if self.business_categories and request.merchant.business_category not in self.business_categories:
            return False
        if self.platforms and request.client.platform not in self.platforms:
            return False
        if self.scenarios and request.scenario not in self.scenarios:
            return False
        if self.app_version:
            version = parse_version(request.client.app_version)
            if version is None or version not in SpecifierSet(self.app_version):
                return False
        return True


@dataclass(slots=True)
class Candidate:
    channel: str
    offered: bool
    priority: int = 0
    reason: str = ""
    rule: str = ""
    chosen: bool = False


@dataclass(slots=True)
class RouteDecision:
    channel: Channel | None
    candidates: list[Candidate] = field(default_factory=list)
    refusal: str = ""

    def require(self) -> Channel:
        if self.channel is None:
            raise FailedPrecondition(self.refusal, reason="NO_CHANNEL")
        return self.channel


class Router:
    def __init__(
        self,
        channels: Sequence[Channel],
        rules: Sequence[RoutingRule] = (),
        observe: ChannelObserver = _ignore,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.channels = list(channels)
        self.by_name = {c.name: c for c in self.channels}
        self.rules = list(rules)
        self.observe = observe
        self.clock = clock

    def route(self, request: RouteRequest) -> RouteDecision:
        rules = [r for r in self.rules if r.matches(request)]
        # Most payments match no rule: then no channel is pinned or denied, and there is nothing to search.
        pin = next((r for r in rules if r.pin), None) if rules else None
        candidates: list[Candidate] = []
        for channel in self.channels:
            candidate = self._ask(channel, request)
            denial = next((r for r in rules if channel.name in r.deny), None) if rules else None
            if candidate.offered and denial is not None:
                candidate.offered = False
                candidate.rule = denial.name
                candidate.reason += f"; denied by rule {denial.name!r}"
            elif candidate.offered and pin is not None and pin.pin != channel.name:
                candidate.offered = False
                candidate.rule = pin.name
                candidate.reason += f"; rule {pin.name!r} pins channel {pin.pin!r}"
            candidates.append(candidate)
        offers = [c for c in candidates if c.offered]
        if not offers:
            return RouteDecision(None, candidates, self._refusal(candidates, pin))
        best = max(offers, key=lambda c: (c.priority, _reverse_name(c.channel)))
        best.chosen = True
        return RouteDecision(self.by_name[best.channel], candidates)

    def prepare(self, channel: Channel, payment: Payment) -> BuyerAction:
        """Run the channel's prepare(), containing any failure it raises."""
        started = self.clock()
        try:
            action = channel.prepare(payment_view(payment))
        except Exception as exc:
            self.observe(channel.name, "prepare", "error", self.clock() - started)
            log.exception("channel %s failed to prepare payment %s", channel.name, payment.id,
                          extra={"channel": channel.name, "payment": payment.id})
            raise ChannelUnavailable(
                f"channel {channel.name!r} failed to prepare the payment ({type(exc).__name__}); "
                "nothing was stored; retrying with the same idempotency-key is safe",
                metadata={"channel": channel.name},
            ) from exc
        self.observe(channel.name, "prepare", "ok", self.clock() - started)
        return action

    def _ask(self, channel: Channel, request: RouteRequest) -> Candidate:
        started = self.clock()
        try:
            answer = channel.offer(request)
        except Exception as exc:
            self.observe(channel.name, "offer", "error", self.clock() - started)
            log.exception("channel %s failed while making an offer", channel.name, extra={"channel": channel.name})
            return Candidate(channel.name, False, reason=f"channel error: {type(exc).__name__}")
        self.observe(channel.name, "offer", "ok", self.clock() - started)
        if isinstance(answer, Offer):
            return Candidate(channel.name, True, answer.priority, answer.reason)
        if isinstance(answer, Decline):
            return Candidate(channel.name, False, reason=answer.reason)
        if answer is None:
            return Candidate(channel.name, False, reason="declined")
        log.error("channel %s returned %r from offer()", channel.name, answer, extra={"channel": channel.name})
        return Candidate(channel.name, False, reason=f"channel error: offer() returned {type(answer).__name__}")

    @staticmethod
    def _refusal(candidates: list[Candidate], pin: RoutingRule | None) -> str:
        if not candidates:
            return "no payment channel is installed"
        answers = "; ".join(f"{c.channel}: {c.reason}" for c in candidates)
        if pin is not None:
            return f"no channel can serve this payment (rule {pin.name!r} pins {pin.pin!r}): {answers}"
        return f"no channel can serve this payment: {answers}"


@functools.cache  # a handful of channel names, compared on every routing decision
def _reverse_name(name: str) -> tuple[int, ...]:
    # Among equal priorities the alphabetically first name wins; max() needs the order reversed.
    return tuple(-ord(ch) for ch in name)
