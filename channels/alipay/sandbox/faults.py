"""Misbehaviour switches, changed at run time through ``POST /sandbox/faults``.

Counters are "the next N times"; ``-1`` (or JSON ``true``) means every time, ``0`` (or ``false``) off.
"""

from __future__ import annotations

import threading
from typing import Any

COUNTERS = (
    "drop_notifications",
    "duplicate_notifications",
    "wrong_key_notifications",
    "wrong_key_responses",
)

DEFAULT_TIMEOUT_SECONDS = 30.0


class FaultError(ValueError):
    """A faults document that does not parse."""


def _count(name: str, value: Any) -> int:
    if value is True:
        return -1
    if value is False or value is None:
        return 0
    if isinstance(value, int) and value >= -1:
        return value
    raise FaultError(f"{name}: expected a count (int >= -1) or a boolean")


def _method_rules(name: str, value: Any, extra: tuple[str, ...]) -> list[dict[str, Any]]:
    rules = value if isinstance(value, list) else [value]
    out = []
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("method", "*"), str):
            raise FaultError(f"{name}: expected {{'method': ..., 'count': N}} or a list of them")
        unknown = set(rule) - {"method", "count", *extra}
        if unknown:
            raise FaultError(f"{name}: unknown keys {sorted(unknown)}")
        item = {"method": rule.get("method", "*"), "count": _count(name, rule.get("count", 1))}
        for key in extra:
            if key in rule:
                item[key] = rule[key]
        out.append(item)
    return out


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.counters = dict.fromkeys(COUNTERS, 0)
            self.delay_notifications = 0.0
            self.system_errors: list[dict[str, Any]] = []
            self.timeouts: list[dict[str, Any]] = []

    def update(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise FaultError("expected a JSON object")
        known = {*COUNTERS, "delay_notifications", "system_error", "timeout"}
        unknown = set(doc) - known
        if unknown:
            raise FaultError(f"unknown faults {sorted(unknown)}; known: {sorted(known)}")
        counters = {k: _count(k, doc[k]) for k in COUNTERS if k in doc}
        delay = doc.get("delay_notifications")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0):
            raise FaultError("delay_notifications: expected seconds >= 0")
        errors = (
            _method_rules("system_error", doc["system_error"], ("code", "sub_code", "sub_msg"))
            if doc.get("system_error")
            else None
        )
        timeouts = _method_rules("timeout", doc["timeout"], ("seconds",)) if doc.get("timeout") else None
        with self._lock:
            self.counters.update(counters)
            if delay is not None:
                self.delay_notifications = float(delay)
            if errors is not None:
                self.system_errors = errors
            if timeouts is not None:
                self.timeouts = timeouts

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.counters,
                "delay_notifications": self.delay_notifications,
                "system_error": [dict(r) for r in self.system_errors],
                "timeout": [dict(r) for r in self.timeouts],
            }

    def take(self, name: str) -> bool:
        """Consume one use of a counter switch; True when the fault applies now."""
        with self._lock:
            left = self.counters[name]
            if left == 0:
                return False
            if left > 0:
                self.counters[name] = left - 1
            return True

    def _take_rule(self, rules: list[dict[str, Any]], method: str) -> dict[str, Any] | None:
        with self._lock:
            for rule in rules:
                if rule["method"] in ("*", method) and rule["count"] != 0:
                    if rule["count"] > 0:
                        rule["count"] -= 1
                    return dict(rule)
            return None

    def take_system_error(self, method: str) -> dict[str, Any] | None:
        return self._take_rule(self.system_errors, method)

    def take_timeout(self, method: str) -> float | None:
        rule = self._take_rule(self.timeouts, method)
        if rule is None:
            return None
        return float(rule.get("seconds", DEFAULT_TIMEOUT_SECONDS))
