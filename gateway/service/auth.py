"""Resolving a presented API key to a principal, with a short-lived cache in front of the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.domain.errors import Unauthenticated
from gateway.domain.merchants import Principal
from gateway.service.keys import hash_key
from gateway.service.ports import UnitOfWorkFactory


class Authenticator:
    """Keys are looked up by hash. A hit is cached for `cache_seconds` (a revoked key or a withdrawn
    authorisation takes at most that long to take effect); misses are never cached."""

    def __init__(self, uow: UnitOfWorkFactory, cache_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.uow = uow
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, bearer: str | None) -> Principal:
        if not bearer:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>' metadata",
                                  reason="MISSING_CREDENTIALS")
        key_hash = hash_key(bearer)
        now = self.clock()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.uow() as uow:
            principal = uow.access.principal_for_key(key_hash)
        if principal is None:
            raise Unauthenticated("the API key is not valid", reason="INVALID_API_KEY")
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key_hash] = (now + self.cache_seconds, principal)
        return principal
