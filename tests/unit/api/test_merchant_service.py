"""MerchantService in process (see inprocess.py for the layer): the real interceptor, the servicer, the onboarding
service on a real SQLite database, and a stand-in for Alipay's transfer. The interceptor lets apps and operators
through to this service; what apps may call is checked on the servicer directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import grpc_testing
import pytest

from cashier.v1 import merchant_pb2 as mpb
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import onboarding_pb2 as opb
from gateway.api.interceptor import CashierInterceptor, principal_var
from gateway.api.merchant_servicer import MerchantServicer
from gateway.bootstrap import Gateway
from gateway.domain.errors import NotFound, PermissionDenied
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.service.onboarding import OnboardingService
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from tests.onboarding_support import CREDIT_CODE, PNG, AlipayStandIn
from tests.unit.api.inprocess import TIMEOUT, Answer, _answer, _intercepted, invalid, refused

SERVICE = msvc.DESCRIPTOR.services_by_name["MerchantService"]
M = SERVICE.methods_by_name
SUBMIT, GET_APP, LIST_APPS_ = M["SubmitApplication"], M["GetApplication"], M["ListApplications"]
UPDATE, WITHDRAW, REVIEW = M["UpdateApplication"], M["WithdrawApplication"], M["ReviewApplication"]
ADD_DOC, GET_DOC = M["AddApplicationDocument"], M["GetApplicationDocument"]
GET_MERCHANT, LIST_MERCHANTS = M["GetMerchant"], M["ListMerchants"]
START, CONFIRM = M["StartAccountVerification"], M["ConfirmAccountVerification"]
GET_SCHEDULE, SET_PLAN = M["GetSettlementSchedule"], M["SetSettlementPlan"]
RECORD, LIST_DEPOSITS, RELEASE = M["RecordDeposit"], M["ListDeposits"], M["ReleaseDeposit"]
LIST_SQUARE, AUTHORIZE, REVOKE, AUDIT = M["ListApps"], M["AuthorizeApp"], M["RevokeApp"], M["ListAuditEvents"]
LEGAL = "Fuzhou Tea House Co., Ltd."


class MerchantApi:
    def __init__(self, gateway: Gateway, alipay: AlipayStandIn):
        self.onboarding = OnboardingService(SqlUnitOfWorkFactory(gateway.engine), alipay)
        self.servicer = MerchantServicer(self.onboarding, gateway.admin, gateway.idempotency)
        interceptor = CashierInterceptor(gateway.authenticator, gateway.metrics)
        self.server = grpc_testing.server_from_dictionary(
            {SERVICE: _intercepted(self.servicer, SERVICE, interceptor)}, grpc_testing.strict_real_time())

    def call(self, method: Any, request: Any, key: str, metadata: tuple[tuple[str, str], ...] = ()) -> Answer:
        rpc = self.server.invoke_unary_unary(method, (("authorization", f"Bearer {key}"), *metadata), request, TIMEOUT)
        response, trailing, code, details = rpc.termination()
        return _answer([] if response is None else [response], rpc.initial_metadata(), trailing, code, details)


@pytest.fixture
def alipay() -> AlipayStandIn:
    return AlipayStandIn()


@pytest.fixture
def mapi(gateway: Gateway, alipay: AlipayStandIn) -> Iterator[MerchantApi]:
    yield MerchantApi(gateway, alipay)


def application(merchant_id: str = "tea-house", **changes: Any) -> opb.Application:
    msg = opb.Application(
        merchant_id=merchant_id, display_name="Tea House",
        basic_info=opb.BasicInfo(applicant_account_id="acct-1001", kind=opb.VERIFICATION_KIND_ENTERPRISE,
                                 contact_name="Lin Mei", contact_phone="13800138000", contact_email="lin@example.com"),
        business_info=opb.BusinessInfo(legal_name=LEGAL, credit_code=CREDIT_CODE, registered_address="1 Wusi Road",
                                       business_scope="Tea retail", business_category="food"),
        financial_info=opb.FinancialInfo(payout_logon_id="finance@teahouse.example", holder_name=LEGAL))
    for path, value in changes.items():
        part, _, name = path.partition("__")
        setattr(getattr(msg, part), name, value) if name else setattr(msg, part, value)
    return msg


def metadata(answer: Answer) -> dict[str, str]:
    assert answer.info is not None
    return dict(answer.info.metadata)


def submit(mapi: MerchantApi, key: str, **changes: Any) -> opb.Application:
    return mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application(**changes)), key).response.application


def test_onboarding_over_the_servicer(mapi: MerchantApi, operator_key: str, alipay: AlipayStandIn,
                                      gateway: Gateway) -> None:
    idem = (("idempotency-key", "submit-1"),)
    submitted = mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application()), operator_key, idem).response
    assert mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application()), operator_key,
                     idem).response == submitted  # a retry: the first answer
    app = submitted.application
    assert (app.state, app.account_state, app.revision) == (
        opb.APPLICATION_STATE_SUBMITTED, opb.ACCOUNT_VERIFICATION_STATE_UNVERIFIED, 1)
    assert app.name.startswith("applications/apl_") and app.basic_info.kind == opb.VERIFICATION_KIND_ENTERPRISE

    html = mapi.call(ADD_DOC, msvc.AddApplicationDocumentRequest(parent=app.name, content=b"<html>licence.png"),
                     operator_key)
    assert invalid(html) == ["content"]
    doc = mapi.call(ADD_DOC, msvc.AddApplicationDocumentRequest(parent=app.name, content=PNG),
                    operator_key).response.document
    assert doc.content_type == "image/png" and doc.size_bytes == len(PNG)
    read = mapi.call(GET_DOC, msvc.GetApplicationDocumentRequest(name=doc.name), operator_key).response
    assert read.content == PNG and read.document == doc

    reviewed = mapi.call(REVIEW, msvc.ReviewApplicationRequest(name=app.name, decision=msvc.REVIEW_DECISION_APPROVE),
                         operator_key).response
    assert reviewed.application.state == opb.APPLICATION_STATE_APPROVED
    assert reviewed.merchant.name == "merchants/tea-house" and not reviewed.merchant.collection_enabled
    again = mapi.call(REVIEW, msvc.ReviewApplicationRequest(name=app.name, decision=msvc.REVIEW_DECISION_REJECT,
                                                            reason="no"), operator_key)
    refused(again, grpc.StatusCode.FAILED_PRECONDITION, "APPLICATION_STATE_CONFLICT")

    attempt = mapi.call(START, msvc.StartAccountVerificationRequest(name=app.name), operator_key).response.attempt
    assert attempt.state == opb.VERIFICATION_ATTEMPT_STATE_SENT and attempt.answers_left == 3
    wrong = mapi.call(CONFIRM, msvc.ConfirmAccountVerificationRequest(name=app.name, amount=100), operator_key)
    assert metadata(refused(wrong, grpc.StatusCode.FAILED_PRECONDITION, "WRONG_VERIFICATION_AMOUNT"))[
        "answers_left"] == "2"
    confirmed = mapi.call(CONFIRM, msvc.ConfirmAccountVerificationRequest(name=app.name, amount=alipay.sent[-1][2]),
                          operator_key).response
    assert confirmed.application.account_state == opb.ACCOUNT_VERIFICATION_STATE_VERIFIED
    merchant = mapi.call(GET_MERCHANT, msvc.GetMerchantRequest(name="merchants/tea-house"), operator_key).response
    assert merchant.merchant.collection_enabled

    gateway.admin.create_app("micro-shop", "Micro Shop")
    mapi.onboarding.list_in_square(Actor(ActorKind.OPERATOR, "ops-1"), "micro-shop", True, "Shops in minutes")
    square = mapi.call(LIST_SQUARE, msvc.ListAppsRequest(), operator_key).response
    assert [(a.name, a.display_name, a.description) for a in square.apps] == [
        ("apps/micro-shop", "Micro Shop", "Shops in minutes")]
    grant = mapi.call(AUTHORIZE, msvc.AuthorizeAppRequest(parent="merchants/tea-house", app="apps/micro-shop"),
                      operator_key).response.authorization
    assert grant.name == "merchants/tea-house/appAuthorizations/micro-shop"

    plan = mapi.call(SET_PLAN, msvc.SetSettlementPlanRequest(merchant="merchants/tea-house",
                                                             plan=mpb.SETTLEMENT_PLAN_T0), operator_key)
    assert metadata(refused(plan, grpc.StatusCode.FAILED_PRECONDITION, "DEPOSIT_REQUIRED"))["missing"] == "2000000"
    deposit = mapi.call(RECORD, msvc.RecordDepositRequest(parent="merchants/tea-house", amount=2_000_000,
                                                          external_reference="BANK-1"), operator_key).response.deposit
    assert deposit.state == opb.DEPOSIT_STATE_HELD and deposit.amount == 2_000_000
    schedule = mapi.call(SET_PLAN, msvc.SetSettlementPlanRequest(merchant="merchants/tea-house",
                                                                 plan=mpb.SETTLEMENT_PLAN_T0), operator_key).response
    assert schedule.schedule.plan == mpb.SETTLEMENT_PLAN_T15 and schedule.schedule.next_plan == mpb.SETTLEMENT_PLAN_T0
    released = mapi.call(RELEASE, msvc.ReleaseDepositRequest(name=deposit.name), operator_key).response
    # T+0 was only scheduled: releasing cancels it and the deposit goes at once (T+0 never took effect).
    assert released.deposit.state == opb.DEPOSIT_STATE_RELEASED
    assert (released.schedule.plan, released.schedule.next_plan) == (mpb.SETTLEMENT_PLAN_T15,
                                                                     mpb.SETTLEMENT_PLAN_UNSPECIFIED)
    got = mapi.call(GET_SCHEDULE, msvc.GetSettlementScheduleRequest(name="merchants/tea-house/settlementSchedule"),
                    operator_key).response.schedule
    assert got.deposit_required == 2_000_000
    listed = mapi.call(LIST_DEPOSITS, msvc.ListDepositsRequest(parent="merchants/tea-house"), operator_key).response
    assert [d.name for d in listed.deposits] == [deposit.name]

    mapi.call(REVOKE, msvc.RevokeAppRequest(name=grant.name), operator_key).response  # noqa: B018
    audit = mapi.call(AUDIT, msvc.ListAuditEventsRequest(merchant="merchants/tea-house", page_size=100),
                      operator_key).response.audit_events
    assert audit[0].action == "app.revoked" and audit[0].actor_kind == opb.ACTOR_KIND_OPERATOR
    by_app = mapi.call(AUDIT, msvc.ListAuditEventsRequest(application=app.name, page_size=100),
                       operator_key).response.audit_events
    submitted_row = by_app[-1]
    assert (submitted_row.action, submitted_row.actor_kind, submitted_row.actor_id, submitted_row.via) == (
        "application.submitted", opb.ACTOR_KIND_APPLICANT, "acct-1001", "ops-1")
    assert submitted_row.before_json == "" and '"state":"SUBMITTED"' in submitted_row.after_json
    listed_apps = mapi.call(LIST_APPS_, msvc.ListApplicationsRequest(state=opb.APPLICATION_STATE_APPROVED,
                                                                    kind=opb.VERIFICATION_KIND_ENTERPRISE),
                            operator_key).response
    assert [a.name for a in listed_apps.applications] == [app.name]
    got_app = mapi.call(GET_APP, msvc.GetApplicationRequest(name=app.name), operator_key).response.application
    assert [d.name for d in got_app.documents] == [doc.name]
    merchants = mapi.call(LIST_MERCHANTS, msvc.ListMerchantsRequest(), operator_key).response
    assert [m.name for m in merchants.merchants] == ["merchants/tea-house"]


def test_every_bad_field_is_named_with_the_request_path(mapi: MerchantApi, operator_key: str) -> None:
    answer = mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application(
        "Tea", basic_info__kind=opb.VERIFICATION_KIND_UNSPECIFIED, business_info__credit_code="91350100M000100Y44",
        financial_info__holder_name="Lin Mei")), operator_key)
    assert invalid(answer) == ["application.merchant_id", "application.basic_info.kind",
                               "application.business_info.credit_code"]
    assert "wrong check character" in answer.details
    holder = mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application(
        financial_info__holder_name="Lin Mei")), operator_key)
    assert invalid(holder) == ["application.financial_info.holder_name"]
    assert invalid(mapi.call(GET_APP, msvc.GetApplicationRequest(name="applications/x"), operator_key)) == ["name"]
    assert invalid(mapi.call(RELEASE, msvc.ReleaseDepositRequest(name="merchants/x/deposits/1"),
                             operator_key)) == ["name"]
    assert invalid(mapi.call(AUTHORIZE, msvc.AuthorizeAppRequest(parent="shops/x", app="micro-shop"),
                             operator_key)) == ["parent", "app"]
    individual = mapi.call(SUBMIT, msvc.SubmitApplicationRequest(application=application(
        basic_info__kind=opb.VERIFICATION_KIND_INDIVIDUAL)), operator_key)
    refused(individual, grpc.StatusCode.FAILED_PRECONDITION, "INDIVIDUALS_NOT_OPEN")
    listed = mapi.call(LIST_APPS_, msvc.ListApplicationsRequest(), operator_key).response
    assert list(listed.applications) == []


def test_sent_back_updated_and_withdrawn(mapi: MerchantApi, operator_key: str) -> None:
    app = submit(mapi, operator_key)
    back = mapi.call(REVIEW, msvc.ReviewApplicationRequest(name=app.name, decision=msvc.REVIEW_DECISION_SEND_BACK),
                     operator_key)
    assert invalid(back) == ["reason"]
    back = mapi.call(REVIEW, msvc.ReviewApplicationRequest(name=app.name, decision=msvc.REVIEW_DECISION_SEND_BACK,
                                                           reason="photo unreadable"), operator_key).response
    assert back.application.state == opb.APPLICATION_STATE_SENT_BACK
    assert back.application.decision_reason == "photo unreadable" and not back.HasField("merchant")
    changed = application(display_name="Tea House Fuzhou")
    changed.name = app.name
    updated = mapi.call(UPDATE, msvc.UpdateApplicationRequest(application=changed), operator_key).response.application
    assert (updated.state, updated.revision, updated.display_name) == (
        opb.APPLICATION_STATE_SUBMITTED, 2, "Tea House Fuzhou")
    withdrawn = mapi.call(WITHDRAW, msvc.WithdrawApplicationRequest(name=app.name), operator_key).response
    assert withdrawn.application.state == opb.APPLICATION_STATE_WITHDRAWN
    refused(mapi.call(WITHDRAW, msvc.WithdrawApplicationRequest(name=app.name), operator_key),
            grpc.StatusCode.FAILED_PRECONDITION, "APPLICATION_STATE_CONFLICT")


class _NoMetadata:
    """The one part of a servicer context these direct calls use."""

    def invocation_metadata(self) -> tuple[()]:
        return ()


def test_apps_read_only_their_merchants_and_the_square(mapi: MerchantApi, operator_key: str) -> None:
    servicer, ctx = mapi.servicer, _NoMetadata()
    token = principal_var.set(Principal(PrincipalKind.APP, "micro-shop", frozenset({"tea-house"})))
    try:
        with pytest.raises(PermissionDenied):
            servicer.SubmitApplication(msvc.SubmitApplicationRequest(application=application()), ctx)  # type: ignore[arg-type]
        with pytest.raises(PermissionDenied):
            servicer.ListAuditEvents(msvc.ListAuditEventsRequest(), ctx)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            servicer.GetMerchant(msvc.GetMerchantRequest(name="merchants/other-shop"), ctx)  # type: ignore[arg-type]
        assert list(servicer.ListApps(msvc.ListAppsRequest(), ctx).apps) == []  # type: ignore[arg-type]
    finally:
        principal_var.reset(token)


def test_every_rpc_of_the_service_is_exercised_here() -> None:
    named = {value.full_name for value in globals().values() if hasattr(value, "containing_service")}
    assert {m.full_name for m in SERVICE.methods} - named == set()
