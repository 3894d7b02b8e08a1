"""Misbehaviour switches, changed at run time through ``POST /sandbox/faults``.

Counters are "the next N times"; ``-1`` (or JSON ``true``) means every time, ``0`` (or ``false``) off.

``bill_differences`` plants differences in the bills (trade and signcustomer alike) for reconciliation
tests; it stays until replaced, cleared (``{"bill_differences": {}}``) or reset (``DELETE``)::

    {"bill_differences": {
        "drop": ["T1"],                          # trades (out_trade_no) left out of the bills
        "amount": {"T2": "12.34"},               # a trade billed at another amount (yuan); its fee stays
        "fee": {"T3": "0.99"},                   # a trade charged another service fee (yuan, 0 allowed)
        "extra": [{"out_trade_no": "X1", "total_amount": "8.00",   # a paid trade the gateway never made
                   "gmt_payment": "2024-01-02 10:00:00",           # optional: when the fault is set
                   "app_id": "2021...", "subject": "..."}]}}       # optional: every app's bills
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .values import AmountError, fen_to_yuan, fmt_time, new_trade_no, parse_time, yuan_to_fen

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


@dataclass(frozen=True)
class ExtraTrade:
    """A paid trade only the bills know of."""

    out_trade_no: str
    amount_fen: int
    gmt_payment: datetime
    trade_no: str  # made when the fault is set, so every download of the bill names the same trade
    app_id: str = ""  # "" = in the bills of every app
    subject: str = "sandbox planted trade"


@dataclass(frozen=True)
class BillDifferences:
    drop: frozenset[str] = frozenset()
    amounts: dict[str, int] = field(default_factory=dict)
    fees: dict[str, int] = field(default_factory=dict)
    extras: tuple[ExtraTrade, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "drop": sorted(self.drop),
            "amount": {k: fen_to_yuan(v) for k, v in self.amounts.items()},
            "fee": {k: fen_to_yuan(v) for k, v in self.fees.items()},
            "extra": [{"out_trade_no": e.out_trade_no, "total_amount": fen_to_yuan(e.amount_fen),
                       "gmt_payment": fmt_time(e.gmt_payment), "trade_no": e.trade_no, "app_id": e.app_id,
                       "subject": e.subject} for e in self.extras],
        }


def _out_trade_no(where: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise FaultError(f"{where}: an out_trade_no (1-64 characters)")
    return value


def _fen(where: str, value: Any, min_fen: int) -> int:
    try:
        return yuan_to_fen(value, min_fen=min_fen)
    except AmountError:
        raise FaultError(f"{where}: a yuan amount with at most 2 decimals, e.g. \"12.34\"") from None


def _bill_differences(value: Any, now: datetime) -> BillDifferences:
    if value is None:
        return BillDifferences()
    if not isinstance(value, dict):
        raise FaultError("bill_differences: expected {drop, amount, fee, extra}")
    unknown = set(value) - {"drop", "amount", "fee", "extra"}
    if unknown:
        raise FaultError(f"bill_differences: unknown keys {sorted(unknown)}")
    drop, amounts, fees = value.get("drop", []), value.get("amount", {}), value.get("fee", {})
    if not isinstance(drop, list) or not isinstance(amounts, dict) or not isinstance(fees, dict):
        raise FaultError("bill_differences: drop is a list, amount and fee map out_trade_no to yuan")
    extras = value.get("extra", [])
    if not isinstance(extras, list) or len(extras) > 1000:
        raise FaultError("bill_differences.extra: a list (at most 1000) of {out_trade_no, total_amount, ...}")
    return BillDifferences(
        drop=frozenset(_out_trade_no("bill_differences.drop", v) for v in drop),
        amounts={_out_trade_no("bill_differences.amount", k): _fen(f"bill_differences.amount.{k}", v, 1)
                 for k, v in amounts.items()},
        fees={_out_trade_no("bill_differences.fee", k): _fen(f"bill_differences.fee.{k}", v, 0)
              for k, v in fees.items()},
        extras=tuple(_extra(index, extra, now) for index, extra in enumerate(extras)),
    )


def _extra(index: int, extra: Any, now: datetime) -> ExtraTrade:
    where = f"bill_differences.extra[{index}]"
    if not isinstance(extra, dict):
        raise FaultError(f"{where}: expected {{out_trade_no, total_amount[, gmt_payment, app_id, subject]}}")
    unknown = set(extra) - {"out_trade_no", "total_amount", "gmt_payment", "app_id", "subject"}
    if unknown:
        raise FaultError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        paid = parse_time(extra["gmt_payment"]) if "gmt_payment" in extra else now
    except (TypeError, ValueError):
        raise FaultError(f"{where}.gmt_payment: yyyy-MM-dd HH:mm:ss (Beijing time)") from None
    app_id, subject = extra.get("app_id", ""), extra.get("subject", "sandbox planted trade")
    if not isinstance(app_id, str) or not isinstance(subject, str) or len(subject) > 256:
        raise FaultError(f"{where}: app_id and subject are text")
    return ExtraTrade(
        out_trade_no=_out_trade_no(f"{where}.out_trade_no", extra.get("out_trade_no")),
        amount_fen=_fen(f"{where}.total_amount", extra.get("total_amount"), 1),
        gmt_payment=paid, trade_no=new_trade_no(paid), app_id=app_id, subject=subject,
    )


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
            self.bill_differences = BillDifferences()

    def update(self, doc: Any, *, now: datetime | None = None) -> None:
        """Apply a faults document; ``now`` (the sandbox's clock) is when a planted extra trade was paid
        unless it says."""
        if not isinstance(doc, dict):
            raise FaultError("expected a JSON object")
        known = {*COUNTERS, "delay_notifications", "system_error", "timeout", "transfer_refusal",
                 "bill_differences"}
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
        differences = (
            _bill_differences(doc["bill_differences"], now or datetime.now().astimezone())
            if "bill_differences" in doc else None
        )
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
            if differences is not None:
                self.bill_differences = differences

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snapshot = {
                **self.counters,
                "delay_notifications": self.delay_notifications,
                "system_error": [dict(r) for r in self.system_errors],
                "timeout": [dict(r) for r in self.timeouts],
                "transfer_refusal": [dict(r) for r in self.transfer_refusals],
            }
            if self.bill_differences != BillDifferences():  # shown only while some are planted
                snapshot["bill_differences"] = self.bill_differences.public()
            return snapshot

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
