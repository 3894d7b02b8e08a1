"""A short-lived in-process cache of merchants, in front of the database, for the payment hot path.

Like the API-key cache (gateway/service/auth.py): a merchant read from the database is reused for
`ttl_seconds`; misses are never cached. A change made through this process (AdminService) drops the
entry at once; a change made by another process (another worker, the `cashier` command) takes at most
`ttl_seconds` to be seen here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.domain.merchants import Merchant
from gateway.service.ports import UnitOfWork

MAX_ENTRIES = 10_000


class MerchantCache:
    def __init__(self, ttl_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, Merchant]] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation: a read that began before one is not stored, so that a merchant
        # read just before a change cannot be cached just after it.
        self._generation = 0

    def cached(self, merchant_id: str) -> Merchant | None:
        """The merchant if a fresh copy is cached, else None (then read it with `load`)."""
        entry = self._entries.get(merchant_id)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        return None

    def load(self, uow: UnitOfWork, merchant_id: str) -> Merchant | None:
        """Read the merchant in `uow` and cache it."""
        generation = self._generation
        now = self.clock()
        merchant = uow.merchants.get(merchant_id)
        if merchant is not None and self.ttl_seconds > 0:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[merchant_id] = (now + self.ttl_seconds, merchant)
        return merchant

    def invalidate(self, merchant_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(merchant_id, None)
