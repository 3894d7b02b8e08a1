"""Merchant onboarding end to end, over the real wire, on SQLite and PostgreSQL.

The Alipay sandbox runs in certificate mode and knows three accounts (an enterprise's, an Orange V's business
account and a person's); the gateway is configured with the `[channels.alipay]` table it wrote, so the Alipay
payouts plugin registers its rail. Over gRPC the management centre (operator credentials) submits a Blue V's and
an Orange V's applications with their licences, an operator approves them, StartAccountVerification sends a
real transfer through the sandbox, and the applicant reads the amount where a real one would, on the account's
statement (the sandbox's record of transfers, its admin API), and confirms it. The merchant is then collection-
enabled, authorises a trading app from the application square, and that app collects a payment for it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import grpc
import httpx
import pytest
import segno

from cashier.v1 import cashier_service_pb2 as svc
from cashier.v1 import cashier_service_pb2_grpc as svc_grpc
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import merchant_service_pb2_grpc as msvc_grpc
from cashier.v1 import onboarding_pb2 as opb
from cashier.v1 import payment_pb2 as pb
from channels.alipay.sandbox.local import LocalAlipay, start_local_alipay
from gateway.domain.onboarding.audit import Actor, ActorKind
from gateway.domain.onboarding.credit_code import check_character
from gateway.runtime import RunningGateway
from tests.support import error_details, make_settings, running_gateway

BLUE_V = "Fuzhou Tea House Co., Ltd."
ORANGE_V = "Xiamen Lin's Pottery Workshop"
OTHER_ENTERPRISE = "Quanzhou Jasmine Trading Co., Ltd."
ACCOUNTS = {
    "finance@teahouse.example": BLUE_V,           # the Blue V's enterprise account
    "shop@linpottery.example": ORANGE_V,          # the Orange V's business account
    "owner@teahouse.example": "Lin Mei",          # a person's own account
}
APP_ID = "micro-shop"

# Each test takes a few seconds; a hang (a transfer or a stream that never answers) fails fast instead.
pytestmark = pytest.mark.timeout(30)


def credit_code(first17: str) -> str:
    """A well-formed unified social credit code: the first 17 characters and their check character."""
    return first17 + check_character(first17)


def licence_png(code: str) -> bytes:
    """A real PNG, as a photographed licence's QR code would be (segno draws it)."""
    out = io.BytesIO()
    segno.make(code, error="m").save(out, kind="png", scale=4)
    return out.getvalue()


