"""Onboarding's ids: ULIDs (time-sorted, as payment ids) in ULID's monotonic mode, so that within one process
each id sorts after the one made before it, also within one millisecond. Lists ordered by id (newest
application, latest verification attempt, audit rows of one change) then follow the order things happened."""

from __future__ import annotations

import os
import threading
from datetime import datetime

from gateway.domain.ids import _encode


class _MonotonicIds:
    """ULIDs in ULID's monotonic mode: within one process each id sorts after the one before, also within one
    millisecond (the random part counts up), so that a change's audit rows list in the order they were written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, 0)

    def next(self, at: datetime) -> str:
        ms = int(at.timestamp() * 1000)
        with self._lock:
            last_ms, last_random = self._last
            if ms <= last_ms:
                ms, randomness = last_ms, last_random + 1
            else:
                randomness = int.from_bytes(os.urandom(9), "big")  # 72 bits: room to count up within 80
            self._last = (ms, randomness)
        return _encode(ms, 10) + _encode(randomness, 16)


_ids = _MonotonicIds()


def new_id(prefix: str, at: datetime) -> str:
    return prefix + _ids.next(at)
