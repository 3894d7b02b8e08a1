"""Merchants: who is paid, their state and settlement plan.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from gateway.domain.merchants import Merchant, MerchantState, SettlementPlan
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import merchants


def _merchant(row: Any) -> Merchant:
    return Merchant(
        id=row.merchant_id, display_name=row.display_name, state=MerchantState(row.state),
        settlement_account_verified=row.settlement_account_verified,
        business_category=row.business_category, settlement_plan=SettlementPlan(row.settlement_plan),
        created_at=row.created_at,
    )


class SqlMerchantRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, merchant_id: str) -> Merchant | None:
        row = self.conn.execute(select(merchants).where(merchants.c.merchant_id == merchant_id)).first()
        return _merchant(row) if row else None

    def add(self, merchant: Merchant) -> bool:
        return insert_ignore(self.conn, merchants, {
            "merchant_id": merchant.id, "display_name": merchant.display_name, "state": merchant.state.value,
            "settlement_account_verified": merchant.settlement_account_verified,
            "business_category": merchant.business_category,
            "settlement_plan": merchant.settlement_plan.value, "created_at": merchant.created_at,
        })

    def update(self, merchant: Merchant) -> None:
        self.conn.execute(update(merchants).where(merchants.c.merchant_id == merchant.id).values(
            display_name=merchant.display_name, state=merchant.state.value,
            settlement_account_verified=merchant.settlement_account_verified,
            business_category=merchant.business_category, settlement_plan=merchant.settlement_plan.value,
        ))

    def list(self, after_id: str | None, limit: int) -> list[Merchant]:
        stmt = select(merchants).order_by(merchants.c.merchant_id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(merchants.c.merchant_id > after_id)
        return [_merchant(row) for row in self.conn.execute(stmt)]