def licence_pdf(text: str) -> bytes:
    """A real one-page PDF (header, objects, cross-reference table, trailer), as a scanned licence is sent."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def enterprise(merchant_id: str, legal_name: str, code: str, logon_id: str) -> opb.Application:
    return opb.Application(
        merchant_id=merchant_id, display_name=merchant_id.replace("-", " ").title(),
        basic_info=opb.BasicInfo(applicant_account_id=f"acct-{merchant_id}", kind=opb.VERIFICATION_KIND_ENTERPRISE,
                                 contact_name="Lin Mei", contact_phone="13800138000",
                                 contact_email=f"lin@{merchant_id}.example"),
        business_info=opb.BusinessInfo(legal_name=legal_name, credit_code=code,
                                       registered_address="1 Wusi Road, Fuzhou", business_scope="Tea retail",
                                       business_category="food"),
        financial_info=opb.FinancialInfo(payout_logon_id=logon_id, holder_name=legal_name))


BLUE_V_FORM = enterprise("tea-house", BLUE_V, credit_code("91350100MA2Y3B4K5"), "finance@teahouse.example")
ORANGE_V_FORM = opb.Application(
    merchant_id="lin-pottery", display_name="Lin's Pottery",
    basic_info=opb.BasicInfo(applicant_account_id="acct-lin-pottery",
                             kind=opb.VERIFICATION_KIND_INDIVIDUAL_WITH_BUSINESS, contact_name="Lin Wei",
                             contact_phone="13900139000", contact_email="wei@linpottery.example"),
    business_info=opb.BusinessInfo(legal_name=ORANGE_V, credit_code=credit_code("92350203MA8N6P7Q1"),
                                   registered_address="8 Zhongshan Road, Xiamen", business_scope="Pottery",
                                   business_category="crafts"),
    financial_info=opb.FinancialInfo(payout_logon_id="shop@linpottery.example", holder_name=ORANGE_V))


@pytest.fixture
def alipay(tmp_path: Path) -> Iterator[LocalAlipay]:
    local = start_local_alipay(tmp_path / "keys", time_scale=0.0005, certificate_mode=True, accounts=ACCOUNTS)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def gateway(alipay: LocalAlipay, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    # The app-pay channel collects; the payouts plugin sends the verification transfers.
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,alipay_payouts")
    settings = make_settings(database_url, channels={"alipay": dict(alipay.channel_table)})
    with running_gateway(settings, housekeeping=False) as running:
        assert [r.name for r in running.gateway.payout_rails] == ["alipay"]
        yield running


class Platform:
    """The management centre and an operator (operator credentials), a trading app, and the applicants'
    view of their Alipay accounts (the sandbox's statement)."""

    def __init__(self, gateway: RunningGateway, channel: grpc.Channel, alipay: LocalAlipay):
        self.gateway = gateway
        admin = gateway.gateway.admin
        self.operator = (("authorization", f"Bearer {admin.create_operator('centre').key}"),)
        self.app = (("authorization", f"Bearer {admin.create_app(APP_ID, 'Micro Shop').key}"),)
        gateway.gateway.onboarding.list_in_square(Actor(ActorKind.OPERATOR, "centre"), APP_ID, True,
                                                  "A shop in minutes")
        self.merchants = msvc_grpc.MerchantServiceStub(channel)
        self.cashier = svc_grpc.CashierServiceStub(channel)
        self.statement = httpx.Client(base_url=alipay.url, timeout=10)

    def call(self, method: str, request: Any, key: str | None = None) -> Any:
        metadata = (*self.operator, *((("idempotency-key", key),) if key else ()))
        return getattr(self.merchants, method)(request, metadata=metadata, timeout=20)

    def refused(self, method: str, request: Any, reason: str, *, cashier: bool = False) -> tuple[str, dict[str, str]]:
        stub, metadata = (self.cashier, self.app) if cashier else (self.merchants, self.operator)
        with pytest.raises(grpc.RpcError) as err:
            getattr(stub, method)(request, metadata=metadata, timeout=20)
        _, info = error_details(err.value)
        assert (err.value.code(), info.reason if info else None) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                     reason), err.value.details()
        return err.value.details() or "", dict(info.metadata) if info else {}

    def transfers_to(self, logon_id: str) -> list[dict[str, Any]]:
        answer = self.statement.get("/sandbox/transfers")
        answer.raise_for_status()
        return [t for t in answer.json()["transfers"] if t["payee_identity"] == logon_id]

    def received(self, logon_id: str) -> int:
        """What the applicant reads on the account's statement: the last amount received, in fen."""
        paid = [t for t in self.transfers_to(logon_id) if t["status"] == "SUCCESS"]
        assert paid, f"nothing reached {logon_id}"
        return int(Decimal(paid[-1]["trans_amount"]) * 100)

    def apply_and_approve(self, form: opb.Application, document: bytes, content_type: str) -> opb.Application:
        submitted = self.call("SubmitApplication", msvc.SubmitApplicationRequest(application=form),
                              key=f"submit-{form.merchant_id}").application
        assert submitted.state == opb.APPLICATION_STATE_SUBMITTED
        added = self.call("AddApplicationDocument", msvc.AddApplicationDocumentRequest(
            parent=submitted.name, content=document)).document
        assert (added.content_type, added.size_bytes) == (content_type, len(document))
        approved = self.call("ReviewApplication", msvc.ReviewApplicationRequest(
            name=submitted.name, decision=msvc.REVIEW_DECISION_APPROVE))
        assert approved.application.state == opb.APPLICATION_STATE_APPROVED
        assert approved.merchant.name == f"merchants/{form.merchant_id}"
        assert not approved.merchant.collection_enabled
        return approved.application

    def start_verification(self, application: opb.Application) -> opb.VerificationAttempt:
        attempt = self.call("StartAccountVerification", msvc.StartAccountVerificationRequest(
            name=application.name)).attempt
        assert (attempt.state, attempt.answers_left) == (opb.VERIFICATION_ATTEMPT_STATE_SENT, 3)
        return attempt

    def confirm(self, application: opb.Application, amount: int) -> msvc.ConfirmAccountVerificationResponse:
        return self.call("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
            name=application.name, amount=amount), key=f"confirm-{time.monotonic_ns()}")

    def payment(self, merchant_id: str) -> svc.CreatePaymentRequest:
        return svc.CreatePaymentRequest(
            parent=f"merchants/{merchant_id}", out_trade_no=f"order-{time.monotonic_ns()}", amount=2590,
            currency_code="CNY", subject="Oolong tea, 250 g", scenario=pb.SCENARIO_POST_PRODUCT_CARD,
            client=pb.Client(platform=pb.PLATFORM_IOS_APP, app_name="Platform", app_version="9.2.0"))

    def merchant(self, merchant_id: str) -> Any:
        return self.call("GetMerchant", msvc.GetMerchantRequest(name=f"merchants/{merchant_id}")).merchant

    def audit(self, application: opb.Application) -> list[opb.AuditEvent]:
        return list(self.call("ListAuditEvents", msvc.ListAuditEventsRequest(
            application=application.name, page_size=100)).audit_events)

    def wait_for_auth_cache(self) -> None:
        """An app's merchants are cached with its key for `[auth] cache_seconds`."""
        time.sleep(self.gateway.gateway.settings.auth.cache_seconds + 0.1)


