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
#: ``transfer_refusal``: the platform account's own limits, answered to a new transfer instead of paying it
#: (protocol notes §9): the quotas and the payer's balance. Nothing is recorded, as at Alipay, so the query
#: says ORDER_NOT_EXIST and a later transfer under a new out_biz_no goes through.
TRANSFER_REFUSALS = {
    "EXCEED_LIMIT_SM_AMOUNT": "单笔额度超限",
    "EXCEED_LIMIT_DM_AMOUNT": "日累计额度超限",
    "EXCEED_LIMIT_MM_AMOUNT": "月累计额度超限",
    "EXCEED_LIMIT_PERSONAL_SM_AMOUNT": "转账给个人单笔额度超限",
    "PAYER_BALANCE_NOT_ENOUGH": "付款方余额不足",
}


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


def _refusal_rules(value: Any) -> list[dict[str, Any]]:
    """``{"sub_code": "EXCEED_LIMIT_DM_AMOUNT", "count": N}`` or a list of them (count: as the counters)."""
    rules = _method_rules("transfer_refusal", value, ("sub_code",))
    for rule in rules:
        if rule["method"] != "*":
            raise FaultError("transfer_refusal: applies to alipay.fund.trans.uni.transfer only; give no method")
        if rule.get("sub_code") not in TRANSFER_REFUSALS:
            raise FaultError(f"transfer_refusal: sub_code must be one of {sorted(TRANSFER_REFUSALS)}")
    return rules


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
            self.transfer_refusals: list[dict[str, Any]] = []

    def update(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise FaultError("expected a JSON object")
        known = {*COUNTERS, "delay_notifications", "system_error", "timeout", "transfer_refusal"}
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
        refusals = _refusal_rules(doc["transfer_refusal"]) if doc.get("transfer_refusal") else None
        with self._lock:
            self.counters.update(counters)
            if delay is not None:
                self.delay_notifications = float(delay)
            if errors is not None:
                self.system_errors = errors
            if timeouts is not None:
                self.timeouts = timeouts
            if refusals is not None:
                self.transfer_refusals = refusals

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.counters,
                "delay_notifications": self.delay_notifications,
                "system_error": [dict(r) for r in self.system_errors],
                "timeout": [dict(r) for r in self.timeouts],
                "transfer_refusal": [dict(r) for r in self.transfer_refusals],
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

    def take_transfer_refusal(self) -> tuple[str, str] | None:
        """(sub_code, sub_msg) to refuse the next new transfer with, or None."""
        rule = self._take_rule(self.transfer_refusals, "*")
        return None if rule is None else (rule["sub_code"], TRANSFER_REFUSALS[rule["sub_code"]])

    def take_timeout(self, method: str) -> float | None:
        rule = self._take_rule(self.timeouts, method)
        if rule is None:
            return None
        return float(rule.get("seconds", DEFAULT_TIMEOUT_SECONDS))
