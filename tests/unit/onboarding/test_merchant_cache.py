"""The payment path's merchant cache holds what decides collection: the merchant and its latest application, read
together once per `[auth] cache_seconds`, and dropped at once by onboarding's changes made in this process. Over a
real database (SQLite and PostgreSQL); the reads are counted by wrapping the real read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.domain.onboarding.application import AccountState, ApplicationState, Decision
from gateway.domain.onboarding.collection import collection_refusal
from gateway.service.admin import NewMerchant
from gateway.service.merchant_cache import CachedMerchant, MerchantCache, merchants_with_applications
from tests.onboarding_support import PNG, AlipayStandIn, Clock, form
from tests.unit.onboarding.conftest import APPLICANT, OPERATOR, make_service


class Seconds:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counted:
    def __init__(self, read: Callable[[str], CachedMerchant | None]):
        self.read = read
        self.calls = 0
        self.during: Callable[[], None] | None = None

    def __call__(self, merchant_id: str) -> CachedMerchant | None:
        self.calls += 1
        found = self.read(merchant_id)
        if self.during is not None:
            self.during()
            self.during = None
        return found


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest.fixture
def reads(factory: Any) -> Counted:
    return Counted(merchants_with_applications(factory))


@pytest.fixture
def cache(reads: Counted, seconds: Seconds) -> MerchantCache:
    return MerchantCache(reads, ttl_seconds=10, clock=seconds)


def test_one_read_per_period_and_none_for_a_merchant_made_directly(cache: MerchantCache, reads: Counted,
                                                                    seconds: Seconds, admin: Any) -> None:
    admin.create_merchant(NewMerchant("old-shop", "Old Shop"))
    first = cache.get("old-shop")
    assert first is not None and first.application is None  # judged by its own row, as before onboarding
    assert cache.get("old-shop") is first and reads.calls == 1
    seconds.now += 10.5
    assert cache.get("old-shop") == first and reads.calls == 2
    assert cache.get("no-such-shop") is None and cache.get("no-such-shop") is None
    assert reads.calls == 4  # misses are never cached


def test_a_read_that_began_before_an_invalidation_is_not_kept(cache: MerchantCache, reads: Counted,
                                                               admin: Any) -> None:
    admin.create_merchant(NewMerchant("old-shop", "Old Shop"))
    reads.during = lambda: cache.invalidate("old-shop")
    cache.get("old-shop")
    cache.get("old-shop")
    assert reads.calls == 2


def test_onboarding_drops_the_entry_so_collection_follows_at_once(factory: Any, alipay: AlipayStandIn, clock: Clock,
                                                                  cache: MerchantCache, reads: Counted) -> None:
    service = make_service(factory, alipay, clock, merchants=cache)
    application = service.submit(APPLICANT, form())
    service.add_document(APPLICANT, application.id, PNG)
    service.review(OPERATOR, application.id, Decision.APPROVE)
    approved = cache.get("tea-house")
    assert approved is not None and approved.application is not None
    assert (approved.application.state, approved.application.account_state) == (
        ApplicationState.APPROVED, AccountState.UNVERIFIED)
    refusal = collection_refusal("tea-house", approved.application, individuals_open=False)
    assert refusal is not None and refusal.reason == "SETTLEMENT_ACCOUNT_NOT_VERIFIED"
    assert cache.get("tea-house") is approved and reads.calls == 1

    service.start_verification(APPLICANT, application.id)
    service.confirm_verification(APPLICANT, application.id, alipay.sent[-1][2])
    verified = cache.get("tea-house")  # well within the period: read again because onboarding dropped it
    assert reads.calls == 2 and verified is not None and verified.merchant.collection_enabled
    assert collection_refusal("tea-house", verified.application, individuals_open=False) is None
