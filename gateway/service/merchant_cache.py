"""A short-lived in-process cache of merchants, in front of the database, for the payment hot path.

Like the API-key cache (gateway/service/auth.py): a merchant read from the database is reused for
`ttl_seconds`; misses are never cached. A change made through this process (AdminService, OnboardingService)
drops the entry at once; a change made by another process (another worker, the `cashier` command) takes at
most `ttl_seconds` to be seen here.

What is cached is what decides collection: the merchant's row and its latest application (onboarding's
part of the answer, gateway/domain/onboarding/collection.py), read together once per period, so that
CreatePayment and PreviewRoute cost no query while the entry is fresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.merchants import Merchant
from gateway.domain.onboarding.application import Application
from gateway.service.onboarding_ports import OnboardingUnitOfWorkFactory
from gateway.service.ports import UnitOfWorkFactory

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CachedMerchant:
    merchant: Merchant
    # Its latest application; None when it has none: created directly by an operator (`cashier merchants
    # create`), judged by its own row alone.
    application: Application | None = None


def merchants_with_applications(uow: OnboardingUnitOfWorkFactory) -> Callable[[str], CachedMerchant | None]:
    """The cache's read: the merchant and its latest application, in one read transaction."""

    def read(merchant_id: str) -> CachedMerchant | None:
        with uow() as u:
            merchant = u.merchants.get(merchant_id)
            if merchant is None:
                return None
            return CachedMerchant(merchant, u.applications.latest_for_merchant(merchant_id))

    return read


def merchants_alone(uow: UnitOfWorkFactory) -> Callable[[str], CachedMerchant | None]:
    """A read of the merchant's row only, for a payment service built without onboarding (no application
    ever applies)."""

    def read(merchant_id: str) -> CachedMerchant | None:
        with uow() as u:
            merchant = u.merchants.get(merchant_id)
        return None if merchant is None else CachedMerchant(merchant)

    return read


class MerchantCache:
    def __init__(self, read: Callable[[str], CachedMerchant | None], ttl_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.read = read
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, CachedMerchant]] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation: a read that began before one is not stored, so that a merchant
        # read just before a change cannot be cached just after it.
        self._generation = 0

    def get(self, merchant_id: str) -> CachedMerchant | None:
        """The merchant (with its latest application): a fresh cached copy, else read now and cached."""
        entry = self._entries.get(merchant_id)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        generation = self._generation
        now = self.clock()
        found = self.read(merchant_id)
        if found is not None and self.ttl_seconds > 0:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[merchant_id] = (now + self.ttl_seconds, found)
        return found

    def invalidate(self, merchant_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(merchant_id, None)
