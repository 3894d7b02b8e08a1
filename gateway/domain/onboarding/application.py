"""The merchant application: what an applicant tells the platform, its review and its state machine.

Validation names every offending field at once (errors.Violations), under the paths of the contract's
`Application` message (`basic_info.contact_phone`, `business_info.credit_code`, ...), so that the adapter only
prefixes them with the request's field name.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gateway.domain.errors import FailedPrecondition, Violations
from gateway.domain.onboarding.credit_code import credit_code_problem
from gateway.domain.onboarding.ids import new_id
from gateway.domain.validation import check_incoming_text, check_text, validate_merchant_id

APPLICATION_PREFIX = "apl_"
APPLICATION_ID = re.compile(r"apl_[0-9A-HJKMNP-TV-Z]{26}")


class Kind(enum.Enum):
    """How the applicant's platform account is verified."""

    ENTERPRISE = "ENTERPRISE"  # Blue V: an enterprise-verified account
    INDIVIDUAL_WITH_BUSINESS = "INDIVIDUAL_WITH_BUSINESS"  # Orange V: a person holding a business licence
    INDIVIDUAL = "INDIVIDUAL"  # an ordinary person; open only with `[onboarding] individuals = true`

    @property
    def has_business(self) -> bool:
        """Whether the applicant holds a business qualification: its licence data are required, and the
        payout account must be held in its legal name."""
        return self is not Kind.INDIVIDUAL


class ApplicationState(enum.Enum):
    SUBMITTED = "SUBMITTED"
    SENT_BACK = "SENT_BACK"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


OPEN_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.SENT_BACK})
# States in which an application holds its merchant id (no other application may ask for it).
HOLDING_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.SENT_BACK, ApplicationState.APPROVED})
CLOSED_STATES = frozenset({ApplicationState.REJECTED, ApplicationState.WITHDRAWN})


class AccountState(enum.Enum):
    """The payout account's verification (verification.py)."""

    UNVERIFIED = "UNVERIFIED"
    VERIFYING = "VERIFYING"  # a transfer was sent, its amount is awaited
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"  # the last attempt ended without success; a new attempt may start


