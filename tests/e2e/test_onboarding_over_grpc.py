"""Merchant onboarding over the real wire: a running gateway, real gRPC, on SQLite and PostgreSQL.

The management centre calls MerchantService with operator credentials; a trading app with its own key reads
only the merchants it acts for and the application square. Collection is gated: CreatePayment and
PreviewRoute refuse a merchant that may not collect, with a reason naming what is missing.

Not here: a verified account and the collection it opens. Verification needs a payout rail (the Alipay payouts
plugin in certificate mode), which this gateway does not install yet; StartAccountVerification's refusal
without one is tested instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import merchant_pb2 as mpb
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from cashier.v1 import payment_pb2 as pb
from cashier.v1 import settlement_service_pb2 as ssvc
from cashier.v1 import settlement_service_pb2_grpc as ssvc_grpc
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.runtime import RunningGateway
from gateway.service.admin import NewMerchant
from tests.onboarding_support import CREDIT_CODE, OTHER_CREDIT_CODE, PNG
from tests.support import error_details, make_settings, running_gateway

LEGAL = "Fuzhou Tea House Co., Ltd."
ORANGE_LEGAL = "Xiamen Lin's Pottery Workshop"


def application(merchant_id: str, kind: int = opb.VERIFICATION_KIND_ENTERPRISE, **changes: Any) -> opb.Application:
    legal = ORANGE_LEGAL if kind == opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS else LEGAL
    code = OTHER_CREDIT_CODE if kind == opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS else CREDIT_CODE
    msg = opb.Application(
        merchant_id=merchant_id, display_name=merchant_id.replace("-", " ").title(),
        basic_info=opb.BasicInfo(applicant_account_id=f"acct-{merchant_id}", kind=kind, contact_name="Lin Mei",
                                 contact_phone="13800138000", contact_email="lin@example.com"),
        business_info=opb.BusinessInfo(legal_name=legal, credit_code=code, registered_address="1 Wusi Road",
                                       business_scope="Tea retail", business_category="food"),
        financial_info=opb.FinancialInfo(payout_logon_id=f"finance@{merchant_id}.example", holder_name=legal))
    if kind == opb.VERIFICATION_KIND_INDIVIDUAL:
        msg.business_info.CopyFrom(opb.BusinessInfo(business_category="crafts"))
        msg.financial_info.CopyFrom(opb.FinancialInfo(payout_logon_id="13900139000", holder_name="Wang Fang"))
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


class Centre:
    """The management centre (operator credentials) and one trading app, on one gateway."""

    def __init__(self, server: RunningGateway, channel: grpc.Channel, operator_id: str = "centre",
                 app_id: str = "micro-shop"):
        self.server = server
        self.channel = channel
        admin = server.gateway.admin
        self.operator = [("authorization", f"Bearer {admin.create_operator(operator_id).key}")]
        self.app_id = app_id
        self.app = [("authorization", f"Bearer {admin.create_app(app_id, 'Micro Shop').key}")]
        self.merchants = msvc_grpc.MerchantServiceStub(channel)
        self.cashier = svc_grpc.CashierServiceStub(channel)

    def call(self, method: str, request: Any, *, as_app: bool = False, key: str | None = None) -> Any:
        metadata = list(self.app if as_app else self.operator)
        if key is not None:
            metadata.append(("idempotency-key", key))
        return getattr(self.merchants, method)(request, metadata=metadata, timeout=20)

    def refused(self, method: str, request: Any, code: grpc.StatusCode, reason: str, *, as_app: bool = False,
                cashier: bool = False) -> tuple[str, dict[str, str]]:
        stub = self.cashier if cashier else self.merchants
        metadata = self.app if as_app or cashier else self.operator
        with pytest.raises(grpc.RpcError) as err:
            getattr(stub, method)(request, metadata=metadata, timeout=20)
        _, info = error_details(err.value)
        assert (err.value.code(), info.reason if info else None) == (code, reason), err.value.details()
        return err.value.details() or "", dict(info.metadata) if info else {}

    def submit(self, merchant_id: str, kind: int = opb.VERIFICATION_KIND_ENTERPRISE) -> opb.Application:
        return self.call("SubmitApplication", msvc.SubmitApplicationRequest(
            application=application(merchant_id, kind)), key=f"submit-{merchant_id}").application

    def review(self, name: str, decision: int, reason: str = "") -> msvc.ReviewApplicationResponse:
        return self.call("ReviewApplication", msvc.ReviewApplicationRequest(name=name, decision=decision,
                                                                            reason=reason))

    def authorize(self, merchant_id: str) -> None:
        self.call("AuthorizeApp", msvc.AuthorizeAppRequest(parent=f"merchants/{merchant_id}", app=f"apps/{self.app_id}"))
        self.wait_for_auth_cache()

    def wait_for_auth_cache(self) -> None:
        """The app's merchants are cached with its key for `[auth] cache_seconds`."""
        time.sleep(self.server.gateway.settings.auth.cache_seconds + 0.1)

    def payment(self, merchant_id: str) -> svc.CreatePaymentRequest:
        return svc.CreatePaymentRequest(
            parent=f"merchants/{merchant_id}", out_trade_no=f"order-{time.monotonic_ns()}", amount=2590,
            currency_code="CNY", subject="Oolong tea, 250 g", scenario=pb.SCENARIO_POST_PRODUCT_CARD,
            client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0"))

    def preview(self, merchant_id: str) -> svc.PreviewRouteRequest:
        p = self.payment(merchant_id)
        return svc.PreviewRouteRequest(parent=p.parent, amount=p.amount, currency_code=p.currency_code,
                                       client=p.client, scenario=p.scenario)

    def cannot_collect(self, merchant_id: str, reason: str) -> str:
        """CreatePayment and PreviewRoute refuse alike; the message of the first."""
        message, info = self.refused("CreatePayment", self.payment(merchant_id), grpc.StatusCode.FAILED_PRECONDITION,
                                     reason, cashier=True)
        assert info["merchant"] == merchant_id
        self.refused("PreviewRoute", self.preview(merchant_id), grpc.StatusCode.FAILED_PRECONDITION, reason,
                     cashier=True)
        return message

    def audit(self, **filters: str) -> list[opb.AuditEvent]:
        return list(self.call("ListAuditEvents", msvc.ListAuditEventsRequest(page_size=100, **filters)).audit_events)


@pytest.fixture
def centre(server: RunningGateway, grpc_channel: grpc.Channel) -> Centre:
    centre = Centre(server, grpc_channel)
    server.gateway.onboarding.list_in_square(Actor(ActorKind.OPERATOR, "centre"), centre.app_id, True,
                                             "A shop in minutes")
    return centre


def test_a_blue_v_applies_is_sent_back_resubmits_is_approved_and_cannot_collect_until_verified(
        centre: Centre) -> None:
    submitted = centre.submit("tea-house")
    assert (submitted.state, submitted.revision, submitted.basic_info.kind) == (
        opb.APPLICATION_STATE_SUBMITTED, 1, opb.VERIFICATION_KIND_ENTERPRISE)
    # A retry with the same idempotency key: the first answer, no second application.
    assert centre.submit("tea-house") == submitted

    # A business licence is needed to approve a Blue V.
    centre.refused("ReviewApplication", msvc.ReviewApplicationRequest(
        name=submitted.name, decision=msvc.REVIEW_DECISION_APPROVE), grpc.StatusCode.FAILED_PRECONDITION,
        "DOCUMENTS_MISSING")
    details, _ = centre.refused("AddApplicationDocument", msvc.AddApplicationDocumentRequest(
        parent=submitted.name, content=b"<html>licence.png</html>"), grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT")
    document = centre.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(
        parent=submitted.name, content=PNG)).document
    assert (document.content_type, document.size_bytes) == ("image/png", len(PNG))

    sent_back = centre.review(submitted.name, msvc.REVIEW_DECISION_SEND_BACK, "The licence photo is blurred").application
    assert (sent_back.state, sent_back.decision_reason) == (opb.APPLICATION_STATE_SENT_BACK,
                                                             "The licence photo is blurred")
    fixed = application("tea-house", name=submitted.name, display_name="Tea House Fuzhou")
    resubmitted = centre.call("UpdateApplication", msvc.UpdateApplicationRequest(application=fixed)).application
    assert (resubmitted.state, resubmitted.revision, resubmitted.display_name) == (
        opb.APPLICATION_STATE_SUBMITTED, 2, "Tea House Fuzhou")

    approved = centre.review(submitted.name, msvc.REVIEW_DECISION_APPROVE)
    assert approved.application.state == opb.APPLICATION_STATE_APPROVED
    assert approved.merchant.name == "merchants/tea-house"
    assert approved.merchant.state == mpb.MERCHANT_STATE_APPROVED and not approved.merchant.collection_enabled

    # Verification needs a payout rail, which is not installed: refused before anything is stored or sent.
    details, _ = centre.refused("StartAccountVerification", msvc.StartAccountVerificationRequest(
        name=submitted.name), grpc.StatusCode.FAILED_PRECONDITION, "TRANSFERS_NOT_CONFIGURED")
    assert "no payout rail is installed" in details
    read = centre.call("GetApplication", msvc.GetApplicationRequest(name=submitted.name)).application
    assert read.account_state == opb.ACCOUNT_VERIFICATION_STATE_UNVERIFIED

    centre.authorize("tea-house")
    message = centre.cannot_collect("tea-house", "SETTLEMENT_ACCOUNT_NOT_VERIFIED")
    assert "payout account is not verified" in message

    actions = [e.action for e in centre.audit(application=submitted.name)]
    assert {"application.submitted", "document.added", "application.sent_back", "application.updated",
            "application.approved"} <= set(actions)
    merchant_actions = {e.action for e in centre.audit(merchant="merchants/tea-house")}
    assert {"merchant.created", "app.authorized"} <= merchant_actions
    submitted_by = next(e for e in centre.audit(application=submitted.name) if e.action == "application.submitted")
    assert (submitted_by.actor_kind, submitted_by.actor_id, submitted_by.via) == (
        opb.ACTOR_KIND_APPLICANT, "acct-tea-house", "centre")


def test_an_orange_v_applies_and_is_approved_and_a_rejected_application_is_told_why(centre: Centre) -> None:
    orange = centre.submit("lin-pottery", opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS)
    assert orange.basic_info.kind == opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS
    centre.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(parent=orange.name, content=PNG))
    approved = centre.review(orange.name, msvc.REVIEW_DECISION_APPROVE)
    assert approved.merchant.name == "merchants/lin-pottery" and not approved.merchant.collection_enabled

    rejected_app = centre.submit("fake-tea")
    rejected = centre.review(rejected_app.name, msvc.REVIEW_DECISION_REJECT, "The licence has expired").application
    assert (rejected.state, rejected.decision_reason) == (opb.APPLICATION_STATE_REJECTED, "The licence has expired")
    # No merchant comes of it.
    centre.refused("GetMerchant", msvc.GetMerchantRequest(name="merchants/fake-tea"), grpc.StatusCode.NOT_FOUND,
                   "MERCHANT_NOT_FOUND")
    listed = centre.call("ListApplications", msvc.ListApplicationsRequest(state=opb.APPLICATION_STATE_APPROVED))
    assert [a.merchant_id for a in listed.applications] == ["lin-pottery"]
    by_kind = centre.call("ListApplications", msvc.ListApplicationsRequest(
        kind=opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS))
    assert [a.merchant_id for a in by_kind.applications] == ["lin-pottery"]


