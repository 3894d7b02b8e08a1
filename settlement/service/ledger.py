"""Ledger use cases beside the payment path: booking what succeeded before settlement existed (`backfill`),
caching balances (`refresh_balances`) and proving the cache against the postings (`recompute_balances`).
Each runs in one transaction of its own, never in a payment's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from settlement.domain.calendar import DEFAULT_CUTOFF
from settlement.domain.fees import RefundFeePolicy
from settlement.service.ledger_ports import BackfillReport, BalanceDifference
from settlement.service.ports import SettlementUnitOfWorkFactory


def _utc_now() -> datetime:
    return datetime.now(UTC)


def backfill(uow: SettlementUnitOfWorkFactory, *, cutoff: time = DEFAULT_CUTOFF,
             refund_policy: RefundFeePolicy = RefundFeePolicy.PRO_RATA,
             now: Callable[[], datetime] = _utc_now) -> BackfillReport:
    """Book every paid payment and succeeded refund that has no entry yet, in one transaction, set-based
    (settlement/storage/backfill.py). Idempotent: a second run, or two at once, adds nothing. Refuses,
    changing nothing, rows the domain would refuse."""
    with uow(write=True) as tx:
        report = tx.ledger_backfill.book(now(), cutoff, refund_policy)
        tx.commit()
    return report


@dataclass
class BalanceCheck:
    """What a recomputation found: every list empty and `total` 0, or the ledger is wrong."""

    accounts: int = 0  # cached rows compared
    total: int = 0  # the sum of every posting
    unbalanced_entries: list[int] = field(default_factory=list)
    differences: list[BalanceDifference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.total == 0 and not self.unbalanced_entries and not self.differences


def refresh_balances(uow: SettlementUnitOfWorkFactory, *, now: Callable[[], datetime] = _utc_now) -> int:
    """Bring every cached balance up to the entries committed for good (the settled watermark, taken in a
    short transaction of its own first), adding only the postings of the entries booked since the last
    refresh (settlement/storage/ledger.py); returns the number of cached rows. Refreshes run one at a
    time. `recompute_balances` recomputes from scratch to prove it."""
    with uow(write=True) as tx:
        as_of = tx.ledger.settled_watermark()
        tx.commit()
    with uow(write=True) as tx:
        cached = tx.ledger.refresh_cache(now(), as_of)
        tx.commit()
    return cached


def recompute_balances(uow: SettlementUnitOfWorkFactory) -> BalanceCheck:
    """Recompute every cached balance from the postings and report what differs (must be nothing), with
    the entries that do not balance and the ledger's total (must be none, and 0). Writes nothing."""
    with uow() as tx:
        differences = tx.ledger.compare_cache()
        return BalanceCheck(accounts=len(tx.ledger.cached_balances()), total=tx.ledger.total(),
                            unbalanced_entries=tx.ledger.unbalanced_entries(), differences=differences)
