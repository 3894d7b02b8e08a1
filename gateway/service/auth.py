"""Resolving a presented API key to a principal, with a short-lived cache in front of the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from gateway.domain.errors import Unauthenticated
from gateway.domain.ids import utcnow
from gateway.domain.merchants import Principal
from gateway.service.keys import hash_key
from gateway.service.ports import UnitOfWorkFactory


class Authenticator:
    """Keys are looked up by hash and accepted only while live (not revoked, not past their expiry). A hit
    is cached for `cache_seconds`, never past the key's expiry, so a rolled key's grace ends on time; a
    revoked key or a withdrawn authorisation takes at most `cache_seconds` to take effect. Misses are never
    cached."""

    def __init__(self, uow: UnitOfWorkFactory, cache_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = utcnow):
        self.uow = uow
        self.cache_seconds = cache_seconds
        self.clock = clock  # for the cache: monotonic seconds
        self.now = now  # for key expiry: the wall clock the stored expiries are written in
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, bearer: str | None, *, fresh: bool = False) -> Principal:
        """The key's holder. `fresh`: from the database even if cached (a long-lived call checking that its
        key is still good, e.g. an open WatchPayment), refreshing the cache."""
        if not bearer:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>' metadata",
                                  reason="MISSING_CREDENTIALS")
        key_hash = hash_key(bearer)
        now = self.clock()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        wall = self.now()
        with self.uow() as uow:
            found = uow.access.principal_for_key(key_hash, wall)
        if found is None:
            raise Unauthenticated("the API key is not valid", reason="INVALID_API_KEY")
        principal, expires_at = found
        ttl = self.cache_seconds
        if expires_at is not None:
            ttl = min(ttl, (expires_at - wall).total_seconds())
        if ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key_hash] = (now + ttl, principal)
        return principal
