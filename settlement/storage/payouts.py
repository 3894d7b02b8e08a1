"""Payout rows (tables `payouts` and `payout_parts`): one payout per merchant per run date, its parts with the
out_biz_no the rail de-duplicates on. State changes are conditional UPDATEs (`WHERE state IN …`), so that of
two runs answering the same part only one books its outcome.

Lock order (gateway/storage/__init__.py): a payout's creation locks the merchant's row first (level 1,
SELECT … FOR UPDATE: two runs for different dates then read the merchant's available balance one after the
other, never both the same), then appends its ledger entries, then inserts the payout (level 5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from gateway.storage.tables import applications, merchants, negative_balances, payout_parts, payouts
from settlement.service.payout_ports import Payout, PayoutPart


def _payout(row: Any) -> Payout:
    return Payout(row.payout_id, row.merchant_id, row.run_date, int(row.amount), row.state, int(row.failures),
                  row.payee_logon_id, row.payee_name, row.rail_account)


class SqlPayoutRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def lock_merchant(self, merchant_id: str) -> bool:
        """Lock the merchant's row (SQLite: the writer lock already serialises); False if no such merchant.
        FOR NO KEY UPDATE: it serialises settlement runs on the merchant but not the KEY SHARE a payment's
        foreign key check takes, so the merchant's payments never wait for its payout."""
        stmt = select(merchants.c.merchant_id).where(merchants.c.merchant_id == merchant_id)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(key_share=True)
        return self.conn.execute(stmt).first() is not None

    def payee(self, merchant_id: str) -> tuple[str, str] | None:
        """The verified payout account of the merchant's approved application: (logon id, holder name)."""
        a = applications
        row = self.conn.execute(
            select(a.c.payout_logon_id, a.c.holder_name).where(
                a.c.merchant_id == merchant_id, a.c.state == "APPROVED", a.c.account_state == "VERIFIED")
            .order_by(a.c.application_id.desc()).limit(1)).first()
        return (row.payout_logon_id, row.holder_name) if row is not None else None

    def get(self, merchant_id: str, run_date: date) -> Payout | None:
        row = self.conn.execute(select(payouts).where(payouts.c.merchant_id == merchant_id,
                                                      payouts.c.run_date == run_date)).first()
        return _payout(row) if row is not None else None

    def by_id(self, payout_id: str) -> Payout | None:
        row = self.conn.execute(select(payouts).where(payouts.c.payout_id == payout_id)).first()
        return _payout(row) if row is not None else None

    def latest(self, merchant_id: str, before: date) -> Payout | None:
        """The merchant's latest payout of a run before `before` (its failure count and parking)."""
        row = self.conn.execute(select(payouts).where(payouts.c.merchant_id == merchant_id,
                                                      payouts.c.run_date < before)
                                .order_by(payouts.c.run_date.desc()).limit(1)).first()
        return _payout(row) if row is not None else None

    def add(self, payout: Payout, parts: list[PayoutPart], at: datetime) -> None:
        self.conn.execute(insert(payouts).values(
            payout_id=payout.payout_id, merchant_id=payout.merchant_id, run_date=payout.run_date,
            amount=payout.amount, state=payout.state, failures=payout.failures,
            payee_logon_id=payout.payee_logon_id, payee_name=payout.payee_name, rail_account=payout.rail_account,
            created_at=at, updated_at=at))
        if parts:
            self.conn.execute(insert(payout_parts), [
                {"payout_id": p.payout_id, "part": p.part, "out_biz_no": p.out_biz_no, "amount": p.amount,
                 "state": p.state, "rail_reference": "", "failure_reason": "", "updated_at": at} for p in parts])

    def parts(self, payout_id: str) -> list[PayoutPart]:
        rows = self.conn.execute(select(payout_parts).where(payout_parts.c.payout_id == payout_id)
                                 .order_by(payout_parts.c.part))
        return [PayoutPart(r.payout_id, r.part, r.out_biz_no, int(r.amount), r.state) for r in rows]

    def open_payouts(self, run_date: date) -> list[Payout]:
        """Payouts of runs up to `run_date` with a part still SENT or UNKNOWN (a crash, or no answer)."""
        open_ids = select(payout_parts.c.payout_id).where(payout_parts.c.state.in_(("SENT", "UNKNOWN")))
        rows = self.conn.execute(select(payouts).where(payouts.c.run_date <= run_date,
                                                       payouts.c.payout_id.in_(open_ids))
                                 .order_by(payouts.c.payout_id))
        return [_payout(r) for r in rows]

    def settle_part(self, out_biz_no: str, states: tuple[str, ...], state: str, rail_reference: str,
                    failure_reason: str, at: datetime) -> bool:
        """Move a part from one of `states` to `state`; False when another run did it first."""
        result = self.conn.execute(update(payout_parts).where(
            payout_parts.c.out_biz_no == out_biz_no, payout_parts.c.state.in_(states)).values(
            state=state, rail_reference=rail_reference[:64], failure_reason=failure_reason[:256], updated_at=at))
        return result.rowcount == 1

    def finish(self, payout_id: str, from_states: tuple[str, ...], state: str, failures: int, at: datetime) -> bool:
        result = self.conn.execute(update(payouts).where(
            and_(payouts.c.payout_id == payout_id, payouts.c.state.in_(from_states))).values(
            state=state, failures=failures, updated_at=at))
        return result.rowcount == 1

    def unpark(self, merchant_id: str, at: datetime) -> Payout | None:
        """A run parks a merchant when its latest payout is PARKED and counts on from that payout's failures
        (settlement/service/run.py `_position`), so re-arming that one row is the whole change. The caller
        holds the merchant's row lock (`lock_merchant`), as a run does before reading it."""
        row = self.conn.execute(select(payouts).where(payouts.c.merchant_id == merchant_id)
                                .order_by(payouts.c.run_date.desc()).limit(1)).first()
        if row is None or row.state != "PARKED":
            return None
        self.conn.execute(update(payouts).where(payouts.c.payout_id == row.payout_id, payouts.c.state == "PARKED")
                          .values(state="FAILED", failures=0, updated_at=at))
        return _payout(row)

    # --- negative balances (migration 0016): written under the merchant's row lock, so no two runs race ---

    def negative_since(self, merchant_id: str) -> date | None:
        row = self.conn.execute(select(negative_balances.c.since).where(
            negative_balances.c.merchant_id == merchant_id)).first()
        return row.since if row is not None else None

    def set_negative_since(self, merchant_id: str, since: date | None, at: datetime) -> None:
        """Keep (or, with None, forget) the date the merchant's balance first went negative."""
        current = self.negative_since(merchant_id)
        if since is None:
            if current is not None:
                self.conn.execute(delete(negative_balances).where(negative_balances.c.merchant_id == merchant_id))
        elif current is None:
            self.conn.execute(insert(negative_balances).values(merchant_id=merchant_id, since=since, updated_at=at))
        elif current != since:
            self.conn.execute(update(negative_balances).where(negative_balances.c.merchant_id == merchant_id)
                              .values(since=since, updated_at=at))

    def negative_merchants(self, after: str, limit: int) -> list[str]:
        """Merchants (ordered, after `after`) whose balance was negative at their last run: a run visits them
        even once their balance is back to zero, to forget the date."""
        return list(self.conn.execute(select(negative_balances.c.merchant_id).where(
            negative_balances.c.merchant_id > after).order_by(negative_balances.c.merchant_id).limit(limit)).scalars())
