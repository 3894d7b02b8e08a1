"""Translation between MerchantService's messages (onboarding.proto, merchant_service.proto) and the onboarding
domain. Resource names of onboarding live here."""

from __future__ import annotations

import json
import re
from typing import Any

from cashier.v1 import merchant_pb2
from cashier.v1 import merchant_service_pb2 as msvc
from cashier.v1 import onboarding_pb2 as opb
from gateway.api.convert import PLAN_OUT, enum_maps, merchant_id_from, timestamp
from gateway.domain.errors import Violations
from gateway.domain.onboarding.application import (
    APPLICATION_ID,
    AccountState,
    Application,
    ApplicationForm,
    ApplicationState,
    BasicInfo,
    BusinessInfo,
    Decision,
    FinancialInfo,
    Kind,
)
from gateway.domain.onboarding.audit import ActorKind, AuditEvent
from gateway.domain.onboarding.documents import Document
from gateway.domain.onboarding.settlement import Deposit, DepositState
from gateway.domain.onboarding.verification import Attempt, AttemptState
from gateway.service.onboarding import Authorization, Schedule
from gateway.service.onboarding_ports import SquareListing

KIND_IN, KIND_OUT = enum_maps(opb.VerificationKind, "VERIFICATION_KIND_", Kind)
APPLICATION_STATE_IN, APPLICATION_STATE_OUT = enum_maps(opb.ApplicationState, "APPLICATION_STATE_", ApplicationState)
ACCOUNT_STATE_IN, ACCOUNT_STATE_OUT = enum_maps(opb.AccountVerificationState, "ACCOUNT_VERIFICATION_STATE_",
                                                 AccountState)
ATTEMPT_STATE_IN, ATTEMPT_STATE_OUT = enum_maps(opb.VerificationAttemptState, "VERIFICATION_ATTEMPT_STATE_",
                                                 AttemptState)
DEPOSIT_STATE_IN, DEPOSIT_STATE_OUT = enum_maps(opb.DepositState, "DEPOSIT_STATE_", DepositState)
DECISION_IN, DECISION_OUT = enum_maps(msvc.ReviewDecision, "REVIEW_DECISION_", Decision)
ACTOR_IN, ACTOR_OUT = enum_maps(opb.ActorKind, "ACTOR_KIND_", ActorKind)

_APPLICATION_NAME = re.compile(r"applications/([^/]+)")
_DOCUMENT_NAME = re.compile(r"applications/([^/]+)/documents/([0-9a-f]{64})")
_DEPOSIT_NAME = re.compile(r"merchants/([^/]+)/deposits/(dep_[0-9A-Z]{26})")
_AUTHORIZATION_NAME = re.compile(r"merchants/([^/]+)/appAuthorizations/([a-z0-9][a-z0-9\-]{2,39})")
_SCHEDULE_NAME = re.compile(r"(merchants/[^/]+)/settlementSchedule")
_APP_NAME = re.compile(r"apps/([a-z0-9][a-z0-9\-]{2,39})")


# --- names ----------------------------------------------------------------------------------------


def application_id_from(v: Violations, field: str, name: str) -> str:
    match = _APPLICATION_NAME.fullmatch(name)
    if match is None or not APPLICATION_ID.fullmatch(match.group(1)):
        v.add(field, "must be an application name such as applications/apl_01J…")
        return ""
    return match.group(1)


def document_name_parts(v: Violations, field: str, name: str) -> tuple[str, str]:
    match = _DOCUMENT_NAME.fullmatch(name)
    if match is None or not APPLICATION_ID.fullmatch(match.group(1)):
        v.add(field, "must be a document name: applications/{application}/documents/{sha256 in hex}")
        return "", ""
    return match.group(1), match.group(2)


def deposit_name_parts(v: Violations, field: str, name: str) -> tuple[str, str]:
    match = _DEPOSIT_NAME.fullmatch(name)
    if match is None:
        v.add(field, "must be a deposit name: merchants/{merchant}/deposits/{deposit}")
        return "", ""
    merchant_id = merchant_id_from(v, field, f"merchants/{match.group(1)}")
    return merchant_id, match.group(2)


def authorization_name_parts(v: Violations, field: str, name: str) -> tuple[str, str]:
    match = _AUTHORIZATION_NAME.fullmatch(name)
    if match is None:
        v.add(field, "must be an authorisation name: merchants/{merchant}/appAuthorizations/{app}")
        return "", ""
    return merchant_id_from(v, field, f"merchants/{match.group(1)}"), match.group(2)


def schedule_merchant_from(v: Violations, field: str, name: str) -> str:
    match = _SCHEDULE_NAME.fullmatch(name)
    if match is None:
        v.add(field, "must be merchants/{merchant}/settlementSchedule")
        return ""
    return merchant_id_from(v, field, match.group(1))


def app_id_from(v: Violations, field: str, name: str) -> str:
    match = _APP_NAME.fullmatch(name)
    if match is None:
        v.add(field, "must be an app name such as apps/micro-shop")
        return ""
    return match.group(1)


