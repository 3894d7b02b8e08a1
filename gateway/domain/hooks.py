"""Lifecycle hook runs: one per (outbox event, plugin implementing the event's hook), so that each plugin
is called, retried and parked on its own (gateway/service/lifecycle.py)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class HookRunState(enum.Enum):
    PENDING = "PENDING"  # to be called (again) at next_attempt_at
    DONE = "DONE"  # the plugin's hook returned
    PARKED = "PARKED"  # it raised every time: an operator decides (`cashier hooks rerun`)


@dataclass(frozen=True, slots=True)
class HookRun:
    merchant_id: str
    event_id: str
    plugin: str
    hook: str
    state: HookRunState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str = ""
    # The event's type and payload (the webhook body), read with the run.
    event_type: str = ""
    event_payload: Mapping[str, Any] | None = None
