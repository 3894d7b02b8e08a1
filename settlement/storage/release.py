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

    def _pending(self, due: DueDays) -> Any:
        """Per (merchant, settlement day) due: the raw sum of pending postings. T+15 days up to
        `due.t15_until` whatever the plan (T+0 days end later, `calendar.Calendar.last_day_due`), T+0 days up
        to `due.t0_until` when the plan in effect on that day is T+0."""
        e, q = ledger_entries, ledger_postings
        pending_key = literal("merchant:") + q.c.merchant_id + literal(PENDING_SUFFIX)
        day = e.c.settlement_day
        is_due = or_(day <= due.t15_until,
                     and_(day <= due.t0_until, self._plan_on(e.c.merchant_id, day) == SettlementPlan.T0.value))
        return (select(q.c.merchant_id, day.label("day"), cast(func.sum(q.c.amount), BigInteger).label("raw"))
                .select_from(q.join(e, e.c.entry_id == q.c.entry_id))
                .where(q.c.account == pending_key, day <= max(due.t0_until, due.t15_until), is_due)
                .group_by(q.c.merchant_id, day))

    def merchants_due(self, due: DueDays, after: str, limit: int) -> list[str]:
        """Merchants (ordered, after `after`) with pending money on days due."""
        q = self._pending(due).subquery()
        stmt = (select(q.c.merchant_id).where(q.c.raw != 0, q.c.merchant_id > after).distinct()
                .order_by(q.c.merchant_id).limit(limit))
        return list(self.conn.execute(stmt).scalars())

    def due(self, due: DueDays, merchant_ids: Sequence[str]) -> list[tuple[str, date, int]]:
        """(merchant, day, amount to release) for the batch; amount is the read pending net (may be < 0)."""
        if not merchant_ids:
            return []
        q = self._pending(due).where(ledger_postings.c.merchant_id.in_(list(merchant_ids))).subquery()
        stmt = select(q.c.merchant_id, q.c.day, q.c.raw).where(q.c.raw != 0).order_by(q.c.merchant_id, q.c.day)
        # Pending is a credit account: the raw sum is negative when the merchant is owed.
        return [(row.merchant_id, _as_date(row.day), -int(row.raw)) for row in self.conn.execute(stmt)]

    def merchants_with_available(self, after: str, limit: int) -> list[str]:
        q = ledger_postings
        key = literal("merchant:") + q.c.merchant_id + literal(f":{AccountKind.MERCHANT_AVAILABLE.value}")
        stmt = (select(q.c.merchant_id).where(q.c.account == key, q.c.merchant_id > after)
                .group_by(q.c.merchant_id).having(func.sum(q.c.amount) != 0)
                .order_by(q.c.merchant_id).limit(limit))
        return list(self.conn.execute(stmt).scalars())

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
