"""Merchant applications (gateway/domain/onboarding/application.py).

Lock order: gateway/storage/__init__.py. An application's row is taken (`lock`) first in every transaction
that changes the application, before the merchant row it creates or changes and anything after that.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select, update

from gateway.domain.onboarding.application import (
    AccountState,
    Application,
    ApplicationForm,
    ApplicationState,
    BasicInfo,
    BusinessInfo,
    FinancialInfo,
    Kind,
)
from gateway.service.onboarding_ports import ApplicationQuery
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import application_documents, applications


def _values(a: Application) -> dict[str, Any]:
    f = a.form
    return {
        "application_id": a.id, "merchant_id": f.merchant_id, "applicant_account_id": f.basic.applicant_account_id,
        "kind": a.kind.value, "state": a.state.value, "account_state": a.account_state.value,
        "revision": a.revision, "display_name": f.display_name, "contact_name": f.basic.contact_name,
        "contact_phone": f.basic.contact_phone, "contact_email": f.basic.contact_email,
        "legal_name": f.business.legal_name, "credit_code": f.business.credit_code,
        "registered_address": f.business.registered_address, "business_scope": f.business.business_scope,
        "business_category": f.business.business_category, "payout_logon_id": f.financial.payout_logon_id,
        "holder_name": f.financial.holder_name, "decision_reason": a.decision_reason, "decided_by": a.decided_by,
        "decided_at": a.decided_at, "account_verified_at": a.account_verified_at, "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def _application(row: Any) -> Application:
    form = ApplicationForm(
        merchant_id=row.merchant_id, display_name=row.display_name,
        basic=BasicInfo(row.applicant_account_id, Kind(row.kind), row.contact_name, row.contact_phone,
                        row.contact_email),
        business=BusinessInfo(row.legal_name, row.credit_code, row.registered_address, row.business_scope,
                              row.business_category),
        financial=FinancialInfo(row.payout_logon_id, row.holder_name))
    return Application(
        id=row.application_id, form=form, state=ApplicationState(row.state),
        account_state=AccountState(row.account_state), revision=row.revision, created_at=row.created_at,
        updated_at=row.updated_at, decision_reason=row.decision_reason, decided_at=row.decided_at,
        decided_by=row.decided_by, account_verified_at=row.account_verified_at)


_GET = select(applications).where(applications.c.application_id == bindparam("application_id"))
_LOCK = _GET.with_for_update()
# Everything but the identity and what is fixed at submission.
_CHANGING = [c for c in applications.c if c.name not in ("application_id", "merchant_id", "applicant_account_id",
                                                         "kind", "created_at")]


class SqlApplicationRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, application: Application) -> bool:
        return insert_ignore(self.conn, applications, _values(application))

    def get(self, application_id: str) -> Application | None:
        row = self.conn.execute(_GET, {"application_id": application_id}).first()
        return _application(row) if row else None

    def lock(self, application_id: str) -> Application | None:
        row = self.conn.execute(_LOCK, {"application_id": application_id}).first()
        return _application(row) if row else None

    def save(self, application: Application, expected: ApplicationState) -> bool:
        values = _values(application)
        return self.conn.execute(
            update(applications)
            .where(applications.c.application_id == application.id, applications.c.state == expected.value)
            .values({c.name: values[c.name] for c in _CHANGING})).rowcount == 1

    def latest_for_merchant(self, merchant_id: str) -> Application | None:
        row = self.conn.execute(
            select(applications).where(applications.c.merchant_id == merchant_id)
            .order_by(applications.c.application_id.desc()).limit(1)).first()
        return _application(row) if row else None

    def list(self, query: ApplicationQuery) -> builtins.list[Application]:
        stmt = select(applications).order_by(applications.c.application_id.desc()).limit(query.limit)
        if query.state is not None:
            stmt = stmt.where(applications.c.state == query.state.value)
        if query.kind is not None:
            stmt = stmt.where(applications.c.kind == query.kind.value)
        if query.applicant_account_id is not None:
            stmt = stmt.where(applications.c.applicant_account_id == query.applicant_account_id)
        if query.after_id is not None:
            stmt = stmt.where(applications.c.application_id < query.after_id)
        return [_application(row) for row in self.conn.execute(stmt)]

    def closed_before(self, before: datetime, limit: int) -> builtins.list[str]:
        has_documents = exists().where(application_documents.c.application_id == applications.c.application_id)
        stmt = (select(applications.c.application_id)
                .where(applications.c.state.in_([ApplicationState.REJECTED.value, ApplicationState.WITHDRAWN.value]),
                       applications.c.updated_at < before, has_documents)
                .order_by(applications.c.application_id).limit(limit))
        return list(self.conn.execute(stmt).scalars())
