"""The unit of work settlement's use cases need: the gateway's, with the ledger's repositories (implemented in
settlement/storage, built by gateway/storage/unit_of_work.py)."""

from __future__ import annotations

from typing import Protocol

from gateway.service.onboarding_ports import (
    AuditRepository,
    MerchantSetupRepository,
    SettlementPlanRepository,
)
from gateway.service.ports import UnitOfWork
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

    def __enter__(self) -> SettlementUnitOfWork: ...


class SettlementUnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> SettlementUnitOfWork: ...