@pytest.fixture
def platform(gateway: RunningGateway, alipay: LocalAlipay) -> Iterator[Platform]:
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        platform = Platform(gateway, channel, alipay)
        try:
            yield platform
        finally:
            platform.statement.close()


def test_a_blue_v_and_an_orange_v_apply_verify_their_accounts_authorise_an_app_and_collect(
        platform: Platform) -> None:
    forms = [(BLUE_V_FORM, licence_png(BLUE_V_FORM.business_info.credit_code), "image/png"),
             (ORANGE_V_FORM, licence_pdf("Business licence: " + ORANGE_V_FORM.business_info.credit_code),
              "application/pdf")]
    for form, document, content_type in forms:
        merchant_id, logon_id = form.merchant_id, form.financial_info.payout_logon_id
        application = platform.apply_and_approve(form, document, content_type)
        # The centre picks the trading app from the square and authorises it for the merchant.
        square = platform.call("ListApps", msvc.ListAppsRequest()).apps
        assert [(a.name, a.description) for a in square] == [(f"apps/{APP_ID}", "A shop in minutes")]
        grant = platform.call("AuthorizeApp", msvc.AuthorizeAppRequest(
            parent=f"merchants/{merchant_id}", app=square[0].name), key=f"authorize-{merchant_id}").authorization
        assert grant.name == f"merchants/{merchant_id}/appAuthorizations/{APP_ID}"
        platform.wait_for_auth_cache()

        # Approved, authorised, but not verified: the app may not collect yet, and is told why.
        platform.refused("CreatePayment", platform.payment(merchant_id), "SETTLEMENT_ACCOUNT_NOT_VERIFIED",
                         cashier=True)

        attempt = platform.start_verification(application)
        [sent] = platform.transfers_to(logon_id)
        # A real transfer under the holder's name, from the platform's app, signed in certificate mode.
        assert (sent["status"], sent["payee_identity_type"], sent["payee_name"]) == (
            "SUCCESS", "ALIPAY_LOGON_ID", form.financial_info.holder_name)
        assert sent["out_biz_no"] == attempt.name.rsplit("/", 1)[1]
        amount = platform.received(logon_id)
        assert 10 <= amount <= 99

        confirmed = platform.confirm(application, amount)
        assert confirmed.application.account_state == opb.ACCOUNT_VERIFICATION_STATE_VERIFIED
        assert confirmed.attempt.state == opb.VERIFICATION_ATTEMPT_STATE_VERIFIED
        assert platform.merchant(merchant_id).collection_enabled
        actions = {e.action for e in platform.audit(application)}
        assert {"application.approved", "verification.started", "verification.verified",
                "merchant.collection_enabled"} <= actions

        payment = platform.cashier.CreatePayment(platform.payment(merchant_id), metadata=(
            *platform.app, ("idempotency-key", f"first-{merchant_id}")), timeout=20).payment
        assert (payment.state, payment.channel) == (pb.PAYMENT_STATE_PENDING, "mobile")
        # Signed in certificate mode: the order names the app's certificate and Alipay's root.
        assert {"app_cert_sn", "alipay_root_cert_sn", "sign"} <= set(parse_qs(payment.action.app_pay.order_string))

    listed = platform.cashier.ListPayments(svc.ListPaymentsRequest(parent="merchants/lin-pottery"),
                                           metadata=platform.app)
    assert [p.amount for p in listed.payments] == [2590]


