"""The application: validation naming every bad field at once, eligibility by kind, the holder-name rule and
the state machine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.domain.errors import FailedPrecondition, InvalidArgument
from gateway.domain.onboarding.application import (
    AccountState,
    Application,
    ApplicationState,
    Decision,
    FinancialInfo,
    Kind,
    check_eligible,
    validate_decision,
    validate_form,
)
from tests.onboarding_support import form

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def fields(exc: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


@pytest.mark.parametrize("kind", list(Kind))
def test_a_complete_form_of_each_kind_is_valid(kind: Kind) -> None:
    validate_form(form(kind))


def test_every_bad_field_is_named_at_once() -> None:
    bad = form(merchant_id="X", display_name="", basic__kind=None, basic__contact_phone="12",
               basic__contact_email="nope", basic__contact_name="", business__credit_code="91350100M000100Y44",
               business__registered_address="", business__business_category="",
               financial__payout_logon_id="someone", financial__holder_name="")
    with pytest.raises(InvalidArgument) as exc:
        validate_form(bad, prefix="application.")
    named = fields(exc)
    assert set(named) == {
        "application.merchant_id", "application.display_name", "application.basic_info.kind",
        "application.basic_info.contact_name", "application.basic_info.contact_phone",
        "application.basic_info.contact_email", "application.business_info.credit_code",
        "application.business_info.registered_address", "application.business_info.business_category",
        "application.financial_info.payout_logon_id", "application.financial_info.holder_name"}
    assert "wrong check character" in named["application.business_info.credit_code"]


def test_a_missing_holder_name_is_named() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_form(form(financial__holder_name="  "))
    assert fields(exc) == {"financial_info.holder_name": "required: the payout account holder's name"}


@pytest.mark.parametrize("kind", [Kind.ENTERPRISE, Kind.INDIVIDUAL_WITH_BUSINESS])
def test_a_business_is_paid_only_into_an_account_in_its_legal_name(kind: Kind) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_form(form(kind, financial__holder_name="Lin Mei"))
    assert "must be the legal name" in fields(exc)["financial_info.holder_name"]


def test_an_individual_needs_no_licence_but_a_given_credit_code_is_still_checked() -> None:
    validate_form(form(Kind.INDIVIDUAL))
    with pytest.raises(InvalidArgument) as exc:
        validate_form(form(Kind.INDIVIDUAL, business__credit_code="91350100M000100Y44"))
    assert set(fields(exc)) == {"business_info.credit_code"}


def test_business_fields_are_required_of_businesses() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_form(form(Kind.INDIVIDUAL_WITH_BUSINESS, business__legal_name="", business__credit_code="",
                           business__business_scope=""))
    assert {"business_info.legal_name", "business_info.credit_code", "business_info.business_scope"} <= set(fields(exc))


def test_control_characters_and_overlong_text_are_refused() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_form(form(display_name="Tea\x00House", business__business_scope="x" * 1001))
    assert set(fields(exc)) == {"display_name", "business_info.business_scope"}


def test_individuals_wait_for_the_switch() -> None:
    with pytest.raises(FailedPrecondition) as exc:
        check_eligible(Kind.INDIVIDUAL, individuals_open=False)
    assert exc.value.reason == "INDIVIDUALS_NOT_OPEN"
    check_eligible(Kind.INDIVIDUAL, individuals_open=True)
    check_eligible(Kind.ENTERPRISE, individuals_open=False)
    check_eligible(Kind.INDIVIDUAL_WITH_BUSINESS, individuals_open=False)


def submitted() -> Application:
    return Application.submit(application_id="apl_1", form=form(), now=NOW)


def test_review_decides_once() -> None:
    app = submitted()
    approved = app.reviewed(Decision.APPROVE, "", "ops-1", NOW)
    assert approved.state is ApplicationState.APPROVED and approved.decided_by == "ops-1"
    for decision in Decision:
        with pytest.raises(FailedPrecondition) as exc:
            approved.reviewed(decision, "again", "ops-2", NOW)
        assert exc.value.reason == "APPLICATION_STATE_CONFLICT"
    rejected = app.reviewed(Decision.REJECT, "licence expired", "ops-1", NOW)
    assert rejected.state is ApplicationState.REJECTED and rejected.decision_reason == "licence expired"
    with pytest.raises(FailedPrecondition):
        rejected.updated(form(), NOW)
    with pytest.raises(FailedPrecondition):
        rejected.withdrawn(NOW)


def test_sent_back_then_updated_is_submitted_again_as_a_new_revision() -> None:
    back = submitted().reviewed(Decision.SEND_BACK, "licence photo unreadable", "ops-1", NOW)
    assert back.state is ApplicationState.SENT_BACK
    with pytest.raises(FailedPrecondition):
        back.reviewed(Decision.APPROVE, "", "ops-1", NOW)
    again = back.updated(form(display_name="Tea House Fuzhou"), NOW)
    assert (again.state, again.revision, again.decision_reason) == (ApplicationState.SUBMITTED, 2, "")
    assert again.reviewed(Decision.APPROVE, "", "ops-1", NOW).state is ApplicationState.APPROVED


def test_a_changed_payout_account_must_be_verified_again() -> None:
    verified = submitted().with_account(AccountState.VERIFIED, NOW)
    same = verified.updated(form(display_name="Other"), NOW)
    assert same.account_state is AccountState.VERIFIED
    moved = verified.updated(replace(form(), financial=FinancialInfo("13900139000", form().business.legal_name)), NOW)
    assert moved.account_state is AccountState.UNVERIFIED and moved.account_verified_at is None


def test_withdrawal_is_final() -> None:
    gone = submitted().withdrawn(NOW)
    assert gone.state is ApplicationState.WITHDRAWN
    with pytest.raises(FailedPrecondition):
        gone.check_can_verify()


def test_decisions_need_a_reason_except_approval() -> None:
    validate_decision(Decision.APPROVE, "")
    for decision in (Decision.REJECT, Decision.SEND_BACK):
        with pytest.raises(InvalidArgument) as exc:
            validate_decision(decision, " ")
        assert fields(exc) == {"reason": "required"}
    with pytest.raises(InvalidArgument) as exc:
        validate_decision(None, "")
    assert "decision" in fields(exc)