def test_a_trading_app_reads_only_the_merchants_it_acts_for_and_writes_nothing(centre: Centre) -> None:
    for merchant_id in ("tea-house", "other-shop"):
        app = centre.submit(merchant_id)
        centre.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(parent=app.name, content=PNG))
        centre.review(app.name, msvc.REVIEW_DECISION_APPROVE)

    square = centre.call("ListApps", msvc.ListAppsRequest(), as_app=True).apps
    assert [(a.name, a.display_name, a.description) for a in square] == [
        ("apps/micro-shop", "Micro Shop", "A shop in minutes")]
    # Before the merchant authorises it, the app learns nothing of it: as for a merchant that does not exist.
    centre.refused("GetMerchant", msvc.GetMerchantRequest(name="merchants/tea-house"), grpc.StatusCode.NOT_FOUND,
                   "MERCHANT_NOT_FOUND", as_app=True)
    assert list(centre.call("ListMerchants", msvc.ListMerchantsRequest(), as_app=True).merchants) == []

    # The management centre authorises the app picked from the square, on the merchant's behalf.
    grant = centre.call("AuthorizeApp", msvc.AuthorizeAppRequest(parent="merchants/tea-house",
                                                                 app=square[0].name)).authorization
    assert grant.name == "merchants/tea-house/appAuthorizations/micro-shop"
    centre.wait_for_auth_cache()
    read = centre.call("GetMerchant", msvc.GetMerchantRequest(name="merchants/tea-house"), as_app=True).merchant
    assert (read.name, read.display_name) == ("merchants/tea-house", "Tea House")
    assert [m.name for m in centre.call("ListMerchants", msvc.ListMerchantsRequest(), as_app=True).merchants] == [
        "merchants/tea-house"]
    centre.refused("GetMerchant", msvc.GetMerchantRequest(name="merchants/other-shop"), grpc.StatusCode.NOT_FOUND,
                   "MERCHANT_NOT_FOUND", as_app=True)

    # Everything else of the service needs operator credentials; an app's call changes nothing.
    before = centre.audit()
    for method, request in [
        ("SubmitApplication", msvc.SubmitApplicationRequest(application=application("app-made"))),
        ("ListApplications", msvc.ListApplicationsRequest()),
        ("AuthorizeApp", msvc.AuthorizeAppRequest(parent="merchants/other-shop", app="apps/micro-shop")),
        ("RevokeApp", msvc.RevokeAppRequest(name="merchants/tea-house/appAuthorizations/micro-shop")),
        ("SetSettlementPlan", msvc.SetSettlementPlanRequest(merchant="merchants/tea-house",
                                                            plan=mpb.SETTLEMENT_PLAN_T0)),
        ("RecordDeposit", msvc.RecordDepositRequest(parent="merchants/tea-house", amount=2_000_000,
                                                    external_reference="bank-1")),
        ("ListAuditEvents", msvc.ListAuditEventsRequest()),
    ]:
        centre.refused(method, request, grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS", as_app=True)
    assert centre.audit() == before

    # Revoked: the app loses the merchant again.
    centre.call("RevokeApp", msvc.RevokeAppRequest(name=grant.name))
    centre.wait_for_auth_cache()
    centre.refused("GetMerchant", msvc.GetMerchantRequest(name="merchants/tea-house"), grpc.StatusCode.NOT_FOUND,
                   "MERCHANT_NOT_FOUND", as_app=True)
    assert {"app.authorized", "app.revoked"} <= {e.action for e in centre.audit(merchant="merchants/tea-house")}


def test_t0_needs_the_deposit_and_releasing_it_moves_the_merchant_back_to_t15(centre: Centre) -> None:
    app = centre.submit("tea-house")
    centre.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(parent=app.name, content=PNG))
    centre.review(app.name, msvc.REVIEW_DECISION_APPROVE)
    schedule = centre.call("GetSettlementSchedule", msvc.GetSettlementScheduleRequest(
        name="merchants/tea-house/settlementSchedule")).schedule
    assert (schedule.plan, schedule.deposit_held, schedule.deposit_required) == (
        mpb.SETTLEMENT_PLAN_T15, 0, 2_000_000)

    t0 = msvc.SetSettlementPlanRequest(merchant="merchants/tea-house", plan=mpb.SETTLEMENT_PLAN_T0)
    details, info = centre.refused("SetSettlementPlan", t0, grpc.StatusCode.FAILED_PRECONDITION, "DEPOSIT_REQUIRED")
    assert (info["missing"], info["held"]) == ("2000000", "0") and "2000000 fen is missing" in details

    record = msvc.RecordDepositRequest(parent="merchants/tea-house", amount=2_000_000, currency_code="CNY",
                                       external_reference="bank-20261127-001")
    deposit = centre.call("RecordDeposit", record).deposit
    assert (deposit.amount, deposit.state, deposit.external_reference) == (
        2_000_000, opb.DEPOSIT_STATE_HELD, "bank-20261127-001")
    assert centre.call("RecordDeposit", record).deposit == deposit  # the same reference: the same deposit

    switched = centre.call("SetSettlementPlan", t0).schedule
    # From the next settlement day: T+15 today, T+0 next.
    assert (switched.plan, switched.next_plan, switched.deposit_held) == (
        mpb.SETTLEMENT_PLAN_T15, mpb.SETTLEMENT_PLAN_T0, 2_000_000)
    assert switched.next_plan_date

    released = centre.call("ReleaseDeposit", msvc.ReleaseDepositRequest(name=deposit.name))
    assert released.deposit.state == opb.DEPOSIT_STATE_RELEASED
    assert (released.schedule.plan, released.schedule.next_plan, released.schedule.deposit_held) == (
        mpb.SETTLEMENT_PLAN_T15, mpb.SETTLEMENT_PLAN_UNSPECIFIED, 0)
    merchant = centre.call("GetMerchant", msvc.GetMerchantRequest(name="merchants/tea-house")).merchant
    assert merchant.settlement_plan == mpb.SETTLEMENT_PLAN_T15

    audit = [e for e in centre.audit(merchant="merchants/tea-house")]
    actions = [e.action for e in audit]
    assert {"deposit.recorded", "merchant.settlement_plan_set", "deposit.released"} <= set(actions)
    plan_set = next(e for e in audit if e.action == "merchant.settlement_plan_set")
    assert json.loads(plan_set.before_json)["plan"] == "T15" and json.loads(plan_set.after_json)["next_plan"] == "T0"


