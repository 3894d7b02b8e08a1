"""Releasing what is due, set-based: for a run date, the net of every merchant's pending postings whose
settlement day is due under the plan in effect on that day moves to available (`ledger.funds_released`).

What is due is one aggregate per merchant batch (`due`): the pending postings of the batch's merchants,
grouped by (merchant, settlement day of the entry), filtered by the plan in effect on that day (the
`settlement_plans` row with the latest `effective_on` on or before it, else T+15: `calendar.plan_in_effect`
in SQL) against the last day due under each plan (`DueDays`, from `calendar.Calendar.last_day_due`, so
calendar and working days alike come down to one comparison per plan). The entries are then written with
two multi-row INSERTs per settlement day present (`SqlLedgerRepository.append`): a handful of statements per
batch, never one per payment.

A release entry carries the settlement day it releases, so its own pending posting cancels that day's net:
once released, a day's net is 0 and nothing more is due from it. Its reference is
`merchant:day@run_date`, so that a second run for the same date (or two at once) books the same entry and
changes nothing (replay), while money booked late for a day already released (a notification processed
after the run) is released by the next run under that run's reference, never lost and never released twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, cast, func, literal, or_, select

from gateway.domain.merchants import SettlementPlan
from gateway.storage.tables import ledger_entries, ledger_postings, settlement_plans
from settlement.domain.accounts import AccountKind
from settlement.domain.ledger import EntryKind, JournalEntry, funds_released
from settlement.service.payout_ports import DueDays
from settlement.storage.ledger import SqlLedgerRepository

PENDING_SUFFIX = f":{AccountKind.MERCHANT_PENDING.value}"


def release_reference(merchant_id: str, day: date, run_date: date) -> str:
    return f"{merchant_id}:{day.isoformat()}@{run_date.isoformat()}"


class SqlReleaseRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def _plan_on(self, merchant_id: Any, day: Any) -> Any:
        """calendar.plan_in_effect in SQL: the plan of the latest change effective on or before `day`."""
        p = settlement_plans
        latest = (select(p.c.plan).where(p.c.merchant_id == merchant_id, p.c.effective_on <= day)
                  .order_by(p.c.effective_on.desc()).limit(1).scalar_subquery())
        return func.coalesce(latest, literal(SettlementPlan.T15.value))

    def _walk(self, start: Any, *, until: str | None = None, limit: int | None = None) -> Any:
        """The ledger's merchants in order from the first one matching `start` (a condition on
        ledger_postings.merchant_id), up to `until` or `limit` of them: one seek of the postings' key per
        merchant (a loose index scan), never a read of their postings."""
        q = ledger_postings
        walk = (select(func.min(q.c.merchant_id).label("merchant_id"), literal(1).label("n")).where(start)
                .cte("ledger_merchants", recursive=True))
        more: list[Any] = [walk.c.merchant_id.is_not(None)]
        if until is not None:
            more.append(walk.c.merchant_id < until)
        if limit is not None:
            more.append(walk.c.n < limit)
        step = select(func.min(q.c.merchant_id)).where(q.c.merchant_id > walk.c.merchant_id).scalar_subquery()
        return walk.union_all(select(step, walk.c.n + 1).where(*more))

    def _merchants(self, after: str, limit: int) -> list[str]:
        walk = self._walk(ledger_postings.c.merchant_id > after, limit=limit)
        stmt = select(walk.c.merchant_id).where(walk.c.merchant_id.is_not(None)).order_by(walk.c.merchant_id)
        return list(self.conn.execute(stmt).scalars())

    def _batch(self, merchant_ids: Sequence[str]) -> Any:
        """These merchants as a table to drive the seeks (a literal list would hit SQLite's limit on compound
        SELECTs): the ledger's merchants from the first to the last, those listed kept."""
        walk = self._walk(ledger_postings.c.merchant_id >= min(merchant_ids), until=max(merchant_ids))
        return select(walk.c.merchant_id).where(walk.c.merchant_id.in_(list(merchant_ids))).subquery("batch")

    def _pending(self, due: DueDays, merchant_ids: Sequence[str]) -> Any:
        """(merchant, settlement day, raw sum of pending postings) due for these merchants: T+15 days up to
        `due.t15_until` whatever the plan (T+0 days end later, `calendar.Calendar.last_day_due`), T+0 days
        up to `due.t0_until` when the plan in effect on that day is T+0. The postings are summed per
        (merchant, day) first, and the plan looked up once per group, not once per posting."""
        e, q = ledger_entries, ledger_postings
        batch = self._batch(merchant_ids)
        # The account from the batch's merchant, not the posting's: a constant for each merchant, so that
        # (merchant_id, account) seeks ix_ledger_postings_account and reads only the pending postings.
        pending_key = literal("merchant:") + batch.c.merchant_id + literal(PENDING_SUFFIX)
        day = e.c.settlement_day
        # MATERIALIZED: summed before the plan is looked up (else both databases push the plan's condition,
        # which names only grouped columns, down to every posting).
        groups = (select(q.c.merchant_id, day.label("day"), cast(func.sum(q.c.amount), BigInteger).label("raw"))
                  .select_from(batch.join(q, and_(q.c.merchant_id == batch.c.merchant_id,
                                                  q.c.account == pending_key))
                               .join(e, e.c.entry_id == q.c.entry_id))
                  .where(day <= max(due.t0_until, due.t15_until))
                  .group_by(q.c.merchant_id, day)).cte("pending_days").prefix_with("MATERIALIZED")
        is_due = or_(groups.c.day <= due.t15_until,
                     and_(groups.c.day <= due.t0_until,
                          self._plan_on(groups.c.merchant_id, groups.c.day) == SettlementPlan.T0.value))
        return select(groups.c.merchant_id, groups.c.day, groups.c.raw).where(groups.c.raw != 0, is_due)

    def merchants_due(self, due: DueDays, after: str, limit: int) -> list[str]:
        """The next `limit` merchants (ordered, after `after`) that may have pending money on days due:
        every merchant of the ledger, listed without reading its postings; `release` sums what is due
        (possibly nothing) once, for the batch alone. Empty when no merchant is left."""
        return self._merchants(after, limit)

    def due(self, due: DueDays, merchant_ids: Sequence[str]) -> list[tuple[str, date, int]]:
        """(merchant, day, amount to release) for the batch; amount is the read pending net (may be < 0)."""
        if not merchant_ids:
            return []
        q = self._pending(due, merchant_ids).subquery()
        stmt = select(q.c.merchant_id, q.c.day, q.c.raw).order_by(q.c.merchant_id, q.c.day)
        # Pending is a credit account: the raw sum is negative when the merchant is owed.
        return [(row.merchant_id, _as_date(row.day), -int(row.raw)) for row in self.conn.execute(stmt)]

    def merchants_with_available(self, after: str, limit: int) -> list[str]:
        """The next `limit` merchants (ordered, after `after`) whose available balance is not zero."""
        found: list[str] = []
        while len(found) < limit:
            listed = self._merchants(after, limit)
            if not listed:
                break
            batch, q = self._batch(listed), ledger_postings
            # The key from the listed merchant: one seek of ix_ledger_postings_account per merchant.
            key = literal("merchant:") + batch.c.merchant_id + literal(f":{AccountKind.MERCHANT_AVAILABLE.value}")
            total = (select(func.sum(q.c.amount)).where(q.c.merchant_id == batch.c.merchant_id, q.c.account == key)
                     .scalar_subquery())
            found += self.conn.execute(select(batch.c.merchant_id).where(total != 0)
                                       .order_by(batch.c.merchant_id)).scalars()
            after = listed[-1]
        return found[:limit]

    def release(self, due_days: DueDays, merchant_ids: Sequence[str], at: datetime) -> list[JournalEntry]:
        """Book the releases due for the batch in the caller's transaction; returns the entries (new or
        replayed). Entries go in (merchant, day) order, the order every run keeps."""
        by_day: dict[date, list[JournalEntry]] = defaultdict(list)
        entries = []
        run_date = due_days.run_date
        due = self.due(due_days, merchant_ids)
        # A day this run released already (a second run for the date) waits for the next run's reference
        # for what was booked since; releasing it again under the same reference would conflict.
        references = [release_reference(merchant_id, day, run_date) for merchant_id, day, _ in due]
        done = set(self.conn.execute(select(ledger_entries.c.reference).where(
            ledger_entries.c.kind == EntryKind.FUNDS_RELEASED.value,
            ledger_entries.c.reference.in_(references))).scalars()) if references else set()
        for merchant_id, day, amount in due:
            if release_reference(merchant_id, day, run_date) in done:
                continue
            entry = funds_released(merchant_id, release_reference(merchant_id, day, run_date), amount)
            by_day[day].append(entry)
            entries.append(entry)
        ledger = SqlLedgerRepository(self.conn)
        for day in sorted(by_day):
            ledger.append(by_day[day], settlement_day=day, at=at)
        return entries


def _as_date(value: Any) -> date:
    # SQLite hands a DATE from an aggregate back as text.
    return value if isinstance(value, date) else date.fromisoformat(str(value))
