"""The settlement run's ports: releasing what is due and the payout rows (implemented in settlement/storage,
built by gateway/storage/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from settlement.domain.ledger import JournalEntry


@dataclass(frozen=True, slots=True)
class PayoutPart:
    payout_id: str
    part: int
    out_biz_no: str  # payouts.transfer_reference(payout_id, part)
    amount: int
    state: str  # SENT, PAID, FAILED, REFUSED_FOR_NOW, UNKNOWN


@dataclass(frozen=True, slots=True)
class Payout:
    payout_id: str
    merchant_id: str
    run_date: date
    amount: int
    state: str  # SENT, PAID, FAILED, UNKNOWN, PARKED
    failures: int  # the merchant's failed runs so far, this one included
    payee_logon_id: str
    payee_name: str
    #: The rail account that sends it (`run.rail_account`); "" for payouts made before it was recorded.
    rail_account: str = ""


@dataclass(frozen=True, slots=True)
class DueDays:
    """What a run releases: settlement days up to `t0_until` under T+0, up to `t15_until` under T+15
    (`calendar.Calendar.last_day_due`, in calendar or working days)."""

    run_date: date
    t0_until: date
    t15_until: date


class ReleaseRepository(Protocol):
    def merchants_due(self, due: DueDays, after: str, limit: int) -> list[str]: ...

    def release(self, due_days: DueDays, merchant_ids: Sequence[str], at: datetime) -> list[JournalEntry]:
        """Book, in the caller's transaction, the releases due for these merchants."""

    def merchants_with_available(self, after: str, limit: int) -> list[str]:
        """Merchants (ordered, after `after`) whose available balance is not zero."""


class PayoutRepository(Protocol):
    def lock_merchant(self, merchant_id: str) -> bool: ...

    def payee(self, merchant_id: str) -> tuple[str, str] | None: ...

    def get(self, merchant_id: str, run_date: date) -> Payout | None: ...

    def by_id(self, payout_id: str) -> Payout | None: ...

    def latest(self, merchant_id: str, before: date) -> Payout | None: ...

    def add(self, payout: Payout, parts: list[PayoutPart], at: datetime) -> None: ...

    def parts(self, payout_id: str) -> list[PayoutPart]: ...

    def open_payouts(self, run_date: date) -> list[Payout]: ...

    def settle_part(self, out_biz_no: str, states: tuple[str, ...], state: str, rail_reference: str,
                    failure_reason: str, at: datetime) -> bool: ...

    def finish(self, payout_id: str, from_states: tuple[str, ...], state: str, failures: int,
               at: datetime) -> bool: ...

    def unpark(self, merchant_id: str, at: datetime) -> Payout | None:
        """The merchant's latest payout, if PARKED, marked FAILED with the failure count reset (the next run
        pays again), as it was before; None, nothing changed, when the latest payout is not parked."""

    def negative_since(self, merchant_id: str) -> date | None: ...

    def set_negative_since(self, merchant_id: str, since: date | None, at: datetime) -> None: ...

    def negative_merchants(self, after: str, limit: int) -> list[str]: ...