def test_collection_is_refused_with_the_application_s_reason(centre: Centre, server: RunningGateway) -> None:
    """A merchant made directly by an operator while an application for its id is open is judged by that
    application; one with no application at all (the old way) collects exactly as before."""
    admin = server.gateway.admin
    admin.create_merchant(NewMerchant("old-shop", "Old Shop"))
    admin.authorize_app(centre.app_id, "old-shop")
    pending = centre.submit("tea-kiosk")
    admin.create_merchant(NewMerchant("tea-kiosk", "Tea Kiosk"))
    admin.authorize_app(centre.app_id, "tea-kiosk")
    centre.wait_for_auth_cache()

    assert centre.cashier.CreatePayment(centre.payment("old-shop"), metadata=centre.app).payment.state == \
        pb.PAYMENT_STATE_PENDING
    assert centre.cashier.PreviewRoute(centre.preview("old-shop"), metadata=centre.app).channel

    assert "still under review" in centre.cannot_collect("tea-kiosk", "APPLICATION_UNDER_REVIEW")
    centre.review(pending.name, msvc.REVIEW_DECISION_SEND_BACK, "Which shop is this?")
    centre.cannot_collect("tea-kiosk", "APPLICATION_SENT_BACK")  # the cache was dropped by the review
    centre.call("UpdateApplication", msvc.UpdateApplicationRequest(application=application("tea-kiosk",
                                                                                           name=pending.name)))
    centre.cannot_collect("tea-kiosk", "APPLICATION_UNDER_REVIEW")
    centre.review(pending.name, msvc.REVIEW_DECISION_REJECT, "Duplicate of an existing merchant")
    centre.cannot_collect("tea-kiosk", "APPLICATION_REJECTED")
    # Nothing was stored for the refused payments.
    listed = centre.cashier.ListPayments(svc.ListPaymentsRequest(parent="merchants/tea-kiosk"), metadata=centre.app)
    assert list(listed.payments) == []


