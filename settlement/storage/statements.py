"""Settlement's reads (settlement/service/statements.py): a merchant's payouts, its ledger entries of a period
a page at a time, and the sums its statement is made of. Every sum is one SUM … GROUP BY in the database
(over ix_ledger_entries_merchant_day and the postings' primary key), never a Python loop over rows, so a
statement of a month of a busy merchant costs a few statements and its answer is a handful of rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, case, cast, distinct, func, literal, or_, select, tuple_

from gateway.storage.tables import ledger_entries, ledger_postings, payout_parts, payouts
from settlement.service.payout_ports import Payout
from settlement.service.statements import EntryRow, PayoutRow


def _sum(column: Any) -> Any:
    # PostgreSQL sums BIGINT as NUMERIC: cast back, money stays int.
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _payout_row(row: Any) -> PayoutRow:
    return PayoutRow(Payout(row.payout_id, row.merchant_id, row.run_date, int(row.amount), row.state,
                            int(row.failures), row.payee_logon_id, row.payee_name),
                     int(row.part_count), row.created_at, row.updated_at)


class SqlStatementRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def _payouts(self) -> Any:
        parts = (select(func.count()).where(payout_parts.c.payout_id == payouts.c.payout_id)
                 .scalar_subquery().label("part_count"))
        return select(payouts, parts)

    def payouts(self, merchant_id: str | None, after: tuple[date, str] | None, limit: int) -> list[PayoutRow]:
        """Payouts newest run first (then payout id, descending), after the cursor (run date, payout id);
        every merchant's when `merchant_id` is None."""
        stmt = self._payouts()
        if merchant_id is not None:
            stmt = stmt.where(payouts.c.merchant_id == merchant_id)
        if after is not None:
            stmt = stmt.where(or_(payouts.c.run_date < after[0],
                                  and_(payouts.c.run_date == after[0], payouts.c.payout_id < after[1])))
        stmt = stmt.order_by(payouts.c.run_date.desc(), payouts.c.payout_id.desc()).limit(limit)
        return [_payout_row(row) for row in self.conn.execute(stmt)]

    def payout(self, merchant_id: str, payout_id: str) -> PayoutRow | None:
        row = self.conn.execute(self._payouts().where(payouts.c.merchant_id == merchant_id,
                                                      payouts.c.payout_id == payout_id)).first()
        return _payout_row(row) if row is not None else None

    def entries(self, merchant_id: str, start: date, end: date, after: tuple[date, int] | None,
                limit: int) -> list[EntryRow]:
        """The merchant's entries of settlement days start..end in (day, entry id) order, after the cursor,
        with their postings (raw, debit positive): two statements whatever the page's size."""
        e, p = ledger_entries, ledger_postings
        stmt = select(e).where(e.c.merchant_id == merchant_id, e.c.settlement_day >= start,
                               e.c.settlement_day <= end)
        if after is not None:
            stmt = stmt.where(tuple_(e.c.settlement_day, e.c.entry_id) > tuple_(after[0], after[1]))
        rows = self.conn.execute(stmt.order_by(e.c.settlement_day, e.c.entry_id).limit(limit)).all()
        if not rows:
            return []
        postings: dict[int, list[tuple[str, int]]] = {}
        for line in self.conn.execute(
                select(p.c.entry_id, p.c.account, p.c.amount).where(
                    p.c.merchant_id == merchant_id, p.c.entry_id.in_([r.entry_id for r in rows]))
                .order_by(p.c.entry_id, p.c.line)):
            postings.setdefault(int(line.entry_id), []).append((line.account, int(line.amount)))
        return [EntryRow(int(r.entry_id), r.kind, r.reference, r.settlement_day, r.created_at,
                         tuple(postings.get(int(r.entry_id), ()))) for r in rows]

    def statement_sums(self, merchant_id: str, accounts: Sequence[str], start: date,
                       end: date) -> dict[str, tuple[int, list[int]]]:
        """In one statement (so one snapshot, also on PostgreSQL where a read takes one per statement): per
        bucket, the number of entries and the raw sums of `accounts` (keys of the merchant's accounts). The
        bucket is "" for every entry before `start` (the opening balances) and the entry's kind for those of
        start..end."""
        e, p = ledger_entries, ledger_postings
        inner = (select(case((e.c.settlement_day < start, literal("")), else_=e.c.kind).label("bucket"),
                        e.c.entry_id, p.c.account, p.c.amount)
                 .select_from(p.join(e, e.c.entry_id == p.c.entry_id))
                 .where(p.c.merchant_id == merchant_id, e.c.merchant_id == merchant_id, e.c.settlement_day <= end)
                 .subquery())
        sums = [_sum(case((inner.c.account == key, inner.c.amount), else_=0)).label(f"a{n}")
                for n, key in enumerate(accounts)]
        stmt = select(inner.c.bucket, func.count(distinct(inner.c.entry_id)).label("n"), *sums).group_by(inner.c.bucket)
        return {row.bucket: (int(row.n), [int(row[f"a{n}"]) for n in range(len(accounts))])
                for row in self.conn.execute(stmt).mappings()}
