"""Onboarding's races, decided by the database: truly concurrent calls (50 threads released together by a
barrier) on SQLite and PostgreSQL. No stand-in for anything: the verification attempt is stored as the service
would have stored it after the rail accepted the transfer."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.domain.errors import CashierError
from gateway.domain.onboarding.application import AccountState, ApplicationState, Decision
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.domain.onboarding.verification import Attempt, AttemptState
from gateway.service.onboarding import OnboardingService
from gateway.storage import migrate
from gateway.storage.engine import make_engine
from gateway.storage.tables import audit_events, merchants, verification_attempts
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.onboarding_support import PNG, Clock, form

CALLS = 50
APPLICANT = Actor(ActorKind.APPLICANT, "acct-1001", via="mgmt-centre")


@pytest.fixture
def service(database_url: str) -> Iterator[OnboardingService]:
    engine = make_engine(database_url, pool_size=8)
    migrate.upgrade(engine)
    try:
        yield OnboardingService(SqlUnitOfWorkFactory(engine), clock=Clock())
    finally:
        engine.dispose()


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, all released at once; results or the errors raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except CashierError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def count(service: OnboardingService, table: Any, *where: Any) -> int:
    with service.uow.engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_fifty_concurrent_reviews_leave_exactly_one_decision(service: OnboardingService) -> None:
    app = service.submit(APPLICANT, form())
    service.add_document(APPLICANT, app.id, PNG)
    decisions = [list(Decision)[i % 3] for i in range(CALLS)]
    results = together([partial(service.review, Actor(ActorKind.OPERATOR, f"ops-{i}"), app.id, d, "reason")
                        for i, d in enumerate(decisions)])
    decided = [r for r in results if not isinstance(r, CashierError)]
    refused = [r for r in results if isinstance(r, CashierError)]
    assert len(decided) == 1 and len(refused) == CALLS - 1
    assert {r.reason for r in refused} == {"APPLICATION_STATE_CONFLICT"}
    winner, merchant = decided[0]
    stored = service.get_application(app.id).application
    assert stored == winner and stored.state is not ApplicationState.SUBMITTED
    decision_rows = count(service, audit_events, audit_events.c.action.in_(
        ["application.approved", "application.rejected", "application.sent_back"]))
    assert decision_rows == 1
    assert count(service, merchants) == (1 if winner.state is ApplicationState.APPROVED else 0)
    assert (merchant is not None) == (winner.state is ApplicationState.APPROVED)


def _approved_with_attempt(service: OnboardingService, amount: int) -> str:
    app = service.submit(APPLICANT, form())
    service.add_document(APPLICANT, app.id, PNG)
    service.review(Actor(ActorKind.OPERATOR, "ops-1"), app.id, Decision.APPROVE)
    now = service.clock()
    attempt = replace(Attempt.start(app.id, now, amount), state=AttemptState.SENT, rail_reference="20261127001")
    with service.uow(write=True) as uow:
        stored = uow.applications.lock(app.id)
        assert stored is not None
        uow.verifications.add(attempt)
        uow.applications.save(stored.with_account(AccountState.VERIFYING, now), stored.state)
        uow.commit()
    return app.id


def test_fifty_concurrent_right_answers_verify_once_with_one_audit_row(service: OnboardingService) -> None:
    application_id = _approved_with_attempt(service, 55)
    results = together([lambda: service.confirm_verification(APPLICANT, application_id, 55)] * CALLS)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert {(a.account_state, t.state) for a, t in results} == {(AccountState.VERIFIED, AttemptState.VERIFIED)}
    assert count(service, audit_events, audit_events.c.action == "verification.verified") == 1
    assert count(service, audit_events, audit_events.c.action == "merchant.collection_enabled") == 1
    assert count(service, merchants, merchants.c.settlement_account_verified.is_(True)) == 1
    assert service.collection_refusal("tea-house") is None


def test_fifty_concurrent_wrong_answers_count_three_and_end_the_attempt(service: OnboardingService) -> None:
    application_id = _approved_with_attempt(service, 55)
    results = together([lambda: service.confirm_verification(APPLICANT, application_id, 56)] * CALLS)
    assert all(isinstance(r, Exception) for r in results)
    assert Counter(r.reason for r in results) == {"WRONG_VERIFICATION_AMOUNT": 2, "VERIFICATION_FAILED": 1,
                                                  "NO_VERIFICATION_ATTEMPT": CALLS - 3}
    assert count(service, verification_attempts, verification_attempts.c.wrong_answers == 3,
                 verification_attempts.c.state == "FAILED") == 1
    assert service.get_application(application_id).application.account_state is AccountState.FAILED


def test_fifty_concurrent_submissions_for_one_merchant_id_store_one(service: OnboardingService) -> None:
    results = together([partial(service.submit, Actor(ActorKind.APPLICANT, f"acct-{i}", via="mgmt-centre"),
                                form(basic__applicant_account_id=f"acct-{i}")) for i in range(CALLS)])
    stored = [r for r in results if not isinstance(r, CashierError)]
    refused = [r for r in results if isinstance(r, CashierError)]
    assert len(stored) == 1 and {r.reason for r in refused} == {"MERCHANT_ID_TAKEN"}
    assert count(service, audit_events, audit_events.c.action == "application.submitted") == 1
