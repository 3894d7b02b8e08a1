"""Documents typed from their content, verification attempts, settlement plans and deposits, and the
collection check: the domain rules, without storage."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.domain.errors import FailedPrecondition, Violations
from gateway.domain.merchants import SettlementPlan
from gateway.domain.onboarding.application import AccountState, Application, Decision, Kind
from gateway.domain.onboarding.collection import collection_refusal
from gateway.domain.onboarding.documents import MAX_DOCUMENT_BYTES, DocumentType, check_document, new_document
from gateway.domain.onboarding.settlement import (
    Deposit,
    DepositState,
    PlanChange,
    check_can_switch,
    next_settlement_day,
    plan_on,
    release,
    settlement_day,
)
from gateway.domain.onboarding.verification import (
    MAX_AMOUNT,
    MIN_AMOUNT,
    Attempt,
    AttemptState,
    check_attempts_left,
    verification_amount,
)
from tests.onboarding_support import JPEG, PDF, PNG, form

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("content", "kind"), [(PNG, DocumentType.PNG), (JPEG, DocumentType.JPEG),
                                               (PDF, DocumentType.PDF)])
def test_documents_are_typed_from_their_content(content: bytes, kind: DocumentType) -> None:
    v = Violations()
    assert check_document(content, v) is kind and v.items == []
    doc = new_document("apl_1", content, kind, NOW)
    assert doc.sha256 == hashlib.sha256(content).hexdigest() and doc.size == len(content)


@pytest.mark.parametrize(("content", "words"), [
    (b"<!doctype html><html>licence.png</html>", "must be a PNG, JPEG or PDF"),
    (b"GIF89a" + b"\x00" * 10, "must be a PNG, JPEG or PDF"),
    (b"", "required"),
    (PNG + b"\x00" * MAX_DOCUMENT_BYTES, "at most 3145728 bytes"),
])
def test_other_content_is_refused_by_name(content: bytes, words: str) -> None:
    v = Violations()
    assert check_document(content, v, "content") is None
    assert [x.field for x in v.items] == ["content"] and words in v.items[0].description


def test_a_document_of_exactly_3_mib_is_accepted() -> None:
    v = Violations()
    assert check_document(PNG + b"\x00" * (MAX_DOCUMENT_BYTES - len(PNG)), v) is DocumentType.PNG


def test_amounts_are_10_to_99_fen_and_vary() -> None:
    seen = {verification_amount() for _ in range(2000)}
    assert min(seen) >= MIN_AMOUNT == 10 and max(seen) <= MAX_AMOUNT == 99
    assert len(seen) > 60  # drawn from the whole range


def test_three_wrong_answers_end_an_attempt() -> None:
    attempt = Attempt.start("apl_1", NOW, amount=37)
    assert attempt.expires_at == NOW + timedelta(hours=48)
    once = attempt.answered(38, NOW)
    twice = once.answered(10, NOW)
    thrice = twice.answered(99, NOW)
    assert [a.state for a in (once, twice, thrice)] == [AttemptState.SENDING, AttemptState.SENDING,
                                                         AttemptState.FAILED]
    assert (once.answers_left, twice.answers_left, thrice.answers_left) == (2, 1, 0)
    with pytest.raises(FailedPrecondition) as exc:
        thrice.answered(37, NOW)  # even the right amount: the attempt is over
    assert exc.value.reason == "NO_VERIFICATION_ATTEMPT"


def test_the_right_amount_verifies_and_an_old_attempt_expires() -> None:
    attempt = Attempt.start("apl_1", NOW, amount=37)
    assert attempt.answered(37, NOW + timedelta(hours=47)).state is AttemptState.VERIFIED
    assert attempt.answered(37, NOW + timedelta(hours=48)).state is AttemptState.EXPIRED


def test_at_most_three_attempts_a_day() -> None:
    check_attempts_left(2, "apl_1", NOW)
    with pytest.raises(FailedPrecondition) as exc:
        check_attempts_left(3, "apl_1", NOW)
    assert exc.value.reason == "TOO_MANY_VERIFICATION_ATTEMPTS" and "2026-11-27" in exc.value.message


def test_settlement_days_are_china_days() -> None:
    late = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # 00:30 on the 28th in China
    assert settlement_day(late) == date(2026, 11, 28)
    assert next_settlement_day(NOW) == date(2026, 11, 28)


def test_the_plan_of_a_day_is_the_last_change_effective_then() -> None:
    changes = [PlanChange("m", SettlementPlan.T0, date(2026, 11, 28), NOW),
               PlanChange("m", SettlementPlan.T15, date(2026, 12, 5), NOW)]
    assert plan_on([], date(2026, 11, 27)) is SettlementPlan.T15
    assert plan_on(changes, date(2026, 11, 27)) is SettlementPlan.T15
    assert plan_on(changes, date(2026, 11, 28)) is SettlementPlan.T0
    assert plan_on(changes, date(2026, 12, 5)) is SettlementPlan.T15


def test_t0_needs_the_deposit_and_says_what_is_missing() -> None:
    check_can_switch("m", SettlementPlan.T15, 0, 2_000_000)
    check_can_switch("m", SettlementPlan.T0, 2_000_000, 2_000_000)
    with pytest.raises(FailedPrecondition) as exc:
        check_can_switch("m", SettlementPlan.T0, 500_000, 2_000_000)
    assert exc.value.reason == "DEPOSIT_REQUIRED" and exc.value.metadata["missing"] == "1500000"


def test_a_deposit_is_released_at_once_only_under_t15() -> None:
    deposit = Deposit.record("m", 2_000_000, "BANK-1", NOW)
    now = release(deposit, [deposit], [], 2_000_000, NOW)
    assert now.deposit.state is DepositState.RELEASED and now.plan_change is None
    t0 = [PlanChange("m", SettlementPlan.T0, date(2026, 11, 20), NOW)]
    later = release(deposit, [deposit], t0, 2_000_000, NOW)
    assert later.deposit.state is DepositState.RELEASING and later.deposit.release_on == date(2026, 11, 28)
    assert later.plan_change == PlanChange("m", SettlementPlan.T15, date(2026, 11, 28), NOW)
    assert later.deposit.held_on(date(2026, 11, 27)) and not later.deposit.held_on(date(2026, 11, 28))
    # Another deposit still covering T+0: this one goes at once.
    other = Deposit.record("m", 2_000_000, "BANK-2", NOW)
    assert release(deposit, [deposit, other], t0, 2_000_000, NOW).deposit.state is DepositState.RELEASED
    # A T+0 only scheduled is cancelled (a T+15 change on its date) and the deposit goes at once.
    ahead = [PlanChange("m", SettlementPlan.T0, date(2026, 11, 28), NOW)]
    cancelled = release(deposit, [deposit], ahead, 2_000_000, NOW)
    assert cancelled.deposit.state is DepositState.RELEASED
    assert cancelled.plan_change == PlanChange("m", SettlementPlan.T15, date(2026, 11, 28), NOW)
    # Under T+0 with T+15 already scheduled: the release waits for that day, no new change.
    coming = [*t0, PlanChange("m", SettlementPlan.T15, date(2026, 12, 1), NOW)]
    waiting = release(deposit, [deposit], coming, 2_000_000, NOW)
    assert (waiting.deposit.state, waiting.deposit.release_on, waiting.plan_change) == (
        DepositState.RELEASING, date(2026, 12, 1), None)


def test_collection_needs_approval_and_a_verified_account() -> None:
    app = Application.submit(application_id="apl_1", form=form(), now=NOW)
    reasons = {}
    reasons["submitted"] = collection_refusal("m", app, False)
    reasons["sent_back"] = collection_refusal("m", app.reviewed(Decision.SEND_BACK, "x", "o", NOW), False)
    reasons["rejected"] = collection_refusal("m", app.reviewed(Decision.REJECT, "x", "o", NOW), False)
    reasons["withdrawn"] = collection_refusal("m", app.withdrawn(NOW), False)
    approved = app.reviewed(Decision.APPROVE, "", "o", NOW)
    reasons["unverified"] = collection_refusal("m", approved, False)
    assert {k: r.reason for k, r in reasons.items() if r} == {
        "submitted": "APPLICATION_UNDER_REVIEW", "sent_back": "APPLICATION_SENT_BACK",
        "rejected": "APPLICATION_REJECTED", "withdrawn": "APPLICATION_WITHDRAWN",
        "unverified": "SETTLEMENT_ACCOUNT_NOT_VERIFIED"}
    assert collection_refusal("m", approved.with_account(AccountState.VERIFIED, NOW), False) is None
    person = Application.submit(application_id="apl_2", form=form(Kind.INDIVIDUAL), now=NOW).reviewed(
        Decision.APPROVE, "", "o", NOW).with_account(AccountState.VERIFIED, NOW)
    refusal = collection_refusal("m", person, False)
    assert refusal is not None and refusal.reason == "INDIVIDUALS_NOT_OPEN"
    assert collection_refusal("m", person, True) is None