@pytest.fixture
def individuals_open(server: RunningGateway, database_url: str) -> Iterator[RunningGateway]:
    """A second worker on the same database with `[onboarding] individuals = true`."""
    with running_gateway(make_settings(database_url, onboarding={"individuals": True}), housekeeping=False) as opened:
        yield opened


def test_ordinary_individuals_wait_for_the_switch(centre: Centre, individuals_open: RunningGateway) -> None:
    individual = application("wang-crafts", opb.VERIFICATION_KIND_INDIVIDUAL)
    centre.refused("SubmitApplication", msvc.SubmitApplicationRequest(application=individual),
                   grpc.StatusCode.FAILED_PRECONDITION, "INDIVIDUALS_NOT_OPEN")

    with grpc.insecure_channel(individuals_open.grpc_target) as channel:
        opened = msvc_grpc.MerchantServiceStub(channel)
        submitted = opened.SubmitApplication(msvc.SubmitApplicationRequest(application=individual),
                                             metadata=centre.operator).application
        assert submitted.basic_info.kind == opb.VERIFICATION_KIND_INDIVIDUAL
        # A person needs no business licence to be approved.
        approved = opened.ReviewApplication(msvc.ReviewApplicationRequest(
            name=submitted.name, decision=msvc.REVIEW_DECISION_APPROVE), metadata=centre.operator)
        assert approved.merchant.name == "merchants/wang-crafts"
        centre.authorize("wang-crafts")
        with pytest.raises(grpc.RpcError) as err:
            svc_grpc.CashierServiceStub(channel).CreatePayment(centre.payment("wang-crafts"), metadata=centre.app)
        # Individuals open: only the unverified account stands in the way.
        assert error_details(err.value)[1].reason == "SETTLEMENT_ACCOUNT_NOT_VERIFIED"  # type: ignore[union-attr]

    # Where the switch is off, an approved individual still may not collect, and is told so.
    assert "ordinary individuals are not open" in centre.cannot_collect("wang-crafts", "INDIVIDUALS_NOT_OPEN")


