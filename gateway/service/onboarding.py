"""Merchant onboarding use cases (issue 17): applications and their review, documents, payout-account
verification through the rail, settlement plans and deposits, app authorisation, the audit trail, and the
collection check the payment path asks.

Every change writes its audit row (who, when, what, before and after) and its outbox events in the
transaction of the change, after claiming the call's idempotency-key first (gateway/service/idempotency.py).
Lock order within those transactions: the idempotency key, the application's row, the merchant's row, then
what hangs off them (documents, attempts, plans, deposits, grants), the audit row, the events.

A verification transfer is never sent inside a transaction: the attempt is stored (SENDING) and committed,
the rail is asked, and its answer recorded in a second transaction, as refunds do (service/refunds.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from gateway.domain.errors import (
    AlreadyExists,
    ChannelUnavailable,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Violations,
)
from gateway.domain.events import MERCHANT_APPROVED, MERCHANT_COLLECTION_ENABLED
from gateway.domain.ids import utcnow
from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.domain.onboarding import collection
from gateway.domain.onboarding.application import (
    AccountState,
    Application,
    ApplicationForm,
    ApplicationState,
    Decision,
    Kind,
    application_snapshot,
    check_eligible,
    new_application_id,
    validate_decision,
    validate_form,
)
from gateway.domain.onboarding.audit import Actor, ActorKind, AuditEvent
from gateway.domain.onboarding.documents import MAX_DOCUMENTS, Document, check_document, new_document
from gateway.domain.onboarding.notices import authorization_event, merchant_event, rejected_event
from gateway.domain.onboarding.settlement import (
    DEFAULT_DEPOSIT_REQUIRED,
    EXTERNAL_REFERENCE,
    Deposit,
    DepositState,
    PlanChange,
    check_can_switch,
    day_start,
    held_amount,
    next_settlement_day,
    plan_on,
    release,
    scheduled_change,
    settlement_day,
)
from gateway.domain.onboarding.verification import (
    Attempt,
    AttemptState,
    check_attempts_left,
    no_open_attempt,
)
from gateway.domain.validation import check_amount, check_currency, check_text
from gateway.service import idempotency, paging
from gateway.service.merchant_cache import MerchantCache
from gateway.service.onboarding_ports import (
    ApplicationQuery,
    OnboardingUnitOfWork,
    OnboardingUnitOfWorkFactory,
    SquareListing,
)
from gateway.service.ports import PayoutAccountTransfers, TransferResult
from settlement.domain.calendar import DEFAULT_CUTOFF
from settlement.domain.calendar import settlement_day as ledger_day
from settlement.domain.ledger import deposit_recorded, deposit_released, verification_transfer

log = logging.getLogger(__name__)

SYSTEM = Actor(ActorKind.SYSTEM, "gateway")


@dataclass(frozen=True, slots=True)
class ApplicationView:
    application: Application
    documents: list[Document]


@dataclass(frozen=True, slots=True)
class Schedule:
    merchant_id: str
    plan: SettlementPlan  # in effect today (China time)
    next_plan: SettlementPlan | None
    next_plan_on: Any  # datetime.date | None
    deposit_held: int
    deposit_required: int


@dataclass(frozen=True, slots=True)
class Authorization:
    merchant_id: str
    app_id: str
    at: datetime


def _application_not_found(application_id: str) -> NotFound:
    return NotFound(f"application {application_id} does not exist", reason="APPLICATION_NOT_FOUND",
                    metadata={"application": application_id})


def _merchant_not_found(merchant_id: str) -> NotFound:
    return NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND",
                    metadata={"merchant": merchant_id})


def _merchant_snapshot(m: Merchant) -> dict[str, Any]:
    return {"id": m.id, "display_name": m.display_name, "state": m.state.value,
            "settlement_account_verified": m.settlement_account_verified,
            "business_category": m.business_category, "settlement_plan": m.settlement_plan.value}


def _attempt_snapshot(a: Attempt) -> dict[str, Any]:
    # Never the amount: it is what the applicant must prove to have received.
    return {"id": a.id, "state": a.state.value, "wrong_answers": a.wrong_answers, "refusal": a.refusal,
            "rail_reference": a.rail_reference}


def _deposit_snapshot(d: Deposit) -> dict[str, Any]:
    return {"id": d.id, "amount": d.amount, "external_reference": d.external_reference, "state": d.state.value,
            "release_on": d.release_on.isoformat() if d.release_on else None}


def _schedule_snapshot(s: Schedule) -> dict[str, Any]:
    return {"plan": s.plan.value, "next_plan": s.next_plan.value if s.next_plan else None,
            "next_plan_on": s.next_plan_on.isoformat() if s.next_plan_on else None}


class OnboardingService:
    def __init__(self, uow: OnboardingUnitOfWorkFactory, transfers: PayoutAccountTransfers | None = None, *,
                 individuals_open: bool = False, deposit_required: int = DEFAULT_DEPOSIT_REQUIRED,
                 retention_days: int = 90, clock: Callable[[], datetime] = utcnow,
                 merchants: MerchantCache | None = None, cutoff: time = DEFAULT_CUTOFF):
        self.uow = uow
        self.transfers = transfers
        self.individuals_open = individuals_open
        self.deposit_required = deposit_required
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self.merchants = merchants  # the payment path's cache: a change here drops its entry at once
        self.cutoff = cutoff  # the settlement day's cut-off, for the ledger entries booked here

    # --- applications ---------------------------------------------------------------------------------

    def submit(self, actor: Actor, form: ApplicationForm, field_prefix: str = "") -> Application:
        check_eligible(form.basic.kind, self.individuals_open)
        validate_form(form, prefix=field_prefix)
        now = self.clock()
        application = Application.submit(application_id=new_application_id(now), form=form, now=now)
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application.id, now)
            if uow.merchants.get(form.merchant_id) is not None or not uow.applications.add(application):
                raise AlreadyExists(
                    f"merchant id {form.merchant_id} is taken: a merchant or an open or approved application "
                    "has it", reason="MERCHANT_ID_TAKEN", metadata={"merchant": form.merchant_id})
            self._audit(uow, actor, "application.submitted", application, None, now)
            uow.commit()
        return application

    def get_application(self, application_id: str) -> ApplicationView:
        with self.uow() as uow:
            application = uow.applications.get(application_id)
            if application is None:
                raise _application_not_found(application_id)
            return ApplicationView(application, uow.documents.of_application(application_id))

    def list_applications(self, *, state: ApplicationState | None = None, kind: Kind | None = None,
                          applicant_account_id: str = "", page_size: int = 0,
                          page_token: str = "") -> tuple[list[Application], str]:
        size = paging.page_size(page_size)
        filters = ("applications", state, kind, applicant_account_id)
        after = paging.decode_token(page_token, filters)
        with self.uow() as uow:
            rows = uow.applications.list(ApplicationQuery(state=state, kind=kind,
                                                          applicant_account_id=applicant_account_id or None,
                                                          after_id=after, limit=size + 1))
        page = rows[:size]
        return page, paging.encode_token(page[-1].id, filters) if len(rows) > size else ""

    def update(self, actor: Actor, application_id: str, form: ApplicationForm,
               field_prefix: str = "") -> Application:
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application_id, now)
            before = self._lock(uow, application_id)
            # What was fixed at submission stays: the merchant id, the applicant and its kind.
            fixed = replace(form, merchant_id=before.form.merchant_id,
                            basic=replace(form.basic, applicant_account_id=before.form.basic.applicant_account_id,
                                          kind=before.form.basic.kind))
            validate_form(fixed, prefix=field_prefix)
            after = before.updated(fixed, now)
            if after.account_state is not before.account_state:
                uow.verifications.close_open(application_id, AttemptState.SUPERSEDED)
            self._save(uow, after, before.state)
            self._audit(uow, actor, "application.updated", after, before, now)
            uow.commit()
        self._invalidate(after.merchant_id)  # a merchant created directly meanwhile is judged by it
        return after

    def withdraw(self, actor: Actor, application_id: str) -> Application:
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application_id, now)
            before = self._lock(uow, application_id)
            after = before.withdrawn(now)
            uow.verifications.close_open(application_id, AttemptState.SUPERSEDED)
            self._save(uow, after, before.state)
            self._audit(uow, actor, "application.withdrawn", after, before, now)
            uow.commit()
        self._invalidate(after.merchant_id)
        return after

    def review(self, actor: Actor, application_id: str, decision: Decision | None,
               reason: str = "") -> tuple[Application, Merchant | None]:
        """Approve (the merchant is created), reject or send back. Of concurrent reviews exactly one decides:
        the application's row is locked and its state written only if still SUBMITTED."""
        validate_decision(decision, reason)
        assert decision is not None
        now = self.clock()
        merchant: Merchant | None = None
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application_id, now)
            before = self._lock(uow, application_id)
            after = before.reviewed(decision, reason.strip(), actor.id, now)
            if decision is Decision.APPROVE and before.kind.has_business and uow.documents.count(application_id) == 0:
                raise FailedPrecondition(
                    f"application {application_id} has no document: a business licence is needed to approve it",
                    reason="DOCUMENTS_MISSING", metadata={"application": application_id})
            self._save(uow, after, before.state)
            action = {Decision.APPROVE: "application.approved", Decision.REJECT: "application.rejected",
                      Decision.SEND_BACK: "application.sent_back"}[decision]
            self._audit(uow, actor, action, after, before, now)
            if decision is Decision.APPROVE:
                merchant = self._create_merchant(uow, actor, after, now)
            elif decision is Decision.REJECT:
                uow.verifications.close_open(application_id, AttemptState.SUPERSEDED)
                for app_id in uow.merchant_setup.authorized_apps(after.merchant_id):
                    uow.events.add(rejected_event(after, app_id, now))
            uow.commit()
        # Every decision, not only an approval: the payment path caches the merchant with its application.
        self._invalidate(after.merchant_id)
        return after, merchant

    def _create_merchant(self, uow: OnboardingUnitOfWork, actor: Actor, application: Application,
                         now: datetime) -> Merchant:
        f = application.form
        merchant = Merchant(id=f.merchant_id, display_name=f.display_name, state=MerchantState.APPROVED,
                            settlement_account_verified=application.account_state is AccountState.VERIFIED,
                            business_category=f.business.business_category, settlement_plan=SettlementPlan.T15,
                            created_at=now)
        if not uow.merchants.add(merchant):
            # A merchant created outside onboarding since the submission (`cashier merchants create`).
            raise AlreadyExists(f"merchant {merchant.id} already exists", reason="MERCHANT_ID_TAKEN",
                                metadata={"merchant": merchant.id})
        uow.merchant_setup.link_application(merchant.id, application.id)
        uow.audit.add(AuditEvent.create(actor=actor, action="merchant.created", subject=f"merchants/{merchant.id}",
                                        now=now, application_id=application.id, merchant_id=merchant.id,
                                        after=_merchant_snapshot(merchant)))
        for app_id in uow.merchant_setup.authorized_apps(merchant.id):  # none yet, unless granted beforehand
            uow.events.add(merchant_event(MERCHANT_APPROVED, merchant, app_id, now))
        return merchant

    # --- documents ------------------------------------------------------------------------------------

    def add_document(self, actor: Actor, application_id: str, content: bytes, field: str = "content") -> Document:
        v = Violations()
        kind = check_document(content, v, field)
        v.raise_if_any()
        assert kind is not None
        now = self.clock()
        document = new_document(application_id, content, kind, now)
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application_id, now)
            application = self._lock(uow, application_id)
            if application.state not in (ApplicationState.SUBMITTED, ApplicationState.SENT_BACK):
                raise FailedPrecondition(
                    f"application {application_id} is {application.state.value}: documents are added only while "
                    "it is SUBMITTED or SENT_BACK", reason="APPLICATION_STATE_CONFLICT",
                    metadata={"application": application_id, "state": application.state.value})
            existing = uow.documents.get(application_id, document.sha256)
            if existing is not None:
                return existing  # the same bytes again: one document (nothing to commit)
            if uow.documents.count(application_id) >= MAX_DOCUMENTS:
                raise FailedPrecondition(f"application {application_id} has {MAX_DOCUMENTS} documents, the most "
                                         "it may hold", reason="TOO_MANY_DOCUMENTS",
                                         metadata={"application": application_id})
            uow.documents.add(document)
            uow.audit.add(AuditEvent.create(
                actor=actor, action="document.added", now=now, application_id=application_id,
                subject=f"applications/{application_id}/documents/{document.sha256}",
                after={"sha256": document.sha256, "content_type": document.type.value, "size": document.size}))
            uow.commit()
        return replace(document, content=None)

    def read_document(self, actor: Actor, application_id: str, sha256: str) -> Document:
        """A document with its bytes; the read is audited (in a write transaction of its own)."""
        now = self.clock()
        with self.uow(write=True) as uow:
            document = uow.documents.get(application_id, sha256, with_content=True)
            if document is None:
                raise NotFound(f"application {application_id} has no document {sha256}", reason="DOCUMENT_NOT_FOUND",
                               metadata={"application": application_id})
            uow.audit.add(AuditEvent.create(actor=actor, action="document.read", now=now,
                                            subject=f"applications/{application_id}/documents/{sha256}",
                                            application_id=application_id))
            uow.commit()
        return document

    def purge_documents(self, limit: int = 100) -> int:
        """Delete the documents of applications rejected or withdrawn longer than `[onboarding]
        retention_days` ago; returns how many applications lost theirs."""
        now = self.clock()
        done = 0
        with self.uow(write=True) as uow:
            for application_id in uow.applications.closed_before(now - self.retention, limit):
                deleted = uow.documents.delete_of(application_id)
                uow.audit.add(AuditEvent.create(actor=SYSTEM, action="documents.purged", now=now,
                                                subject=f"applications/{application_id}",
                                                application_id=application_id, before={"documents": deleted}))
                done += 1
            uow.commit()
        return done

    # --- payout-account verification ------------------------------------------------------------------

    def start_verification(self, actor: Actor, application_id: str, amount: int | None = None) -> Attempt:
        """Send a random amount to the application's payout account (`amount` only for tests of this
        layer: the rail's refusal is recorded either way). Ends an attempt still open."""
        if self.transfers is None:
            # Refused here, before an attempt is stored: a transfer that cannot be sent is no attempt.
            raise FailedPrecondition("no payout rail is installed: account verification needs one, e.g. the "
                                     "Alipay payouts plugin in certificate mode", reason="TRANSFERS_NOT_CONFIGURED")
        now = self.clock()
        attempt = Attempt.start(application_id, now, amount)
        with self.uow(write=True) as uow:
            idempotency.claim(uow, attempt.id, now)
            before = self._lock(uow, application_id)
            before.check_can_verify()
            today = day_start(settlement_day(now))
            check_attempts_left(uow.verifications.count_since(application_id, today), application_id, now)
            uow.verifications.close_open(application_id, AttemptState.SUPERSEDED)
            uow.verifications.add(attempt)
            after = before.with_account(AccountState.VERIFYING, now)
            self._save(uow, after, before.state)
            self._audit(uow, actor, "verification.started", after, before, now, extra=_attempt_snapshot(attempt))
            uow.commit()
        form = before.form
        try:
            result = self.transfers.send(form.financial.payout_logon_id, form.financial.holder_name, attempt.amount,
                                         attempt.id)
        except Exception as exc:  # noqa: BLE001 - any failure of the rail leaves the answer unknown
            # Unknown: the money may have arrived, so the attempt stays open for the applicant's answer.
            log.warning("verification transfer %s: answer unknown (%s)", attempt.id, type(exc).__name__)
            raise ChannelUnavailable("the rail did not answer the verification transfer; if the money arrives, "
                                     "confirm its amount, otherwise start a new attempt later",
                                     reason="TRANSFER_UNKNOWN", metadata={"application": application_id}) from None
        return self._record_transfer(actor, attempt, result)

    def _record_transfer(self, actor: Actor, attempt: Attempt, result: TransferResult) -> Attempt:
        now = self.clock()
        if result.sent:
            sent = replace(attempt, state=AttemptState.SENT, rail_reference=result.reference[:64])
        else:
            sent = replace(attempt, state=AttemptState.REFUSED, refusal=result.refusal[:500])
        with self.uow(write=True) as uow:
            before = self._lock(uow, attempt.application_id)
            if not uow.verifications.save(sent, AttemptState.SENDING, 0):
                # Superseded or answered meanwhile: what is stored stands.
                return uow.verifications.latest(attempt.application_id) or sent
            if result.sent:
                # The platform's cost of onboarding, from its own balance at the rail; no merchant's money.
                uow.ledger.append([verification_transfer("", attempt.id, attempt.amount)],
                                  settlement_day=ledger_day(now, self.cutoff), at=now)
            if not result.sent:
                after = before.with_account(AccountState.FAILED, now)
                self._save(uow, after, before.state)
                self._audit(uow, actor, "verification.refused", after, before, now, extra=_attempt_snapshot(sent))
            uow.commit()
        if not result.sent:
            raise FailedPrecondition(f"the rail refused the verification transfer: {sent.refusal}",
                                     reason="TRANSFER_REFUSED",
                                     metadata={"application": attempt.application_id, "attempt": attempt.id})
        return sent

    def confirm_verification(self, actor: Actor, application_id: str, amount: int) -> tuple[Application, Attempt]:
        """Check the amount the applicant received. Concurrent right answers verify once (one audit row, one
        collection_enabled); each wrong answer counts; the third ends the attempt."""
        if not 1 <= amount <= 10_000:
            raise InvalidArgument([FieldViolation("amount", "must be the amount received, in fen (10 to 99)")])
        now = self.clock()
        refusal: FailedPrecondition | None = None
        merchant_enabled: Merchant | None = None
        with self.uow(write=True) as uow:
            idempotency.claim(uow, application_id, now)
            before = self._lock(uow, application_id)
            attempt = uow.verifications.latest(application_id)
            if before.account_state is AccountState.VERIFIED and attempt is not None \
                    and attempt.state is AttemptState.VERIFIED:
                return before, attempt  # verified already (a repeated answer): nothing to write
            if attempt is None:
                raise no_open_attempt(application_id)
            answered = attempt.answered(amount, now)
            if not uow.verifications.save(answered, attempt.state, attempt.wrong_answers):
                raise FailedPrecondition("the verification attempt changed meanwhile; answer again",
                                         reason="CONCURRENT_UPDATE", metadata={"application": application_id})
            after = before
            if answered.state is AttemptState.VERIFIED:
                # The amount arrived, so the money left: booked here too when the rail's answer was unknown
                # (a replay of the entry booked when it answered SENT changes nothing).
                uow.ledger.append([verification_transfer("", attempt.id, attempt.amount)],
                                  settlement_day=ledger_day(now, self.cutoff), at=now)
                after = before.with_account(AccountState.VERIFIED, now)
                self._save(uow, after, before.state)
                self._audit(uow, actor, "verification.verified", after, before, now, extra=_attempt_snapshot(answered))
                merchant_enabled = self._enable_collection(uow, actor, after, now)
            elif answered.state in (AttemptState.FAILED, AttemptState.EXPIRED):
                after = before.with_account(AccountState.FAILED, now)
                self._save(uow, after, before.state)
                action = "verification.failed" if answered.state is AttemptState.FAILED else "verification.expired"
                self._audit(uow, actor, action, after, before, now, extra=_attempt_snapshot(answered))
                refusal = (FailedPrecondition(
                    "wrong amount, for the third time: this verification attempt has ended; start a new one",
                    reason="VERIFICATION_FAILED", metadata={"application": application_id, "attempt": attempt.id})
                    if answered.state is AttemptState.FAILED else FailedPrecondition(
                    "this verification attempt expired (48 hours); start a new one", reason="VERIFICATION_EXPIRED",
                    metadata={"application": application_id, "attempt": attempt.id}))
            else:
                refusal = FailedPrecondition(
                    f"wrong amount: {answered.answers_left} more answer(s) allowed for this attempt",
                    reason="WRONG_VERIFICATION_AMOUNT",
                    metadata={"application": application_id, "attempt": attempt.id,
                              "answers_left": str(answered.answers_left)})
            uow.commit()
        if merchant_enabled is not None:
            self._invalidate(merchant_enabled.id)
        if refusal is not None:
            raise refusal
        return after, answered

    def _enable_collection(self, uow: OnboardingUnitOfWork, actor: Actor, application: Application,
                           now: datetime) -> Merchant | None:
        """Once approved and verified, the merchant collects: mark it, audit it, tell its apps."""
        if application.state is not ApplicationState.APPROVED:
            return None
        merchant = uow.merchant_setup.lock(application.merchant_id)
        if merchant is None or not uow.merchant_setup.set_account_verified(merchant.id):
            return None
        enabled = replace(merchant, settlement_account_verified=True)
        uow.audit.add(AuditEvent.create(actor=actor, action="merchant.collection_enabled",
                                        subject=f"merchants/{merchant.id}", now=now, application_id=application.id,
                                        merchant_id=merchant.id, before=_merchant_snapshot(merchant),
                                        after=_merchant_snapshot(enabled)))
        for app_id in uow.merchant_setup.authorized_apps(merchant.id):
            uow.events.add(merchant_event(MERCHANT_COLLECTION_ENABLED, enabled, app_id, now))
        return enabled

    # --- collection -----------------------------------------------------------------------------------

    def collection_refusal(self, merchant_id: str) -> FailedPrecondition | None:
        """What the payment path raises for a merchant that may not collect (None: it may, as far as onboarding
        is concerned; Merchant.check_can_collect still applies to merchants created before onboarding)."""
        with self.uow() as uow:
            application = uow.applications.latest_for_merchant(merchant_id)
        return collection.collection_refusal(merchant_id, application, self.individuals_open)

    # --- settlement plans and deposits ----------------------------------------------------------------

    def schedule(self, merchant_id: str) -> Schedule:
        with self.uow() as uow:
            if uow.merchants.get(merchant_id) is None:
                raise _merchant_not_found(merchant_id)
            return self._schedule(uow, merchant_id, self.clock())

    def _schedule(self, uow: OnboardingUnitOfWork, merchant_id: str, now: datetime) -> Schedule:
        changes = uow.plans.changes(merchant_id)
        today = settlement_day(now)
        current = plan_on(changes, today)
        pending = scheduled_change(changes, today)
        if pending is not None and pending.plan is current:
            pending = None  # a change back to the plan in effect (a cancelled switch) changes nothing
        held = sum(d.amount for d in uow.deposits.of_merchant(merchant_id) if d.held_on(today))
        return Schedule(merchant_id, current, pending.plan if pending else None,
                        pending.effective_on if pending else None, held, self.deposit_required)

    def set_plan(self, actor: Actor, merchant_id: str, plan: SettlementPlan | None) -> Schedule:
        if plan is None:
            raise InvalidArgument([FieldViolation("plan", "required: SETTLEMENT_PLAN_T15 or SETTLEMENT_PLAN_T0")])
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, merchant_id, now)
            if uow.merchant_setup.lock(merchant_id) is None:
                raise _merchant_not_found(merchant_id)
            before = self._schedule(uow, merchant_id, now)
            check_can_switch(merchant_id, plan, held_amount(uow.deposits.of_merchant(merchant_id)),
                             self.deposit_required)
            if (before.next_plan or before.plan) is plan:
                return before  # already chosen: nothing changes
            uow.plans.put(PlanChange(merchant_id, plan, next_settlement_day(now), now))
            uow.merchant_setup.set_plan(merchant_id, plan)
            after = self._schedule(uow, merchant_id, now)
            uow.audit.add(AuditEvent.create(actor=actor, action="merchant.settlement_plan_set", now=now,
                                            subject=f"merchants/{merchant_id}/settlementSchedule",
                                            merchant_id=merchant_id, before=_schedule_snapshot(before),
                                            after=_schedule_snapshot(after)))
            uow.commit()
        self._invalidate(merchant_id)
        return after

    def record_deposit(self, actor: Actor, merchant_id: str, amount: int, external_reference: str,
                       currency: str = "CNY") -> Deposit:
        v = Violations()
        check_amount(v, "amount", amount)
        check_currency(v, "currency_code", currency)
        if not EXTERNAL_REFERENCE.fullmatch(external_reference):
            v.add("external_reference", "required: 1-64 letters, digits, '_' or '-'")
        v.raise_if_any()
        now = self.clock()
        deposit = Deposit.record(merchant_id, amount, external_reference, now)
        with self.uow(write=True) as uow:
            idempotency.claim(uow, deposit.id, now)
            if uow.merchant_setup.lock(merchant_id) is None:
                raise _merchant_not_found(merchant_id)
            existing = uow.deposits.get_by_reference(merchant_id, external_reference)
            if existing is None and uow.deposits.add(deposit):
                uow.ledger.append([deposit_recorded(merchant_id, deposit.id, amount)],
                                  settlement_day=ledger_day(now, self.cutoff), at=now)
                uow.audit.add(AuditEvent.create(actor=actor, action="deposit.recorded", now=now,
                                                subject=f"merchants/{merchant_id}/deposits/{deposit.id}",
                                                merchant_id=merchant_id, after=_deposit_snapshot(deposit)))
                uow.commit()
                return deposit
        existing = existing or self._deposit_by_reference(merchant_id, external_reference)
        if existing.amount != amount:
            raise AlreadyExists(
                f"deposit reference {external_reference} was recorded for merchant {merchant_id} with "
                f"{existing.amount} fen, not {amount}", reason="DEPOSIT_REFERENCE_IN_USE",
                metadata={"merchant": merchant_id, "deposit": existing.id})
        return existing

    def _deposit_by_reference(self, merchant_id: str, external_reference: str) -> Deposit:
        with self.uow() as uow:
            found = uow.deposits.get_by_reference(merchant_id, external_reference)
        assert found is not None
        return found

    def list_deposits(self, merchant_id: str) -> list[Deposit]:
        with self.uow() as uow:
            if uow.merchants.get(merchant_id) is None:
                raise _merchant_not_found(merchant_id)
            return uow.deposits.of_merchant(merchant_id)

    def release_deposit(self, actor: Actor, merchant_id: str, deposit_id: str) -> tuple[Deposit, Schedule]:
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, deposit_id, now)
            if uow.merchant_setup.lock(merchant_id) is None:
                raise _merchant_not_found(merchant_id)
            deposit = uow.deposits.get(merchant_id, deposit_id)
            if deposit is None:
                raise NotFound(f"merchant {merchant_id} has no deposit {deposit_id}", reason="DEPOSIT_NOT_FOUND",
                               metadata={"merchant": merchant_id, "deposit": deposit_id})
            before = self._schedule(uow, merchant_id, now)
            outcome = release(deposit, uow.deposits.of_merchant(merchant_id), uow.plans.changes(merchant_id),
                              self.deposit_required, now)
            uow.deposits.save(outcome.deposit, DepositState.HELD)
            if outcome.deposit.state is DepositState.RELEASED:
                # Given back at once (the merchant is on T+15 already): owed as available money, paid out by
                # the next run. A release scheduled for later is booked by the run of its day.
                uow.ledger.append([deposit_released(merchant_id, deposit_id, deposit.amount)],
                                  settlement_day=ledger_day(now, self.cutoff), at=now)
            if outcome.plan_change is not None:
                uow.plans.put(outcome.plan_change)
                uow.merchant_setup.set_plan(merchant_id, SettlementPlan.T15)
            after = self._schedule(uow, merchant_id, now)
            action = "deposit.released" if outcome.deposit.state is DepositState.RELEASED else "deposit.release_scheduled"
            uow.audit.add(AuditEvent.create(
                actor=actor, action=action, now=now, subject=f"merchants/{merchant_id}/deposits/{deposit_id}",
                merchant_id=merchant_id, before={**_deposit_snapshot(deposit), **_schedule_snapshot(before)},
                after={**_deposit_snapshot(outcome.deposit), **_schedule_snapshot(after)}))
            uow.commit()
        self._invalidate(merchant_id)
        return outcome.deposit, after

    # --- the application square and authorisations --------------------------------------------------

    def list_square(self, page_size: int = 0, page_token: str = "") -> tuple[list[SquareListing], str]:
        size = paging.page_size(page_size)
        after = paging.decode_token(page_token, "square")
        with self.uow() as uow:
            rows = uow.square.list(after, size + 1)
        page = rows[:size]
        return page, paging.encode_token(page[-1].app_id, "square") if len(rows) > size else ""

    def list_in_square(self, actor: Actor, app_id: str, listed: bool, description: str = "") -> None:
        """An operator opens an app to merchants (or withdraws it from the square)."""
        v = Violations()
        check_text(v, "description", description, required=listed, limit=1000)
        v.raise_if_any()
        now = self.clock()
        with self.uow(write=True) as uow:
            before = uow.square.get(app_id)
            if before is None or not uow.square.set_listing(app_id, listed, description):
                raise NotFound(f"app {app_id} does not exist", reason="APP_NOT_FOUND", metadata={"app": app_id})
            uow.audit.add(AuditEvent.create(actor=actor, action="app.square_listing_set", subject=f"apps/{app_id}",
                                            now=now, after={"listed": listed, "description": description}))
            uow.commit()

    def authorize_app(self, actor: Actor, merchant_id: str, app_id: str) -> Authorization:
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, app_id, now)
            merchant = uow.merchant_setup.lock(merchant_id)
            if merchant is None:
                raise _merchant_not_found(merchant_id)
            if merchant.state is not MerchantState.APPROVED:
                raise FailedPrecondition(f"merchant {merchant_id} is {merchant.state.value}: only an approved "
                                         "merchant authorises apps", reason="MERCHANT_NOT_APPROVED",
                                         metadata={"merchant": merchant_id})
            if uow.square.get(app_id) is None:
                raise NotFound(f"app {app_id} does not exist or is disabled", reason="APP_NOT_FOUND",
                               metadata={"app": app_id})
            if uow.access.authorize(app_id, merchant_id, now):
                uow.audit.add(AuditEvent.create(actor=actor, action="app.authorized", now=now, merchant_id=merchant_id,
                                                subject=f"merchants/{merchant_id}/appAuthorizations/{app_id}",
                                                after={"app": app_id}))
                uow.events.add(authorization_event(True, merchant, app_id, now))
                uow.commit()
        return Authorization(merchant_id, app_id, now)

    def revoke_app(self, actor: Actor, merchant_id: str, app_id: str) -> None:
        now = self.clock()
        with self.uow(write=True) as uow:
            idempotency.claim(uow, app_id, now)
            merchant = uow.merchant_setup.lock(merchant_id)
            if merchant is None:
                raise _merchant_not_found(merchant_id)
            if not uow.access.deauthorize(app_id, merchant_id):
                raise NotFound(f"app {app_id} is not authorised by merchant {merchant_id}",
                               reason="AUTHORIZATION_NOT_FOUND", metadata={"merchant": merchant_id, "app": app_id})
            uow.audit.add(AuditEvent.create(actor=actor, action="app.revoked", now=now, merchant_id=merchant_id,
                                            subject=f"merchants/{merchant_id}/appAuthorizations/{app_id}",
                                            before={"app": app_id}))
            uow.events.add(authorization_event(False, merchant, app_id, now))
            uow.commit()

    # --- the audit trail ------------------------------------------------------------------------------

    def list_audit(self, *, application_id: str = "", merchant_id: str = "", page_size: int = 0,
                   page_token: str = "") -> tuple[list[AuditEvent], str]:
        size = paging.page_size(page_size)
        filters = ("audit", application_id, merchant_id)
        after = paging.decode_token(page_token, filters)
        with self.uow() as uow:
            rows = uow.audit.list(application_id or None, merchant_id or None, after, size + 1)
        page = rows[:size]
        return page, paging.encode_token(page[-1].id, filters) if len(rows) > size else ""

    # --- helpers --------------------------------------------------------------------------------------

    def _lock(self, uow: OnboardingUnitOfWork, application_id: str) -> Application:
        application = uow.applications.lock(application_id)
        if application is None:
            raise _application_not_found(application_id)
        return application

    def _save(self, uow: OnboardingUnitOfWork, application: Application, expected: ApplicationState) -> None:
        # The row is locked, so this cannot miss; the condition still guards a caller that forgot the lock.
        if not uow.applications.save(application, expected):
            raise FailedPrecondition(f"application {application.id} changed meanwhile; read it and try again",
                                     reason="CONCURRENT_UPDATE", metadata={"application": application.id})

    def _audit(self, uow: OnboardingUnitOfWork, actor: Actor, action: str, after: Application,
               before: Application | None, now: datetime, extra: dict[str, Any] | None = None) -> None:
        after_snapshot = application_snapshot(after)
        if extra is not None:
            after_snapshot["attempt"] = extra
        uow.audit.add(AuditEvent.create(
            actor=actor, action=action, subject=f"applications/{after.id}", now=now, application_id=after.id,
            merchant_id=after.merchant_id if after.state is ApplicationState.APPROVED else "",
            before=application_snapshot(before) if before is not None else None, after=after_snapshot))

    def _invalidate(self, merchant_id: str) -> None:
        if self.merchants is not None:
            self.merchants.invalidate(merchant_id)
