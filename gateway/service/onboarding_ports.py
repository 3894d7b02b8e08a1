"""The ports merchant onboarding needs (gateway/service/onboarding.py), beside the unit of work's others in
ports.py: one repository per aggregate, implemented in gateway/storage/ (applications.py, …)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from gateway.domain.merchants import Merchant, SettlementPlan
from gateway.domain.onboarding.application import Application, ApplicationState, Kind
from gateway.domain.onboarding.audit import AuditEvent
from gateway.domain.onboarding.documents import Document
from gateway.domain.onboarding.settlement import Deposit, DepositState, PlanChange
from gateway.domain.onboarding.verification import Attempt, AttemptState
from gateway.service.ports import UnitOfWork
from settlement.service.ledger_ports import LedgerRepository


@dataclass(frozen=True, slots=True)
class ApplicationQuery:
    state: ApplicationState | None = None
    kind: Kind | None = None
    applicant_account_id: str | None = None
    after_id: str | None = None
    limit: int = 20


class ApplicationRepository(Protocol):
    def add(self, application: Application) -> bool:
        """Store a new application; False when an open or approved one holds its merchant id already."""

    def get(self, application_id: str) -> Application | None: ...

    def lock(self, application_id: str) -> Application | None:
        """Read it and lock its row until the transaction ends (PostgreSQL: SELECT … FOR UPDATE): the first
        lock of every change to an application, before the merchant it creates or changes."""

    def save(self, application: Application, expected: ApplicationState) -> bool:
        """Write the application only if its stored state is still `expected`: the database decides a race."""

    def latest_for_merchant(self, merchant_id: str) -> Application | None:
        """The newest application asking for `merchant_id` (the approved one, once there is one)."""

    def list(self, query: ApplicationQuery) -> builtins.list[Application]:
        """Newest first, strictly older than `after_id` when given."""

    def closed_before(self, before: datetime, limit: int) -> builtins.list[str]:
        """Ids of REJECTED or WITHDRAWN applications decided (or last changed) before `before` that still have
        documents."""


class DocumentRepository(Protocol):
    def add(self, document: Document) -> bool:
        """Store the document; False when the application holds the same content already."""

    def get(self, application_id: str, sha256: str, with_content: bool = False) -> Document | None: ...

    def of_application(self, application_id: str) -> list[Document]:
        """Without their content, oldest first."""

    def count(self, application_id: str) -> int: ...

    def delete_of(self, application_id: str) -> int: ...


class VerificationRepository(Protocol):
    def add(self, attempt: Attempt) -> None: ...

    def latest(self, application_id: str) -> Attempt | None: ...

    def save(self, attempt: Attempt, expected: AttemptState, expected_wrong_answers: int) -> bool:
        """Write state, wrong answers, refusal and rail reference only if the stored attempt is still in
        `expected` with `expected_wrong_answers`: concurrent answers count once each, decide once."""

    def count_since(self, application_id: str, since: datetime) -> int:
        """Attempts started at or after `since`."""

    def close_open(self, application_id: str, state: AttemptState) -> int:
        """Move every SENDING or SENT attempt of the application to `state`."""


class SettlementPlanRepository(Protocol):
    def changes(self, merchant_id: str) -> list[PlanChange]:
        """Oldest first."""

    def put(self, change: PlanChange) -> None:
        """Store the change, replacing one effective on the same day; changes effective later are dropped
        (a new choice replaces what was scheduled)."""


class DepositRepository(Protocol):
    def add(self, deposit: Deposit) -> bool:
        """Store the deposit; False when the merchant has one with its external reference already."""

    def get(self, merchant_id: str, deposit_id: str) -> Deposit | None: ...

    def get_by_reference(self, merchant_id: str, external_reference: str) -> Deposit | None: ...

    def of_merchant(self, merchant_id: str) -> list[Deposit]:
        """Newest first."""

    def save(self, deposit: Deposit, expected: DepositState) -> bool: ...

    def releasing_due(self, day: date, limit: int) -> list[Deposit]:
        """Deposits RELEASING whose `release_on` is `day` or earlier (the settlement run gives them back)."""


class AuditRepository(Protocol):
    def add(self, event: AuditEvent) -> None: ...

    def list(self, application_id: str | None, merchant_id: str | None, after_id: str | None,
             limit: int) -> builtins.list[AuditEvent]:
        """Newest first."""


@dataclass(frozen=True, slots=True)
class SquareListing:
    app_id: str
    display_name: str
    description: str


class SquareRepository(Protocol):
    """The application square: apps open to merchants."""

    def list(self, after_id: str | None, limit: int) -> builtins.list[SquareListing]:
        """Listed, enabled apps in id order."""

    def get(self, app_id: str) -> SquareListing | None:
        """The app if it exists and is enabled, listed or not."""

    def set_listing(self, app_id: str, listed: bool, description: str) -> bool: ...


class MerchantSetupRepository(Protocol):
    """What onboarding changes of a merchant, beside MerchantRepository's plain reads and writes."""

    def lock(self, merchant_id: str) -> Merchant | None:
        """Read the merchant and lock its row until the transaction ends (after its application's row)."""

    def link_application(self, merchant_id: str, application_id: str) -> None: ...

    def set_account_verified(self, merchant_id: str) -> bool:
        """Mark its payout account verified; True when it was not before (decides concurrent calls)."""

    def set_plan(self, merchant_id: str, plan: SettlementPlan) -> None:
        """The merchant row's plan: the latest chosen (its effective date is in settlement_plans)."""

    def authorized_apps(self, merchant_id: str) -> builtins.list[str]:
        """The apps the merchant has authorised, in id order."""


class OnboardingUnitOfWork(UnitOfWork, Protocol):
    @property
    def applications(self) -> ApplicationRepository: ...

    @property
    def documents(self) -> DocumentRepository: ...

    @property
    def verifications(self) -> VerificationRepository: ...

    @property
    def plans(self) -> SettlementPlanRepository: ...

    @property
    def deposits(self) -> DepositRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def square(self) -> SquareRepository: ...

    @property
    def merchant_setup(self) -> MerchantSetupRepository: ...

    @property
    def ledger(self) -> LedgerRepository:
        """Settlement's ledger: deposits and verification transfers are booked in the transaction that records
        them."""

    def __enter__(self) -> OnboardingUnitOfWork: ...


class OnboardingUnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> OnboardingUnitOfWork: ...