def _balances(centre: Centre, merchant_id: str) -> tuple[int, int, int]:
    settlement = ssvc_grpc.SettlementServiceStub(centre.channel)
    got = settlement.GetBalance(ssvc.GetBalanceRequest(name=f"merchants/{merchant_id}/balance"),
                                metadata=centre.operator, timeout=20).balance.balances
    return got.deposit, got.available, got.total


def test_a_deposit_is_in_the_ledger_once_recorded_and_available_once_released(centre: Centre) -> None:
    # Defect (session 6): RecordDeposit and ReleaseDeposit booked nothing; the deposit reached the ledger only
    # through `cashier settle backfill`, so GetBalance showed a T+0 merchant's deposit as 0.00 and a
    # settlement run could not apply it to a negative balance.
    app = centre.submit("tea-house")
    centre.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(parent=app.name, content=PNG))
    centre.review(app.name, msvc.REVIEW_DECISION_APPROVE)
    record = msvc.RecordDepositRequest(parent="merchants/tea-house", amount=2_000_000, currency_code="CNY",
                                       external_reference="bank-20261127-002")
    deposit = centre.call("RecordDeposit", record).deposit
    centre.call("RecordDeposit", record)  # the same deposit again: booked once
    assert _balances(centre, "tea-house") == (2_000_000, 0, 2_000_000)

    centre.call("ReleaseDeposit", msvc.ReleaseDepositRequest(name=deposit.name))
    # Given back: owed to the merchant as available money, paid out by the next settlement run.
    assert _balances(centre, "tea-house") == (0, 2_000_000, 2_000_000)
