"""The unit of work settlement's use cases need: the gateway's, with the ledger's repositories (implemented in
settlement/storage, built by gateway/storage/unit_of_work.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from gateway.service.onboarding_ports import (
    AuditRepository,
    DepositRepository,
    MerchantSetupRepository,
    SettlementPlanRepository,
)
from gateway.service.ports import UnitOfWork
from settlement.domain.reconciliation import Report, Rules
from settlement.service.ledger_ports import LedgerBackfillRepository, LedgerRepository
from settlement.service.payout_ports import PayoutRepository, ReleaseRepository


class SettlementUnitOfWork(UnitOfWork, Protocol):
    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def ledger_backfill(self) -> LedgerBackfillRepository: ...

    @property
    def plans(self) -> SettlementPlanRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def merchant_setup(self) -> MerchantSetupRepository: ...

    @property
    def ledger_release(self) -> ReleaseRepository: ...

    @property
    def settlement_payouts(self) -> PayoutRepository: ...

    @property
    def reconciliations(self) -> ReconciliationRepository: ...

    @property
    def deposits(self) -> DepositRepository: ...

    def __enter__(self) -> SettlementUnitOfWork: ...


class SettlementUnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> SettlementUnitOfWork: ...


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    """A run of one day's reconciliation of one statement (settlement/service/reconcile.py)."""

    reconciliation_id: int
    run_id: str  # names the run's staging rows
    day: date
    kind: str  # TRADES or ACCOUNT
    source: str


class ReconciliationRepository(Protocol):
    def begin(self, day: date, kind: str, source: str, at: datetime) -> ReconciliationRun: ...

    def stage(self, run: ReconciliationRun, rows: Sequence[tuple[Any, ...]]) -> None:
        """A batch of the statement's lines (tuples in settlement/storage/reconciliation.LINE_COLUMNS' order)."""

    def finish(self, run: ReconciliationRun, rules: Rules, at: datetime) -> Report:
        """Classify the staged lines against our movements, book and record, in the caller's transaction."""

    def abandon(self, run: ReconciliationRun) -> None: ...

    def report(self, day: date, kind: str, source: str) -> Report | None: ...

    def has_movements(self, rules: Rules) -> bool:
        """Whether the ledger has any movement of ours the statement would show, for its day and window."""
