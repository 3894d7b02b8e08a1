"""Settlement plan changes, each effective from a settlement day (gateway/domain/onboarding/settlement.py).

Lock order: gateway/storage/__init__.py; written after the merchant's row is locked.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from gateway.domain.merchants import SettlementPlan
from gateway.domain.onboarding.settlement import PlanChange
from gateway.storage.tables import settlement_plans as plans


class SqlSettlementPlanRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def changes(self, merchant_id: str) -> list[PlanChange]:
        stmt = select(plans).where(plans.c.merchant_id == merchant_id).order_by(plans.c.effective_on)
        return [PlanChange(row.merchant_id, SettlementPlan(row.plan), row.effective_on, row.set_at)
                for row in self.conn.execute(stmt)]

    def put(self, change: PlanChange) -> None:
        self.conn.execute(delete(plans).where(plans.c.merchant_id == change.merchant_id,
                                              plans.c.effective_on >= change.effective_on))
        self.conn.execute(insert(plans).values(merchant_id=change.merchant_id, effective_on=change.effective_on,
                                               plan=change.plan.value, set_at=change.set_at))
