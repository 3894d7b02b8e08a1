"""Settlement plans and deposits, as onboarding sets them (the ledger that pays out by them is settlement's).

A plan change takes effect on the next settlement day (a calendar day in China time, UTC+8 all year): the
stored change carries that date, and the plan of a day is the last change effective on or before it (T+15
when there is none). T+0 needs a deposit held: `[settlement] deposit_required` fen (20,000.00 CNY by
default). A deposit is released at once when no T+0 is in effect or scheduled (or the other deposits still
cover it); otherwise its release switches the merchant to T+15 from the next settlement day and waits for
that day, so a T+0 merchant is never without its deposit.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from gateway.domain.errors import FailedPrecondition
from gateway.domain.merchants import SettlementPlan
from gateway.domain.onboarding.ids import new_id

CHINA = timezone(timedelta(hours=8), "CST")
DEFAULT_DEPOSIT_REQUIRED = 2_000_000  # fen: 20,000.00 CNY
EXTERNAL_REFERENCE = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def settlement_day(at: datetime) -> date:
    return at.astimezone(CHINA).date()


def next_settlement_day(at: datetime) -> date:
    return settlement_day(at) + timedelta(days=1)


def day_start(day: date) -> datetime:
    """The instant a settlement day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


@dataclass(frozen=True, slots=True)
class PlanChange:
    merchant_id: str
    plan: SettlementPlan
    effective_on: date
    set_at: datetime


def plan_on(changes: Iterable[PlanChange], day: date) -> SettlementPlan:
    effective = [c for c in changes if c.effective_on <= day]
    return max(effective, key=lambda c: c.effective_on).plan if effective else SettlementPlan.T15


def scheduled_change(changes: Iterable[PlanChange], day: date) -> PlanChange | None:
    """The change that takes effect after `day`, if any (at most one: a later change replaces it)."""
    later = [c for c in changes if c.effective_on > day]
    return max(later, key=lambda c: c.effective_on) if later else None


class DepositState(enum.Enum):
    HELD = "HELD"
    RELEASING = "RELEASING"  # released on `release_on`, once T+15 is in effect
    RELEASED = "RELEASED"


@dataclass(frozen=True, slots=True)
class Deposit:
    id: str
    merchant_id: str
    amount: int  # fen
    external_reference: str  # the operator's reference of the money received; a deposit's identity
    state: DepositState
    recorded_at: datetime
    release_on: date | None = None
    released_at: datetime | None = None

    @classmethod
    def record(cls, merchant_id: str, amount: int, external_reference: str, now: datetime) -> Deposit:
        return cls(id=new_id("dep_", now), merchant_id=merchant_id,
                   amount=amount, external_reference=external_reference, state=DepositState.HELD,
                   recorded_at=now)

    def held_on(self, day: date) -> bool:
        if self.state is DepositState.HELD:
            return True
        return self.state is DepositState.RELEASING and self.release_on is not None and day < self.release_on


def held_amount(deposits: Iterable[Deposit]) -> int:
    """What counts towards T+0: deposits HELD (not those on their way back)."""
    return sum(d.amount for d in deposits if d.state is DepositState.HELD)


def check_can_switch(merchant_id: str, plan: SettlementPlan, held: int, required: int) -> None:
    if plan is SettlementPlan.T0 and held < required:
        missing = required - held
        raise FailedPrecondition(
            f"T+0 needs a deposit of {required} fen held for merchant {merchant_id}; {held} fen is held, "
            f"{missing} fen is missing",
            reason="DEPOSIT_REQUIRED",
            metadata={"merchant": merchant_id, "required": str(required), "held": str(held),
                      "missing": str(missing)})


@dataclass(frozen=True, slots=True)
class Release:
    deposit: Deposit
    plan_change: PlanChange | None  # the switch to T+15 the release needs, if any


def release(deposit: Deposit, others: Iterable[Deposit], changes: Iterable[PlanChange], required: int,
            now: datetime) -> Release:
    """Release `deposit` now, or schedule it with a switch to T+15 (see the module). A T+0 only scheduled (not
    in effect yet) is cancelled: the merchant stays on T+15 and the deposit goes at once."""
    if deposit.state is not DepositState.HELD:
        raise FailedPrecondition(f"deposit {deposit.id} is {deposit.state.value}, not HELD",
                                 reason="DEPOSIT_NOT_HELD", metadata={"deposit": deposit.id})
    changes = list(changes)
    today = settlement_day(now)
    pending = scheduled_change(changes, today)
    still_held = held_amount(d for d in others if d.id != deposit.id)
    released = Release(replace(deposit, state=DepositState.RELEASED, released_at=now), None)
    if still_held >= required:
        return released
    if plan_on(changes, today) is SettlementPlan.T15:
        if pending is None or pending.plan is SettlementPlan.T15:
            return released
        return replace(released, plan_change=PlanChange(deposit.merchant_id, SettlementPlan.T15,
                                                        pending.effective_on, now))
    if pending is not None and pending.plan is SettlementPlan.T15:  # T+15 is coming already: wait for it
        return Release(replace(deposit, state=DepositState.RELEASING, release_on=pending.effective_on), None)
    switch_on = next_settlement_day(now)
    switch = PlanChange(deposit.merchant_id, SettlementPlan.T15, switch_on, now)
    return Release(replace(deposit, state=DepositState.RELEASING, release_on=switch_on), switch)
