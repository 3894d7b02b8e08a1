"""The application square (apps open to merchants) and what onboarding changes of a merchant.

Lock order: gateway/storage/__init__.py; `SqlMerchantSetupRepository.lock` is the merchant row's lock (level 1),
taken after the application's row when an application changes the merchant.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.domain.merchants import Merchant, SettlementPlan
from gateway.service.onboarding_ports import SquareListing
from gateway.storage.merchants import _merchant
from gateway.storage.tables import app_merchants, apps, merchants


def _listing(row: Any) -> SquareListing:
    return SquareListing(row.app_id, row.display_name, row.description)


_LISTING = select(apps.c.app_id, apps.c.display_name, apps.c.description).where(apps.c.disabled.is_(False))


class SqlSquareRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def list(self, after_id: str | None, limit: int) -> builtins.list[SquareListing]:
        stmt = _LISTING.where(apps.c.square_listed.is_(True)).order_by(apps.c.app_id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(apps.c.app_id > after_id)
        return [_listing(row) for row in self.conn.execute(stmt)]

    def get(self, app_id: str) -> SquareListing | None:
        row = self.conn.execute(_LISTING.where(apps.c.app_id == app_id)).first()
        return _listing(row) if row else None

    def set_listing(self, app_id: str, listed: bool, description: str) -> bool:
        return self.conn.execute(update(apps).where(apps.c.app_id == app_id).values(
            square_listed=listed, description=description)).rowcount == 1


class SqlMerchantSetupRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def lock(self, merchant_id: str) -> Merchant | None:
        row = self.conn.execute(select(merchants).where(merchants.c.merchant_id == merchant_id)
                                .with_for_update()).first()
        return _merchant(row) if row else None

    def link_application(self, merchant_id: str, application_id: str) -> None:
        self.conn.execute(update(merchants).where(merchants.c.merchant_id == merchant_id).values(
            application_id=application_id))

    def set_account_verified(self, merchant_id: str) -> bool:
        return self.conn.execute(update(merchants).where(
            merchants.c.merchant_id == merchant_id, merchants.c.settlement_account_verified.is_(False)).values(
            settlement_account_verified=True)).rowcount == 1

    def set_plan(self, merchant_id: str, plan: SettlementPlan) -> None:
        self.conn.execute(update(merchants).where(merchants.c.merchant_id == merchant_id).values(
            settlement_plan=plan.value))

    def authorized_apps(self, merchant_id: str) -> builtins.list[str]:
        return list(self.conn.execute(select(app_merchants.c.app_id).where(
            app_merchants.c.merchant_id == merchant_id).order_by(app_merchants.c.app_id)).scalars())