class Decision(enum.Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    SEND_BACK = "SEND_BACK"


@dataclass(frozen=True, slots=True)
class BasicInfo:
    applicant_account_id: str  # the applicant's platform account, named by the trusted management centre
    kind: Kind | None
    contact_name: str
    contact_phone: str
    contact_email: str


@dataclass(frozen=True, slots=True)
class BusinessInfo:
    legal_name: str
    credit_code: str  # unified social credit code, GB 32100-2015
    registered_address: str
    business_scope: str
    business_category: str  # used by routing rules, as Merchant.business_category


@dataclass(frozen=True, slots=True)
class FinancialInfo:
    payout_logon_id: str  # the Alipay account (logon id: e-mail or mobile number) that receives payouts
    holder_name: str  # its holder's name, which Alipay checks on the verification transfer


@dataclass(frozen=True, slots=True)
class ApplicationForm:
    """What the applicant fills in; `merchant_id` is the merchant the approval will create."""

    merchant_id: str
    display_name: str
    basic: BasicInfo
    business: BusinessInfo
    financial: FinancialInfo


_PHONE = re.compile(r"(\+86)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MOBILE = re.compile(r"(\+86)?1[3-9]\d{9}")


def validate_form(form: ApplicationForm, v: Violations | None = None, prefix: str = "") -> None:
    """Raise InvalidArgument naming every missing or invalid field of `form` (paths under `prefix`)."""
    v = v if v is not None else Violations()
    p = prefix
    validate_merchant_id(v, f"{p}merchant_id", form.merchant_id)
    check_text(v, f"{p}display_name", form.display_name, required=True, limit=128)
    b = form.basic
    if not _ACCOUNT_ID.fullmatch(b.applicant_account_id):
        v.add(f"{p}basic_info.applicant_account_id", "required: 1-64 letters, digits, '_', '.' or '-'")
    if b.kind is None:
        v.add(f"{p}basic_info.kind", "required: ENTERPRISE, INDIVIDUAL_WITH_BUSINESS or INDIVIDUAL")
    check_text(v, f"{p}basic_info.contact_name", b.contact_name, required=True, limit=64)
    if not b.contact_phone:
        v.add(f"{p}basic_info.contact_phone", "required")
    elif not _PHONE.fullmatch(b.contact_phone):
        v.add(f"{p}basic_info.contact_phone", "must be a mainland mobile number (11 digits, optionally +86) "
              "or a landline such as 010-12345678")
    if not b.contact_email:
        v.add(f"{p}basic_info.contact_email", "required")
    elif len(b.contact_email) > 254 or not _EMAIL.fullmatch(b.contact_email):
        v.add(f"{p}basic_info.contact_email", "must be an e-mail address of at most 254 characters")
    s = form.business
    business_required = b.kind is None or b.kind.has_business
    check_text(v, f"{p}business_info.legal_name", s.legal_name, required=business_required, limit=128)
    if s.credit_code or business_required:
        if not s.credit_code:
            v.add(f"{p}business_info.credit_code", "required: the 18-character unified social credit code")
        else:
            problem = credit_code_problem(s.credit_code)
            if problem is not None:
                v.add(f"{p}business_info.credit_code", problem)
    check_text(v, f"{p}business_info.registered_address", s.registered_address, required=business_required,
               limit=256)
    check_text(v, f"{p}business_info.business_scope", s.business_scope, required=business_required, limit=1000)
    check_text(v, f"{p}business_info.business_category", s.business_category, required=True, limit=64)
    f = form.financial
    if not f.payout_logon_id:
        v.add(f"{p}financial_info.payout_logon_id", "required: the Alipay account that receives payouts")
    elif not (_MOBILE.fullmatch(f.payout_logon_id)
              or (len(f.payout_logon_id) <= 100 and _EMAIL.fullmatch(f.payout_logon_id))):
        v.add(f"{p}financial_info.payout_logon_id", "must be an Alipay logon id: an e-mail address or a "
              "mainland mobile number")
    if not f.holder_name.strip():
        v.add(f"{p}financial_info.holder_name", "required: the payout account holder's name")
    elif check_incoming_text(v, f"{p}financial_info.holder_name", f.holder_name, limit=128):
        problem = holder_name_problem(form)
        if problem is not None:
            v.add(f"{p}financial_info.holder_name", problem)
    v.raise_if_any()


def holder_name_problem(form: ApplicationForm) -> str | None:
    """An enterprise (and an Orange V's business) is paid into an account held in its legal name; Alipay
    checks the holder's name on every transfer, so another name fails there. Refused here first, before
    anything is sent. A person's own account (INDIVIDUAL) may bear any holder name Alipay knows."""
    kind = form.basic.kind
    if kind is None or not kind.has_business or not form.business.legal_name.strip():
        return None
    if form.financial.holder_name.strip() != form.business.legal_name.strip():
        return "must be the legal name on the application: the payout account of a business is held in its name"
    return None


def check_eligible(kind: Kind | None, individuals_open: bool) -> None:
    """Refuse a kind of applicant the platform does not take yet (before any field is looked at)."""
    if kind is Kind.INDIVIDUAL and not individuals_open:
        raise FailedPrecondition(
            "applications from ordinary individuals are not open yet: only ENTERPRISE (Blue V) and "
            "INDIVIDUAL_WITH_BUSINESS (Orange V) applicants may apply",
            reason="INDIVIDUALS_NOT_OPEN", metadata={"kind": kind.value})


def new_application_id(at: datetime) -> str:
    return new_id(APPLICATION_PREFIX, at)


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    form: ApplicationForm
    state: ApplicationState
    account_state: AccountState
    revision: int  # 1 on submission, one more on each update
    created_at: datetime
    updated_at: datetime
    # The reviewer's last word: why it was rejected or sent back ("" otherwise); shown to the applicant.
    decision_reason: str = ""
    decided_at: datetime | None = None
    decided_by: str = ""
    account_verified_at: datetime | None = None

    @property
    def kind(self) -> Kind:
        assert self.form.basic.kind is not None  # validated on submission
        return self.form.basic.kind

    @property
    def merchant_id(self) -> str:
        return self.form.merchant_id

    @classmethod
    def submit(cls, *, application_id: str, form: ApplicationForm, now: datetime) -> Application:
        return cls(id=application_id, form=form, state=ApplicationState.SUBMITTED,
                   account_state=AccountState.UNVERIFIED, revision=1, created_at=now, updated_at=now)

    def _refuse(self, action: str, allowed: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"application {self.id} is {self.state.value}: it can be {action} only while {allowed}",
            reason="APPLICATION_STATE_CONFLICT",
            metadata={"application": self.id, "state": self.state.value})

    def updated(self, form: ApplicationForm, now: datetime) -> Application:
        """The resubmission path: a SUBMITTED or SENT_BACK application takes a new form and is SUBMITTED
        again as a new revision. The merchant id and the kind stay those of the first submission. A changed
        payout account (logon id or holder) must be verified again."""
        if self.state not in OPEN_STATES:
            raise self._refuse("updated", "SUBMITTED or SENT_BACK")
        account_changed = form.financial != self.form.financial
        account_state = AccountState.UNVERIFIED if account_changed else self.account_state
        return replace(self, form=form, state=ApplicationState.SUBMITTED, revision=self.revision + 1,
                       updated_at=now, decision_reason="", account_state=account_state,
                       account_verified_at=None if account_changed else self.account_verified_at)

    def reviewed(self, decision: Decision, reason: str, reviewer: str, now: datetime) -> Application:
        if self.state is not ApplicationState.SUBMITTED:
            raise self._refuse("reviewed", "SUBMITTED")
        state = {Decision.APPROVE: ApplicationState.APPROVED, Decision.REJECT: ApplicationState.REJECTED,
                 Decision.SEND_BACK: ApplicationState.SENT_BACK}[decision]
        return replace(self, state=state, decision_reason=reason, decided_at=now, decided_by=reviewer,
                       updated_at=now)

    def withdrawn(self, now: datetime) -> Application:
        if self.state not in OPEN_STATES:
            raise self._refuse("withdrawn", "SUBMITTED or SENT_BACK")
        return replace(self, state=ApplicationState.WITHDRAWN, updated_at=now)

    def check_can_verify(self) -> None:
        """An account is verified on a live application (open or approved), once, and only if the holder
        name rule holds (checked again here: it is what Alipay's own check would refuse)."""
        if self.state in CLOSED_STATES:
            raise self._refuse("verified", "SUBMITTED, SENT_BACK or APPROVED")
        if self.account_state is AccountState.VERIFIED:
            raise FailedPrecondition(f"the payout account of application {self.id} is verified already",
                                     reason="ACCOUNT_ALREADY_VERIFIED", metadata={"application": self.id})
        problem = holder_name_problem(self.form)
        if problem is not None:
            raise FailedPrecondition(f"financial_info.holder_name {problem}", reason="HOLDER_NAME_NOT_LEGAL_NAME",
                                     metadata={"application": self.id})

    def with_account(self, state: AccountState, now: datetime) -> Application:
        return replace(self, account_state=state, updated_at=now,
                       account_verified_at=now if state is AccountState.VERIFIED else self.account_verified_at)


def validate_decision(decision: Decision | None, reason: str, v: Violations | None = None) -> None:
    v = v if v is not None else Violations()
    if decision is None:
        v.add("decision", "required: APPROVE, REJECT or SEND_BACK")
    needs_reason = decision in (Decision.REJECT, Decision.SEND_BACK)
    check_text(v, "reason", reason, required=needs_reason, limit=1000)
    v.raise_if_any()


def application_snapshot(app: Application) -> dict[str, Any]:
    """The application as the audit trail keeps it (before and after a change). Holds personal data: the
    trail is readable by operators only, and never logged."""
    f = app.form
    return {
        "id": app.id, "merchant_id": f.merchant_id, "display_name": f.display_name, "state": app.state.value,
        "account_state": app.account_state.value, "revision": app.revision,
        "decision_reason": app.decision_reason, "decided_by": app.decided_by,
        "basic_info": {"applicant_account_id": f.basic.applicant_account_id,
                       "kind": f.basic.kind.value if f.basic.kind else None, "contact_name": f.basic.contact_name,
                       "contact_phone": f.basic.contact_phone, "contact_email": f.basic.contact_email},
        "business_info": {"legal_name": f.business.legal_name, "credit_code": f.business.credit_code,
                          "registered_address": f.business.registered_address,
                          "business_scope": f.business.business_scope,
                          "business_category": f.business.business_category},
        "financial_info": {"payout_logon_id": f.financial.payout_logon_id, "holder_name": f.financial.holder_name},
    }