def test_a_personal_account_given_for_an_enterprise_is_refused_by_alipay_s_name_check(platform: Platform) -> None:
    # Our own check passes (the holder given is the legal name), but the account is Lin Mei's, not the company's.
    form = enterprise("jasmine-trading", OTHER_ENTERPRISE, credit_code("91350502MA31RT8W6"), "owner@teahouse.example")
    application = platform.apply_and_approve(form, licence_png(form.business_info.credit_code), "image/png")
    audit_before = platform.audit(application)

    details, info = platform.refused("StartAccountVerification", msvc.StartAccountVerificationRequest(
        name=application.name), "TRANSFER_REFUSED")
    assert "the holder's name does not match the Alipay account" in details
    assert info["application"] == application.name.rsplit("/", 1)[1]
    # Alipay refused: no money moved, and the attempt is recorded as refused with the applicant's reason.
    assert [t["status"] for t in platform.transfers_to("owner@teahouse.example")] == ["FAIL"]
    refused = [e for e in platform.audit(application) if e not in audit_before]
    assert [e.action for e in refused] == ["verification.refused", "verification.started"]
    assert "REFUSED" in refused[0].after_json and "does not match the Alipay account" in refused[0].after_json

    # Nothing else changed: still approved, never verified, and no collection.
    read = platform.call("GetApplication", msvc.GetApplicationRequest(name=application.name)).application
    assert read.state == opb.APPLICATION_STATE_APPROVED
    assert read.account_state != opb.ACCOUNT_VERIFICATION_STATE_VERIFIED
    assert not platform.merchant("jasmine-trading").collection_enabled
    platform.refused("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
        name=application.name, amount=50), "NO_VERIFICATION_ATTEMPT")


def test_a_wrong_amount_three_times_ends_the_attempt(platform: Platform) -> None:
    application = platform.apply_and_approve(BLUE_V_FORM, licence_png(BLUE_V_FORM.business_info.credit_code),
                                             "image/png")
    platform.start_verification(application)
    right = platform.received("finance@teahouse.example")
    wrong = 10 if right != 10 else 11
    for left in (2, 1):
        details, info = platform.refused("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
            name=application.name, amount=wrong), "WRONG_VERIFICATION_AMOUNT")
        assert info["answers_left"] == str(left) and f"{left} more answer(s)" in details
    details, _ = platform.refused("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
        name=application.name, amount=wrong), "VERIFICATION_FAILED")
    assert "third time" in details

    # The attempt is over: even the right amount now verifies nothing.
    platform.refused("ConfirmAccountVerification", msvc.ConfirmAccountVerificationRequest(
        name=application.name, amount=right), "NO_VERIFICATION_ATTEMPT")
    read = platform.call("GetApplication", msvc.GetApplicationRequest(name=application.name)).application
    assert read.account_state == opb.ACCOUNT_VERIFICATION_STATE_FAILED
    assert not platform.merchant("tea-house").collection_enabled
    assert [e.action for e in platform.audit(application)].count("verification.failed") == 1

    # A new attempt sends a new amount; answered right, it verifies.
    platform.start_verification(application)
    assert len(platform.transfers_to("finance@teahouse.example")) == 2
    assert platform.confirm(application, platform.received("finance@teahouse.example")).application.account_state == \
        opb.ACCOUNT_VERIFICATION_STATE_VERIFIED
    assert platform.merchant("tea-house").collection_enabled

