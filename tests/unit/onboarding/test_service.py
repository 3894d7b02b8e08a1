"""Onboarding use cases over SQLite and PostgreSQL: what each refuses (by name, changing nothing), what each
writes (the change, its audit row and its events in one transaction)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from gateway.domain.errors import (
    AlreadyExists,
    ChannelUnavailable,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from gateway.domain.merchants import MerchantState, SettlementPlan
from gateway.domain.onboarding.application import AccountState, ApplicationState, Decision, Kind
from gateway.domain.onboarding.settlement import DepositState
from gateway.domain.onboarding.verification import AttemptState
from gateway.service.onboarding import OnboardingService
from gateway.storage.tables import application_documents, applications, audit_events, events, merchants
from settlement.domain import accounts
from settlement.domain.ledger import EntryKind
from settlement.service.ports import SettlementUnitOfWorkFactory
from settlement.service.run import release_deposits
from tests.onboarding_support import JPEG, PNG, AlipayStandIn, Clock, form
from tests.unit.onboarding.conftest import APPLICANT, OPERATOR, make_service


def count(service: OnboardingService, table: Any) -> int:
    with service.uow.engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def actions(service: OnboardingService, **filters: str) -> list[str]:
    page, _ = service.list_audit(page_size=100, **filters)
    return [e.action for e in reversed(page)]


def approved(service: OnboardingService, kind: Kind = Kind.ENTERPRISE, merchant_id: str = "tea-house") -> str:
    app = service.submit(APPLICANT, form(kind, merchant_id=merchant_id))
    service.add_document(APPLICANT, app.id, PNG)
    service.review(OPERATOR, app.id, Decision.APPROVE)
    return app.id


def verify(service: OnboardingService, alipay: AlipayStandIn, application_id: str) -> None:
    service.start_verification(APPLICANT, application_id)
    service.confirm_verification(APPLICANT, application_id, alipay.sent[-1][2])


def test_submit_get_and_list(service: OnboardingService) -> None:
    first = service.submit(APPLICANT, form())
    second = service.submit(APPLICANT, form(Kind.INDIVIDUAL_WITH_BUSINESS, merchant_id="lin-crafts"))
    view = service.get_application(first.id)
    assert view.application == first and view.documents == []
    assert (first.state, first.account_state, first.revision) == (ApplicationState.SUBMITTED, AccountState.UNVERIFIED, 1)
    page, token = service.list_applications(page_size=1)
    assert [a.id for a in page] == [second.id] and token
    page, token = service.list_applications(page_size=1, page_token=token)
    assert [a.id for a in page] == [first.id] and token == ""
    assert [a.id for a in service.list_applications(kind=Kind.ENTERPRISE)[0]] == [first.id]
    assert service.list_applications(state=ApplicationState.APPROVED)[0] == []
    with pytest.raises(InvalidArgument):
        service.list_applications(kind=Kind.ENTERPRISE, page_token=service.list_applications(page_size=1)[1])
    assert actions(service, application_id=first.id) == ["application.submitted"]
    with pytest.raises(NotFound):
        service.get_application("apl_nope")


def test_bad_forms_are_refused_by_name_and_store_nothing(service: OnboardingService) -> None:
    with pytest.raises(InvalidArgument) as exc:
        service.submit(APPLICANT, form(business__credit_code="91350100M000100Y44",
                                       financial__holder_name="Lin Mei"), field_prefix="application.")
    assert {v.field for v in exc.value.violations} == {"application.business_info.credit_code",
                                                       "application.financial_info.holder_name"}
    assert count(service, applications) == 0 and count(service, audit_events) == 0


def test_a_merchant_id_is_held_by_one_live_application(service: OnboardingService) -> None:
    first = service.submit(APPLICANT, form())
    with pytest.raises(AlreadyExists) as exc:
        service.submit(APPLICANT, form())
    assert exc.value.reason == "MERCHANT_ID_TAKEN"
    service.withdraw(APPLICANT, first.id)
    again = service.submit(APPLICANT, form())  # a withdrawn application lets its id go
    assert again.id != first.id
    assert count(service, applications) == 2


def test_individuals_apply_only_when_the_switch_is_on(factory: Any, alipay: AlipayStandIn, clock: Clock) -> None:
    closed = make_service(factory, alipay, clock)
    with pytest.raises(FailedPrecondition) as exc:
        closed.submit(APPLICANT, form(Kind.INDIVIDUAL, merchant_id="wang-crafts"))
    assert exc.value.reason == "INDIVIDUALS_NOT_OPEN" and count(closed, applications) == 0
    opened = make_service(factory, alipay, clock, individuals_open=True)
    app = opened.submit(APPLICANT, form(Kind.INDIVIDUAL, merchant_id="wang-crafts"))
    opened.review(OPERATOR, app.id, Decision.APPROVE)  # an individual has no licence to add
    verify(opened, alipay, app.id)
    assert opened.collection_refusal("wang-crafts") is None
    refusal = closed.collection_refusal("wang-crafts")  # the switch turned off again
    assert refusal is not None and refusal.reason == "INDIVIDUALS_NOT_OPEN"


def test_documents_typed_from_content_deduplicated_and_read_with_audit(service: OnboardingService) -> None:
    app = service.submit(APPLICANT, form())
    with pytest.raises(InvalidArgument) as exc:
        service.add_document(APPLICANT, app.id, b"<!doctype html><title>licence.png</title>")
    assert [v.field for v in exc.value.violations] == ["content"]
    with pytest.raises(InvalidArgument):
        service.add_document(APPLICANT, app.id, PNG + b"\x00" * (3 * 1024 * 1024))
    assert count(service, application_documents) == 0
    doc = service.add_document(APPLICANT, app.id, PNG)
    assert service.add_document(APPLICANT, app.id, PNG).sha256 == doc.sha256  # same bytes: one document
    service.add_document(APPLICANT, app.id, JPEG)
    assert [d.type.value for d in service.get_application(app.id).documents] == ["image/png", "image/jpeg"]
    read = service.read_document(OPERATOR, app.id, doc.sha256)
    assert read.content == PNG
    assert actions(service, application_id=app.id) == ["application.submitted", "document.added", "document.added",
                                                        "document.read"]


def test_approval_needs_a_licence_and_creates_the_merchant(service: OnboardingService, alipay: AlipayStandIn) -> None:
    app = service.submit(APPLICANT, form())
    with pytest.raises(FailedPrecondition) as exc:
        service.review(OPERATOR, app.id, Decision.APPROVE)
    assert exc.value.reason == "DOCUMENTS_MISSING" and count(service, merchants) == 0
    service.add_document(APPLICANT, app.id, PNG)
    decided, merchant = service.review(OPERATOR, app.id, Decision.APPROVE)
    assert decided.state is ApplicationState.APPROVED and merchant is not None
    assert (merchant.id, merchant.state, merchant.settlement_account_verified) == ("tea-house", MerchantState.APPROVED,
                                                                                  False)
    refusal = service.collection_refusal("tea-house")
    assert refusal is not None and refusal.reason == "SETTLEMENT_ACCOUNT_NOT_VERIFIED"
    with pytest.raises(FailedPrecondition) as again:
        service.review(OPERATOR, app.id, Decision.REJECT, "changed my mind")
    assert again.value.reason == "APPLICATION_STATE_CONFLICT"
    verify(service, alipay, app.id)
    assert service.collection_refusal("tea-house") is None
    assert actions(service, merchant_id="tea-house")[-2:] == ["verification.verified", "merchant.collection_enabled"]


def test_sent_back_updated_resubmitted_and_rejected(service: OnboardingService) -> None:
    app = service.submit(APPLICANT, form())
    back, merchant = service.review(OPERATOR, app.id, Decision.SEND_BACK, "the licence photo is unreadable")
    assert back.state is ApplicationState.SENT_BACK and merchant is None
    assert service.collection_refusal("tea-house").reason == "APPLICATION_SENT_BACK"  # type: ignore[union-attr]
    # The merchant id, applicant and kind stay those submitted, whatever the update says.
    updated = service.update(APPLICANT, app.id, form(merchant_id="other-id", basic__kind=Kind.INDIVIDUAL,
                                                     display_name="Tea House Fuzhou"))
    assert (updated.state, updated.revision, updated.merchant_id, updated.kind) == (
        ApplicationState.SUBMITTED, 2, "tea-house", Kind.ENTERPRISE)
    rejected, _ = service.review(OPERATOR, app.id, Decision.REJECT, "not a tea business")
    assert rejected.decision_reason == "not a tea business"
    assert service.collection_refusal("tea-house").reason == "APPLICATION_REJECTED"  # type: ignore[union-attr]
    with pytest.raises(FailedPrecondition):
        service.update(APPLICANT, app.id, form())
    assert actions(service, application_id=app.id) == ["application.submitted", "application.sent_back",
                                                       "application.updated", "application.rejected"]


def test_verification_wrong_three_times_then_right(service: OnboardingService, alipay: AlipayStandIn,
                                                   clock: Clock) -> None:
    app = service.submit(APPLICANT, form())
    attempt = service.start_verification(APPLICANT, app.id)
    logon, holder, amount, out_biz_no = alipay.sent[-1]
    assert (logon, holder, out_biz_no) == ("finance@teahouse.example", "Fuzhou Tea House Co., Ltd.", attempt.id)
    assert 10 <= amount <= 99 and attempt.state is AttemptState.SENT
    wrong = amount + 1 if amount < 99 else 10
    for left in ("2", "1"):
        with pytest.raises(FailedPrecondition) as exc:
            service.confirm_verification(APPLICANT, app.id, wrong)
        assert exc.value.reason == "WRONG_VERIFICATION_AMOUNT" and exc.value.metadata["answers_left"] == left
    with pytest.raises(FailedPrecondition) as exc:
        service.confirm_verification(APPLICANT, app.id, wrong)
    assert exc.value.reason == "VERIFICATION_FAILED"
    with pytest.raises(FailedPrecondition) as exc:
        service.confirm_verification(APPLICANT, app.id, amount)  # the attempt is over
    assert exc.value.reason == "NO_VERIFICATION_ATTEMPT"
    assert service.get_application(app.id).application.account_state is AccountState.FAILED
    service.start_verification(APPLICANT, app.id)
    verified, done = service.confirm_verification(APPLICANT, app.id, alipay.sent[-1][2])
    assert verified.account_state is AccountState.VERIFIED and done.state is AttemptState.VERIFIED
    # Answering again changes nothing; starting again is refused.
    assert service.confirm_verification(APPLICANT, app.id, alipay.sent[-1][2])[0] == verified
    with pytest.raises(FailedPrecondition) as exc:
        service.start_verification(APPLICANT, app.id)
    assert exc.value.reason == "ACCOUNT_ALREADY_VERIFIED"
    assert actions(service, application_id=app.id)[1:] == [
        "verification.started", "verification.failed", "verification.started", "verification.verified"]


def test_three_attempts_a_day_and_48_hours_each(service: OnboardingService, alipay: AlipayStandIn,
                                                clock: Clock) -> None:
    app = service.submit(APPLICANT, form())
    for _ in range(3):
        service.start_verification(APPLICANT, app.id)
    with pytest.raises(FailedPrecondition) as exc:
        service.start_verification(APPLICANT, app.id)
    assert exc.value.reason == "TOO_MANY_VERIFICATION_ATTEMPTS" and len(alipay.sent) == 3
    # The third attempt (the others were superseded) still stands; after 48 hours it has expired.
    clock.advance(hours=48)
    with pytest.raises(FailedPrecondition) as exc:
        service.confirm_verification(APPLICANT, app.id, alipay.sent[-1][2])
    assert exc.value.reason == "VERIFICATION_EXPIRED"
    service.start_verification(APPLICANT, app.id)  # another day
    service.confirm_verification(APPLICANT, app.id, alipay.sent[-1][2])


def test_a_personal_account_for_an_enterprise_is_refused_by_the_rail(service: OnboardingService,
                                                                     alipay: AlipayStandIn) -> None:
    app = service.submit(APPLICANT, form(financial__payout_logon_id="owner@teahouse.example"))
    with pytest.raises(FailedPrecondition) as exc:
        service.start_verification(APPLICANT, app.id)
    assert exc.value.reason == "TRANSFER_REFUSED" and "name does not match" in exc.value.message
    assert alipay.sent == [] and service.get_application(app.id).application.account_state is AccountState.FAILED


def test_an_unknown_rail_answer_leaves_the_attempt_open(service: OnboardingService, alipay: AlipayStandIn) -> None:
    app = service.submit(APPLICANT, form())
    alipay.fail_with = TimeoutError("read timed out")
    with pytest.raises(ChannelUnavailable):
        service.start_verification(APPLICANT, app.id, amount=42)
    assert service.confirm_verification(APPLICANT, app.id, 42)[0].account_state is AccountState.VERIFIED


def _verification_cost(service: OnboardingService, attempt_id: str) -> dict[str, int] | None:
    with service.uow() as uow:
        entry = uow.ledger.get(EntryKind.VERIFICATION_TRANSFER, attempt_id)
    return None if entry is None else {p.account.key: p.amount for p in entry.postings}


def test_a_verification_transfer_is_booked_as_the_platform_s_cost_once(service: OnboardingService,
                                                                       alipay: AlipayStandIn) -> None:
    # Defect (session 6): verification transfers never reached the ledger, so the platform's balance at
    # Alipay (channel clearing) disagreed with Alipay's account bill by every verification ever sent.
    app = service.submit(APPLICANT, form())
    sent = service.start_verification(APPLICANT, app.id)
    amount = alipay.sent[-1][2]
    assert _verification_cost(service, sent.id) == {
        "platform:verification_transfers": amount, "platform:channel_clearing": -amount}
    service.confirm_verification(APPLICANT, app.id, amount)
    assert _verification_cost(service, sent.id) == {  # confirmed: the same entry, not a second one
        "platform:verification_transfers": amount, "platform:channel_clearing": -amount}

    other = service.submit(APPLICANT, form(merchant_id="lin-crafts"))
    alipay.fail_with = TimeoutError("read timed out")
    with pytest.raises(ChannelUnavailable):
        service.start_verification(APPLICANT, other.id, amount=42)
    unknown = service.get_application(other.id)
    with service.uow() as uow:
        attempt = uow.verifications.latest(other.id)
    assert attempt is not None and unknown.application.account_state is AccountState.VERIFYING
    assert _verification_cost(service, attempt.id) is None  # the rail did not say the money left
    service.confirm_verification(APPLICANT, other.id, 42)  # it arrived: now it is known to have left
    assert _verification_cost(service, attempt.id) == {
        "platform:verification_transfers": 42, "platform:channel_clearing": -42}


def _deposit_and_available(service: OnboardingService, merchant_id: str) -> tuple[int, int]:
    with service.uow() as uow:
        raw = uow.ledger.balances(merchant_id)
    deposit, available = accounts.deposit(merchant_id), accounts.available(merchant_id)
    return deposit.balance(raw.get(deposit, 0)), available.balance(raw.get(available, 0))


def test_a_scheduled_release_gives_the_deposit_back_in_the_run_of_its_day(service: OnboardingService,
                                                                          clock: Clock) -> None:
    # Defect (session 6): a release scheduled for when T+15 is back in effect (RELEASING) was never carried
    # out: the deposit stayed held in the ledger, and in GetBalance, for ever.
    approved(service)
    deposit = service.record_deposit(OPERATOR, "tea-house", 2_000_000, "BANK-0002")
    service.set_plan(OPERATOR, "tea-house", SettlementPlan.T0)
    clock.advance(days=1)  # T+0 in effect: the deposit is needed until T+15 is back
    scheduled, _ = service.release_deposit(OPERATOR, "tea-house", deposit.id)
    assert scheduled.state is DepositState.RELEASING and scheduled.release_on is not None
    assert _deposit_and_available(service, "tea-house") == (2_000_000, 0)

    uow = cast(SettlementUnitOfWorkFactory, service.uow)
    assert release_deposits(uow, scheduled.release_on - timedelta(days=1), clock) == 0  # not yet due
    assert release_deposits(uow, scheduled.release_on, clock) == 2_000_000
    assert _deposit_and_available(service, "tea-house") == (0, 2_000_000)  # paid out by this run
    assert service.list_deposits("tea-house")[0].state is DepositState.RELEASED
    assert release_deposits(uow, scheduled.release_on, clock) == 0  # a second run gives nothing back twice
    assert actions(service, merchant_id="tea-house")[-1] == "deposit.released"


def test_plans_and_deposits(service: OnboardingService, clock: Clock) -> None:
    approved(service)
    with pytest.raises(FailedPrecondition) as exc:
        service.set_plan(OPERATOR, "tea-house", SettlementPlan.T0)
    assert exc.value.reason == "DEPOSIT_REQUIRED" and exc.value.metadata["missing"] == "2000000"
    deposit = service.record_deposit(OPERATOR, "tea-house", 2_000_000, "BANK-0001")
    assert service.record_deposit(OPERATOR, "tea-house", 2_000_000, "BANK-0001") == deposit  # idempotent
    with pytest.raises(AlreadyExists) as taken:
        service.record_deposit(OPERATOR, "tea-house", 1_000_000, "BANK-0001")
    assert taken.value.reason == "DEPOSIT_REFERENCE_IN_USE"
    with pytest.raises(InvalidArgument) as bad:
        service.record_deposit(OPERATOR, "tea-house", 0, "bank ref!")
    assert {v.field for v in bad.value.violations} == {"amount", "external_reference"}
    schedule = service.set_plan(OPERATOR, "tea-house", SettlementPlan.T0)
    assert (schedule.plan, schedule.next_plan, str(schedule.next_plan_on)) == (
        SettlementPlan.T15, SettlementPlan.T0, "2026-11-28")
    clock.advance(days=1)
    assert service.schedule("tea-house").plan is SettlementPlan.T0
    released, after = service.release_deposit(OPERATOR, "tea-house", deposit.id)
    assert released.state is DepositState.RELEASING and str(released.release_on) == "2026-11-29"
    assert (after.plan, after.next_plan, after.deposit_held) == (SettlementPlan.T0, SettlementPlan.T15, 2_000_000)
    clock.advance(days=1)
    assert service.schedule("tea-house").plan is SettlementPlan.T15
    assert service.schedule("tea-house").deposit_held == 0
    second = service.record_deposit(OPERATOR, "tea-house", 2_000_000, "BANK-0002")
    gone, _ = service.release_deposit(OPERATOR, "tea-house", second.id)  # T+15 in effect: at once
    assert gone.state is DepositState.RELEASED
    with pytest.raises(FailedPrecondition):
        service.release_deposit(OPERATOR, "tea-house", second.id)
    assert actions(service, merchant_id="tea-house")[-5:] == [
        "deposit.recorded", "merchant.settlement_plan_set", "deposit.release_scheduled", "deposit.recorded",
        "deposit.released"]


def test_authorising_apps_from_the_square(service: OnboardingService, admin: Any, alipay: AlipayStandIn) -> None:
    admin.create_app("micro-shop", "Micro Shop")
    admin.create_app("hidden-app", "Hidden")
    service.list_in_square(OPERATOR, "micro-shop", True, "Open a shop in minutes")
    listed, token = service.list_square()
    assert [(a.app_id, a.description) for a in listed] == [("micro-shop", "Open a shop in minutes")] and token == ""
    application_id = approved(service)
    with pytest.raises(NotFound):
        service.authorize_app(OPERATOR, "no-such-shop", "micro-shop")
    grant = service.authorize_app(OPERATOR, "tea-house", "micro-shop")
    assert (grant.merchant_id, grant.app_id) == ("tea-house", "micro-shop")
    service.authorize_app(OPERATOR, "tea-house", "micro-shop")  # again: no second event
    verify(service, alipay, application_id)
    service.revoke_app(OPERATOR, "tea-house", "micro-shop")
    with pytest.raises(NotFound):
        service.revoke_app(OPERATOR, "tea-house", "micro-shop")
    with service.uow() as uow:
        written = [(e.type, e.app_id) for e in sorted(uow.events.list(None, 10), key=lambda e: e.sequence or 0)]
    assert written == [("app.authorized", "micro-shop"), ("merchant.collection_enabled", "micro-shop"),
                       ("app.revoked", "micro-shop")]
    with service.uow() as uow:
        payload = max(uow.events.list(None, 10), key=lambda e: e.sequence or 0).payload
    assert set(payload) == {"id", "type", "created_at", "merchant_id", "app_id", "data"}
    assert "holder_name" not in str(payload) and "13800138000" not in str(payload)
    assert count(service, events) == 3


def test_documents_of_closed_applications_go_after_the_retention(service: OnboardingService, clock: Clock) -> None:
    kept = service.submit(APPLICANT, form(merchant_id="kept-shop"))
    service.add_document(APPLICANT, kept.id, PNG)
    gone = service.submit(APPLICANT, form())
    service.add_document(APPLICANT, gone.id, PNG)
    service.review(OPERATOR, gone.id, Decision.REJECT, "no")
    clock.advance(days=89)
    assert service.purge_documents() == 0
    clock.advance(days=2)
    assert service.purge_documents() == 1
    assert service.get_application(gone.id).documents == [] and len(service.get_application(kept.id).documents) == 1
    assert actions(service, application_id=gone.id)[-1] == "documents.purged"