# --- requests -------------------------------------------------------------------------------------


def form_from(msg: opb.Application) -> ApplicationForm:
    """The form as sent; its validation (domain) names what is missing or wrong, an unset kind included."""
    b, s, f = msg.basic_info, msg.business_info, msg.financial_info
    return ApplicationForm(
        merchant_id=msg.merchant_id, display_name=msg.display_name,
        basic=BasicInfo(b.applicant_account_id, KIND_IN.get(b.kind), b.contact_name, b.contact_phone,
                        b.contact_email),
        business=BusinessInfo(s.legal_name, s.credit_code, s.registered_address, s.business_scope,
                              s.business_category),
        financial=FinancialInfo(f.payout_logon_id, f.holder_name))


# --- responses ------------------------------------------------------------------------------------


def document_to_proto(d: Document) -> opb.ApplicationDocument:
    return opb.ApplicationDocument(name=f"applications/{d.application_id}/documents/{d.sha256}",
                                   content_type=d.type.value, size_bytes=d.size, create_time=timestamp(d.created_at))


def application_to_proto(a: Application, documents: list[Document] | None = None) -> opb.Application:
    f = a.form
    msg = opb.Application(
        name=f"applications/{a.id}", merchant_id=f.merchant_id, display_name=f.display_name,
        basic_info=opb.BasicInfo(applicant_account_id=f.basic.applicant_account_id, kind=KIND_OUT[a.kind],
                                 contact_name=f.basic.contact_name, contact_phone=f.basic.contact_phone,
                                 contact_email=f.basic.contact_email),
        business_info=opb.BusinessInfo(legal_name=f.business.legal_name, credit_code=f.business.credit_code,
                                       registered_address=f.business.registered_address,
                                       business_scope=f.business.business_scope,
                                       business_category=f.business.business_category),
        financial_info=opb.FinancialInfo(payout_logon_id=f.financial.payout_logon_id,
                                         holder_name=f.financial.holder_name),
        state=APPLICATION_STATE_OUT[a.state], account_state=ACCOUNT_STATE_OUT[a.account_state],
        revision=a.revision, decision_reason=a.decision_reason, create_time=timestamp(a.created_at),
        update_time=timestamp(a.updated_at), documents=[document_to_proto(d) for d in documents or []])
    if a.decided_at is not None:
        msg.decide_time.CopyFrom(timestamp(a.decided_at))
    return msg


def attempt_to_proto(a: Attempt) -> opb.VerificationAttempt:
    return opb.VerificationAttempt(
        name=f"applications/{a.application_id}/verificationAttempts/{a.id}", state=ATTEMPT_STATE_OUT[a.state],
        answers_left=a.answers_left, create_time=timestamp(a.created_at), expire_time=timestamp(a.expires_at),
        refusal=a.refusal)


def deposit_to_proto(d: Deposit) -> opb.Deposit:
    msg = opb.Deposit(name=f"merchants/{d.merchant_id}/deposits/{d.id}", amount=d.amount, currency_code="CNY",
                      external_reference=d.external_reference, state=DEPOSIT_STATE_OUT[d.state],
                      record_time=timestamp(d.recorded_at), release_date=d.release_on.isoformat() if d.release_on else "")
    if d.released_at is not None:
        msg.release_time.CopyFrom(timestamp(d.released_at))
    return msg


def schedule_to_proto(s: Schedule) -> opb.SettlementSchedule:
    return opb.SettlementSchedule(
        name=f"merchants/{s.merchant_id}/settlementSchedule", plan=PLAN_OUT[s.plan],
        next_plan=PLAN_OUT[s.next_plan] if s.next_plan else merchant_pb2.SETTLEMENT_PLAN_UNSPECIFIED,
        next_plan_date=s.next_plan_on.isoformat() if s.next_plan_on else "",
        deposit_held=s.deposit_held, deposit_required=s.deposit_required)


def square_app_to_proto(a: SquareListing) -> opb.SquareApp:
    return opb.SquareApp(name=f"apps/{a.app_id}", display_name=a.display_name, description=a.description)


def authorization_to_proto(a: Authorization) -> opb.AppAuthorization:
    return opb.AppAuthorization(name=f"merchants/{a.merchant_id}/appAuthorizations/{a.app_id}",
                                app=f"apps/{a.app_id}", create_time=timestamp(a.at))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if value is not None else ""


def audit_to_proto(e: AuditEvent) -> opb.AuditEvent:
    return opb.AuditEvent(
        name=f"auditEvents/{e.id}", create_time=timestamp(e.at), actor_kind=ACTOR_OUT[e.actor.kind], actor_id=e.actor.id,
        via=e.actor.via, action=e.action, subject=e.subject,
        application=f"applications/{e.application_id}" if e.application_id else "",
        merchant=f"merchants/{e.merchant_id}" if e.merchant_id else "",
        before_json=_json(e.before), after_json=_json(e.after))
