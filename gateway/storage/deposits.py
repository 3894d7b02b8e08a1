"""Merchants' deposits (gateway/domain/onboarding/settlement.py).

Lock order: gateway/storage/__init__.py; written after the merchant's row is locked.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select, update

from gateway.domain.onboarding.settlement import Deposit, DepositState
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import deposits


def _deposit(row: Any) -> Deposit:
    return Deposit(id=row.deposit_id, merchant_id=row.merchant_id, amount=row.amount,
                   external_reference=row.external_reference, state=DepositState(row.state),
                   recorded_at=row.recorded_at, release_on=row.release_on, released_at=row.released_at)


class SqlDepositRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, deposit: Deposit) -> bool:
        return insert_ignore(self.conn, deposits, {
            "merchant_id": deposit.merchant_id, "deposit_id": deposit.id, "amount": deposit.amount,
            "currency": "CNY", "external_reference": deposit.external_reference, "state": deposit.state.value,
            "recorded_at": deposit.recorded_at, "release_on": deposit.release_on,
            "released_at": deposit.released_at})

    def get(self, merchant_id: str, deposit_id: str) -> Deposit | None:
        row = self.conn.execute(select(deposits).where(deposits.c.merchant_id == merchant_id,
                                                       deposits.c.deposit_id == deposit_id)).first()
        return _deposit(row) if row else None

    def get_by_reference(self, merchant_id: str, external_reference: str) -> Deposit | None:
        row = self.conn.execute(select(deposits).where(
            deposits.c.merchant_id == merchant_id, deposits.c.external_reference == external_reference)).first()
        return _deposit(row) if row else None

    def of_merchant(self, merchant_id: str) -> list[Deposit]:
        stmt = select(deposits).where(deposits.c.merchant_id == merchant_id).order_by(deposits.c.deposit_id.desc())
        return [_deposit(row) for row in self.conn.execute(stmt)]

    def releasing_due(self, day: date, limit: int) -> list[Deposit]:
        stmt = (select(deposits).where(deposits.c.state == DepositState.RELEASING.value, deposits.c.release_on <= day)
                .order_by(deposits.c.merchant_id, deposits.c.deposit_id).limit(limit))
        return [_deposit(row) for row in self.conn.execute(stmt)]

    def save(self, deposit: Deposit, expected: DepositState) -> bool:
        return self.conn.execute(update(deposits).where(
            deposits.c.merchant_id == deposit.merchant_id, deposits.c.deposit_id == deposit.id,
            deposits.c.state == expected.value).values(
            state=deposit.state.value, release_on=deposit.release_on, released_at=deposit.released_at)).rowcount == 1
