"""Reconciliation in SQL: the statement's lines staged in batches, then classified, counted and booked by a few
set-based statements (settlement/domain/reconciliation.py has the rules; tests hold the two to each other).

A run: `begin` (the day's row, a fresh run id), `stage` per batch of lines (an executemany each, committed by
the caller, so a million lines never sit in memory or in one transaction), then `finish` in one write
transaction: lock the day's row; on the account statement sum a payment's REFUND lines, and its FEE lines,
into one each (INSERT … SELECT … GROUP BY, the originals deleted); stage our movements of the day and its
window (INSERT … SELECT from the ledger and the sources' rows; on the account statement in the same shape:
refunds, and Alipay's fees net of the fee given back with refunds, summed per payment); classify every line
and movement into `reconciliation_results` (two INSERT … SELECT with joins and a CASE), count per bucket
(GROUP BY), book Alipay's fees and the fees it gives back, verification transfers and the change of each
unexplained difference (INSERT … SELECT into the ledger, postings for the new entries only), replace the
day's items, and empty the run's staging rows.

Lock order (gateway/storage/__init__.py): level 5 only (the reconciliation row, then ledger entries and
postings); the caller raises flags (level 7) after, in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage.tables import (
    ledger_entries,
    ledger_postings,
    payments,
    payout_parts,
    payouts,
    reconciliation_items,
    reconciliation_lines,
    reconciliation_ours,
    reconciliation_results,
    reconciliations,
    refunds,
    verification_attempts,
)
from settlement.domain import accounts
from settlement.domain import reconciliation as rec
from settlement.domain.fees import BPS_DENOMINATOR
from settlement.domain.ledger import EntryKind
from settlement.domain.reconciliation import Bucket, Item, Report, Rules
from settlement.service.ports import ReconciliationRun

STALE = timedelta(hours=1)  # a RUNNING run older than this crashed; its staging rows are removed
LINE_COLUMNS = ("run_id", "line_no", "kind", "reference", "channel_reference", "amount", "fee", "occurred_at")
_BOOKED_BUCKETS = (Bucket.MATCHED, Bucket.EXPECTED, Bucket.AMOUNT_DIFFERENCE, Bucket.FEE_DIFFERENCE)
_KINDS = {rec.PAYMENT: EntryKind.PAYMENT_SUCCEEDED, rec.REFUND: EntryKind.REFUND_SUCCEEDED,
          rec.FEE: EntryKind.ALIPAY_SERVICE_FEE}


def _sum(column: Any) -> Any:
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _values(buckets: Any) -> list[str]:
    return [b.value for b in buckets]


class SqlReconciliationRepository:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert

    # --- a run ------------------------------------------------------------------------------------------

    def begin(self, day: date, kind: str, source: str, at: datetime) -> ReconciliationRun:
        """Start a run of (day, kind, source): its row created or marked RUNNING with a new run id; the staging
        rows of an earlier run that crashed are removed."""
        r = reconciliations
        run_id = f"run_{secrets.token_hex(12)}"
        stmt = self._insert(r).values(day=day, kind=kind, source=source, state="RUNNING", runs=0, run_id=run_id,
                                      lines=0, statement_total=0, unexplained=0, totals={}, started_at=at)
        self.conn.execute(stmt.on_conflict_do_nothing())
        row = self.conn.execute(select(r).where(r.c.day == day, r.c.kind == kind, r.c.source == source)).one()
        if row.run_id != run_id:
            if row.state == "RUNNING" and row.started_at < at - STALE:
                self._drop_staging(row.run_id)
            self.conn.execute(update(r).where(r.c.reconciliation_id == row.reconciliation_id).values(
                state="RUNNING", run_id=run_id, started_at=at))
        return ReconciliationRun(row.reconciliation_id, run_id, day, kind, source)

    def stage(self, run: ReconciliationRun, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert a batch of lines: tuples in LINE_COLUMNS' order (run id first), checked by the caller.
        PostgreSQL takes them by COPY: a million lines staged by executemany took 107 s there, most of a
        reconciliation's time (the driver adapts each value the same way as for an INSERT)."""
        if not rows:
            return
        if self.conn.dialect.name == "postgresql":
            driver = self.conn.connection.driver_connection  # psycopg, inside this transaction
            assert driver is not None  # a connection in use has its driver's
            columns = ", ".join(LINE_COLUMNS)
            with driver.cursor() as cursor, cursor.copy(
                    f"COPY {reconciliation_lines.name} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self.conn.execute(insert(reconciliation_lines), [dict(zip(LINE_COLUMNS, row, strict=True)) for row in rows])

    def finish(self, run: ReconciliationRun, rules: Rules, at: datetime) -> Report:
        """Classify, count, book and record the run (module docstring), in the caller's transaction."""
        r = reconciliations
        lock = select(r.c.runs).where(r.c.reconciliation_id == run.reconciliation_id)
        if self.conn.dialect.name == "postgresql":
            lock = lock.with_for_update()
        runs = int(self.conn.execute(lock).scalar_one()) + 1  # two runs of the day book one after the other
        self._collapse_lines(run, rules)
        self._stage_ours(run, rules)
        self._analyze(reconciliation_lines, reconciliation_ours)
        before, after = self._neighbour(run, -1), self._neighbour(run, 1)
        self._classify_lines(run, rules)
        self._classify_unbilled(run, rules, before, after)
        self._analyze(reconciliation_results)
        report = self._count(run, rules)
        watermark = int(self.conn.execute(select(func.coalesce(func.max(ledger_entries.c.entry_id), 0))).scalar_one())
        report.fees_booked = self._book_fees(run, rules, watermark, at)
        self._book_verifications(run, rules, watermark, at)
        report.suspense_entries = self._book_suspense(run, rules, runs, watermark, at)
        self._replace_items(run, rules)
        report.unexplained = int(self.conn.execute(select(_sum(reconciliation_items.c.suspense)).where(
            reconciliation_items.c.reconciliation_id == run.reconciliation_id)).scalar_one())
        report.differences = self.differences(run.reconciliation_id)
        self.conn.execute(update(r).where(r.c.reconciliation_id == run.reconciliation_id).values(
            state="DONE", runs=runs, lines=report.lines, statement_total=report.statement_total,
            unexplained=report.unexplained, finished_at=at,
            totals={b.value: [t.count, t.theirs, t.ours] for b, t in report.totals.items()}))
        self._drop_staging(run.run_id)
        return report

    def _analyze(self, *tables: Any) -> None:
        """PostgreSQL: statistics for staging tables just filled (up to a bill's million rows, emptied after each
        run), before statements join them: with none, the planner took a million results for one row and
        joined them to the new fee entries in a nested loop, a scan of a million entries per result (the
        1,000,000-line bench ran for over ten minutes). ANALYZE samples this transaction's own rows; SQLite's
        planner does not need it here (its joins go through the keys whatever the sizes)."""
        if self.conn.dialect.name == "postgresql":
            for table in tables:
                self.conn.execute(text(f"ANALYZE {table.name}"))

    def abandon(self, run: ReconciliationRun) -> None:
        """Remove a run's staging rows (the statement could not be read to its end); the day's report stays."""
        self._drop_staging(run.run_id)
        r = reconciliations
        self.conn.execute(update(r).where(r.c.reconciliation_id == run.reconciliation_id, r.c.run_id == run.run_id,
                                          r.c.state == "RUNNING")
                          .values(state=case((r.c.finished_at.is_(None), "FAILED"), else_="DONE")))

    def _collapse_lines(self, run: ReconciliationRun, rules: Rules) -> None:
        """On the account statement, the REFUND lines and the FEE lines of one reference summed into one (as
        rec.collapse): a new row under the negated first line number, the originals deleted."""
        kinds = [k for k in (rec.REFUND, rec.FEE) if rec.summed_per_payment(rules.statement_kind, k)]
        if not kinds:
            return
        line = reconciliation_lines
        originals = (line.c.run_id == run.run_id, line.c.kind.in_(kinds), line.c.reference != "", line.c.line_no > 0)
        summed = (select(line.c.run_id, -func.min(line.c.line_no), line.c.kind, line.c.reference,
                         func.min(line.c.channel_reference), _sum(line.c.amount), _sum(line.c.fee),
                         func.min(line.c.occurred_at))
                  .where(*originals).group_by(line.c.run_id, line.c.kind, line.c.reference))
        self.conn.execute(insert(line).from_select(list(LINE_COLUMNS), summed))
        self.conn.execute(delete(line).where(*originals))

    def _drop_staging(self, run_id: str) -> None:
        for table in (reconciliation_lines, reconciliation_ours, reconciliation_results):
            self.conn.execute(delete(table).where(table.c.run_id == run_id))

    # --- our movements ----------------------------------------------------------------------------------

    def has_movements(self, rules: Rules) -> bool:
        """Whether the ledger has any movement of ours that `rules`' statement would show, in its day and
        window (what `_stage_ours` would stage): without one, a bill Alipay never makes has nothing to hold."""
        return any(self.conn.execute(select(literal(1)).select_from(source.subquery()).limit(1)).first() is not None
                   for source in self._ours("", rules))

    def _stage_ours(self, run: ReconciliationRun, rules: Rules) -> None:
        """Our movements of the day and its window, of the kinds the statement shows, into the run's staging
        (on the account statement, refunds and fees per payment: `_per_payment`)."""
        columns = ["run_id", "kind", "reference", "merchant_id", "amount", "occurred_at", "origin"]
        for source in self._ours(run.run_id, rules):
            self.conn.execute(insert(reconciliation_ours).from_select(columns, source))

    def _ours(self, run_id: str, rules: Rules) -> list[Any]:
        """The SELECTs of `_stage_ours`, one per kind of movement, each row tagged with `run_id`."""
        lo, hi = rules.start - rules.window, rules.end + rules.window
        # A movement's settlement day is its China date moved by the cut-off (less than a day): these days hold
        # every movement of the window whatever the cut-off, and the index on (settlement_day, kind) finds them.
        first, last = rules.day - timedelta(days=1), rules.day + timedelta(days=2)
        e, q = ledger_entries, ledger_postings
        kinds = rec.OURS_ON[rules.statement_kind]
        clearing = and_(q.c.merchant_id == e.c.merchant_id, q.c.entry_id == e.c.entry_id,
                        q.c.account == accounts.CHANNEL_CLEARING.key)
        sources = []
        for kind in (rec.PAYMENT, rec.FEE, rec.REFUND):
            if kind not in kinds:
                continue
            if rec.summed_per_payment(rules.statement_kind, kind):
                sources.append(self._per_payment(run_id, rules, kind))
                continue
            if kind == rec.REFUND:
                owner = refunds
                at: Any = refunds.c.updated_at
                joined = and_(refunds.c.merchant_id == e.c.merchant_id, refunds.c.refund_id == e.c.reference)
            else:
                owner = payments
                at = func.coalesce(payments.c.paid_at, payments.c.updated_at)
                joined = and_(payments.c.merchant_id == e.c.merchant_id, payments.c.payment_id == e.c.reference)
            sources.append(
                select(literal(run_id), literal(kind), e.c.reference, e.c.merchant_id, q.c.amount, at,
                       literal("ledger"))
                .select_from(e.join(q, clearing).join(owner, joined))
                .where(e.c.settlement_day >= first, e.c.settlement_day <= last, e.c.kind == _KINDS[kind].value,
                       at >= lo, at < hi))
        if rec.TRANSFER in kinds:
            pp, po, va = payout_parts, payouts, verification_attempts
            sources.append(
                select(literal(run_id), literal(rec.TRANSFER), pp.c.out_biz_no, po.c.merchant_id,
                       -pp.c.amount, pp.c.updated_at, literal("ledger"))
                .select_from(pp.join(po, po.c.payout_id == pp.c.payout_id))
                .where(pp.c.state == "PAID", pp.c.updated_at >= lo, pp.c.updated_at < hi))
            sources.append(
                select(literal(run_id), literal(rec.TRANSFER), va.c.attempt_id, literal(""), -va.c.amount,
                       va.c.created_at, literal("verification"))
                .where(va.c.rail_reference != "", va.c.created_at >= lo, va.c.created_at < hi))
        return sources

    def _per_payment(self, run_id: str, rules: Rules, kind: str) -> Any:
        """Our refunds (kind REFUND) or Alipay's fees net of the fee given back with refunds (FEE) of each
        payment, summed per payment and part of the window (the day before's, the day's, the next day's), as
        the account statement shows them; one row per payment (the staging key is the payment's): the parts
        whose sum the statement's line for the payment shows, else the day's part, else the window's first."""
        lo, hi = rules.start - rules.window, rules.end + rules.window
        first, last = rules.day - timedelta(days=1), rules.day + timedelta(days=2)
        e, q = ledger_entries, ledger_postings
        clearing = and_(q.c.merchant_id == e.c.merchant_id, q.c.entry_id == e.c.entry_id,
                        q.c.account == accounts.CHANNEL_CLEARING.key)
        by_refund = and_(refunds.c.merchant_id == e.c.merchant_id, refunds.c.refund_id == e.c.reference)
        by_payment = and_(payments.c.merchant_id == e.c.merchant_id, payments.c.payment_id == e.c.reference)
        paid_at: Any = func.coalesce(payments.c.paid_at, payments.c.updated_at)
        parts: list[tuple[EntryKind, Any, Any, Any, Any]] = (
            [(EntryKind.REFUND_SUCCEEDED, refunds, by_refund, refunds.c.payment_id, refunds.c.updated_at)]
            if kind == rec.REFUND else
            [(EntryKind.ALIPAY_SERVICE_FEE, payments, by_payment, e.c.reference, paid_at),
             (EntryKind.ALIPAY_SERVICE_FEE_RETURNED, refunds, by_refund, refunds.c.payment_id, refunds.c.updated_at)])
        # The part is a column of the union so that the GROUP BY names a column, not an expression with
        # parameters (PostgreSQL would not see two bound copies of it as the same expression).
        moved = union_all(*(
            select(payment.label("reference"), e.c.merchant_id.label("merchant_id"), q.c.amount.label("amount"),
                   at.label("at"), case((at < rules.start, -1), (at >= rules.end, 1), else_=0).label("part"))
            .select_from(e.join(q, clearing).join(owner, joined))
            .where(e.c.settlement_day >= first, e.c.settlement_day <= last, e.c.kind == entry.value, at >= lo, at < hi)
            for entry, owner, joined, payment, at in parts)).subquery("moved")
        summed = (select(moved.c.reference, func.max(moved.c.merchant_id).label("merchant_id"),
                         _sum(moved.c.amount).label("amount"), func.min(moved.c.at).label("at"), moved.c.part)
                  .group_by(moved.c.reference, moved.c.part).subquery("summed"))

        def of(part: int, column: Any) -> Any:  # the part's value, NULL without one
            return func.max(case((summed.c.part == part, column), else_=null()))

        per = (select(summed.c.reference, func.max(summed.c.merchant_id).label("merchant_id"),
                      of(0, summed.c.amount).label("a0"), of(-1, summed.c.amount).label("am"),
                      of(1, summed.c.amount).label("ap"), of(0, summed.c.at).label("t0"),
                      of(-1, summed.c.at).label("tm"), of(1, summed.c.at).label("tp"))
               .group_by(summed.c.reference).subquery("per"))
        # The statement's sum for the payment (its lines are collapsed to one per payment before this runs).
        line = reconciliation_lines
        billed = (select(line.c.reference, _sum(line.c.amount).label("amount"))
                  .where(line.c.run_id == run_id, line.c.kind == kind).group_by(line.c.reference).subquery("billed"))
        a0, am, ap, t0, tm, tp = per.c.a0, per.c.am, per.c.ap, per.c.t0, per.c.tm, per.c.tp
        has = {0: a0.is_not(None), -1: am.is_not(None), 1: ap.is_not(None)}
        # The parts whose sum the statement shows, the day's own first: a refund (or a fee given back) near
        # midnight may be billed with the other day's. A match that takes a neighbour's part is dated by it,
        # so it is EXPECTED (crossed the boundary) and kept as an item the neighbour's run finds billed.
        combinations = [((0,), a0, t0), ((0, -1), a0 + am, tm), ((0, 1), a0 + ap, tp), ((0, -1, 1), a0 + am + ap, tm),
                        ((-1,), am, tm), ((1,), ap, tp), ((-1, 1), am + ap, tm)]
        matches = [(and_(*(has[p] for p in parts), total == billed.c.amount), total, at)
                   for parts, total, at in combinations]
        # None matches: the day's part, else the first of the window's, as the staging key holds one per payment.
        amount = case(*((match, total) for match, total, _ in matches), else_=func.coalesce(a0, am, ap))
        at = case(*((match, when) for match, _, when in matches), else_=func.coalesce(t0, tm, tp))
        return (select(literal(run_id), literal(kind), per.c.reference, per.c.merchant_id, amount, at,
                       literal("ledger"))
                .select_from(per.outerjoin(billed, billed.c.reference == per.c.reference)))

    def _neighbour(self, run: ReconciliationRun, days: int) -> tuple[int, bool] | None:
        """(id, reconciled) of the same statement's row for the day before (-1) or after (1), if any."""
        r = reconciliations
        row = self.conn.execute(select(r.c.reconciliation_id, r.c.finished_at).where(
            r.c.day == run.day + timedelta(days=days), r.c.kind == run.kind, r.c.source == run.source)).first()
        return None if row is None else (int(row.reconciliation_id), row.finished_at is not None)

    # --- classification -----------------------------------------------------------------------------------

    _RESULT_COLUMNS = ["run_id", "item_key", "bucket", "kind", "reference", "channel_reference", "merchant_id",
                       "ours", "theirs", "theirs_fee", "expected_fee", "occurred_at", "origin"]

    def _classify_lines(self, run: ReconciliationRun, rules: Rules) -> None:
        line, o = reconciliation_lines, reconciliation_ours
        rank = func.row_number().over(partition_by=(line.c.kind, line.c.reference), order_by=line.c.line_no)
        lr = select(line, rank.label("rank")).where(line.c.run_id == run.run_id).subquery("ranked")
        joined = lr.outerjoin(o, and_(o.c.run_id == run.run_id, o.c.kind == lr.c.kind, o.c.reference == lr.c.reference,
                                      lr.c.rank == 1, lr.c.reference != ""))
        matched = o.c.reference.is_not(None)
        fee_checked = rules.fee_bps is not None and rules.statement_kind == rec.TRADES
        expected: Any = null()
        if fee_checked:
            expected = case((and_(matched, lr.c.kind == rec.PAYMENT),
                             (2 * func.abs(lr.c.amount) * rules.fee_bps + BPS_DENOMINATOR) // (2 * BPS_DENOMINATOR)),
                            else_=null())
        bucket = case(
            (~matched, case((lr.c.kind == rec.OTHER, Bucket.OTHER.value), else_=Bucket.MISSING_OURS.value)),
            (o.c.amount != lr.c.amount, Bucket.AMOUNT_DIFFERENCE.value),
            (and_(lr.c.kind == rec.PAYMENT, lr.c.fee != expected) if fee_checked else false(),
             Bucket.FEE_DIFFERENCE.value),
            (and_(o.c.occurred_at >= rules.start, o.c.occurred_at < rules.end), Bucket.MATCHED.value),
            else_=Bucket.EXPECTED.value)
        rank_text = cast(lr.c.rank, String)
        key = case((lr.c.reference != "", lr.c.kind + literal(":") + rank_text + literal(":") + lr.c.reference),
                   else_=lr.c.kind + literal(":") + rank_text + literal("#") + lr.c.channel_reference)
        rows = select(literal(run.run_id), key, bucket, lr.c.kind, lr.c.reference, lr.c.channel_reference,
                      func.coalesce(o.c.merchant_id, ""), o.c.amount, lr.c.amount, lr.c.fee, expected,
                      func.coalesce(o.c.occurred_at, lr.c.occurred_at), func.coalesce(o.c.origin, "line")
                      ).select_from(joined)
        self.conn.execute(insert(reconciliation_results).from_select(self._RESULT_COLUMNS, rows))

    def _classify_unbilled(self, run: ReconciliationRun, rules: Rules, before: tuple[int, bool] | None,
                           after: tuple[int, bool] | None) -> None:
        """Our movements no line matched: MISSING_THEIRS, EXPECTED near a boundary, or none (another day's)."""
        o, line, i = reconciliation_ours, reconciliation_lines, reconciliation_items
        t, start, end, window = o.c.occurred_at, rules.start, rules.end, rules.window

        def item(neighbour: tuple[int, bool] | None, *where: Any) -> Any:
            if neighbour is None:
                return false()
            return select(literal(1)).where(i.c.reconciliation_id == neighbour[0], i.c.kind == o.c.kind,
                                            i.c.reference == o.c.reference, *where).exists()

        def waiting(neighbour: tuple[int, bool] | None) -> Any:
            return item(neighbour, i.c.bucket == Bucket.EXPECTED.value, i.c.theirs.is_(None))

        def unbilled_by(neighbour: tuple[int, bool] | None) -> Any:
            if neighbour is None or not neighbour[1]:
                return false()
            return ~item(neighbour, i.c.theirs.is_not(None))

        missing, expected = Bucket.MISSING_THEIRS.value, Bucket.EXPECTED.value
        bucket = case(
            (t < start, case((waiting(before), missing), else_=null())),
            (t >= end, case((waiting(after), missing), else_=null())),
            (t < start + window, case((unbilled_by(before), missing), else_=expected)),
            (t >= end - window, case((unbilled_by(after), missing), else_=expected)),
            else_=missing)
        billed = select(literal(1)).where(line.c.run_id == run.run_id, line.c.kind == o.c.kind,
                                          line.c.reference == o.c.reference).exists()
        found = (select(o.c.kind, o.c.reference, o.c.merchant_id, o.c.amount, o.c.occurred_at, o.c.origin,
                        bucket.label("bucket"))
                 .where(o.c.run_id == run.run_id, ~billed).subquery("unbilled"))
        key = found.c.kind + literal(":1:") + found.c.reference
        rows = (select(literal(run.run_id), key, found.c.bucket, found.c.kind, found.c.reference, literal(""),
                       found.c.merchant_id, found.c.amount, null(), literal(0, BigInteger), null(),
                       found.c.occurred_at, found.c.origin)
                .where(found.c.bucket.is_not(None)))
        self.conn.execute(insert(reconciliation_results).from_select(self._RESULT_COLUMNS, rows))

    def _count(self, run: ReconciliationRun, rules: Rules) -> Report:
        res = reconciliation_results
        stmt = (select(res.c.bucket, func.count(), _sum(res.c.theirs), _sum(res.c.ours),
                       func.count(res.c.theirs))
                .where(res.c.run_id == run.run_id).group_by(res.c.bucket))
        rows = self.conn.execute(stmt).all()
        report = Report(run.day, run.kind, run.source)
        report.totals = rec.totals_from({row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in rows})
        report.lines = sum(int(row[4]) for row in rows)
        report.statement_total = sum(int(row[2]) for row in rows)
        return report

    # --- booking ------------------------------------------------------------------------------------------

    def _unexplained(self, rules: Rules) -> Any:
        """Item.unexplained in SQL, over reconciliation_results."""
        res = reconciliation_results
        kinds = [k for k in (rec.PAYMENT, rec.REFUND, rec.FEE, rec.TRANSFER, rec.OTHER)
                 if rec.books_suspense(rules.statement_kind, k)]
        # A verification transfer is in the ledger from when the rail said it was sent (gateway/service/
        # onboarding.py), so one the account bill lacks is unexplained like any other movement of ours.
        return case((and_(res.c.bucket.in_(_values(rec.UNEXPLAINED)), res.c.kind.in_(kinds)),
                     func.coalesce(res.c.ours, 0) - func.coalesce(res.c.theirs, 0)), else_=0)

    def _book_fees(self, run: ReconciliationRun, rules: Rules, watermark: int, at: datetime) -> int:
        if rules.statement_kind != rec.TRADES:
            return 0
        res = reconciliation_results
        source = (select(res.c.merchant_id, res.c.reference, res.c.theirs_fee.label("amount"))
                  .where(res.c.run_id == run.run_id, res.c.kind == rec.PAYMENT, res.c.origin == "ledger",
                         res.c.ours.is_not(None), res.c.theirs.is_not(None), res.c.theirs_fee > 0,
                         res.c.bucket.in_(_values(_BOOKED_BUCKETS))).subquery("fees"))
        booked = self._book(EntryKind.ALIPAY_SERVICE_FEE, source, accounts.ALIPAY_SERVICE_FEES.key,
                            accounts.CHANNEL_CLEARING.key, watermark, run.day, at)
        # The fee Alipay gives back with a refund: the refund line's fee, negative (a cost returned).
        returned = (select(res.c.merchant_id, res.c.reference, (-res.c.theirs_fee).label("amount"))
                    .where(res.c.run_id == run.run_id, res.c.kind == rec.REFUND, res.c.origin == "ledger",
                           res.c.ours.is_not(None), res.c.theirs.is_not(None), res.c.theirs_fee < 0,
                           res.c.bucket.in_(_values(_BOOKED_BUCKETS))).subquery("returned"))
        return booked + self._book(EntryKind.ALIPAY_SERVICE_FEE_RETURNED, returned, accounts.CHANNEL_CLEARING.key,
                                   accounts.ALIPAY_SERVICE_FEES.key, watermark, run.day, at)

    def _book_verifications(self, run: ReconciliationRun, rules: Rules, watermark: int, at: datetime) -> int:
        if rules.statement_kind != rec.ACCOUNT:
            return 0
        res = reconciliation_results
        source = (select(literal("").label("merchant_id"), res.c.reference, (-res.c.ours).label("amount"))
                  .where(res.c.run_id == run.run_id, res.c.origin == "verification", res.c.theirs.is_not(None),
                         res.c.ours < 0, res.c.bucket.in_(_values(_BOOKED_BUCKETS))).subquery("verifications"))
        return self._book(EntryKind.VERIFICATION_TRANSFER, source, accounts.VERIFICATION_TRANSFERS.key,
                          accounts.CHANNEL_CLEARING.key, watermark, run.day, at)

    def _book_suspense(self, run: ReconciliationRun, rules: Rules, runs: int, watermark: int, at: datetime) -> int:
        """The change of each item's unexplained amount since the last run, against suspense."""
        res, i = reconciliation_results, reconciliation_items
        unexplained = self._unexplained(rules)
        # Only the items with something unexplained: a matched day of a million lines has none, and summing a
        # zero per line took a spilling aggregate over every result, four times a run.
        desired = (select(res.c.item_key.label("item_key"), res.c.merchant_id.label("merchant_id"),
                          unexplained.label("amount"))
                   .where(res.c.run_id == run.run_id, unexplained != 0))
        booked = (select(i.c.item_key, i.c.merchant_id, -i.c.suspense)
                  .where(i.c.reconciliation_id == run.reconciliation_id, i.c.suspense != 0))
        both = union_all(desired, booked).subquery("both")
        delta = cast(func.sum(both.c.amount), BigInteger)
        deltas = (select(both.c.item_key, func.max(both.c.merchant_id).label("merchant_id"), delta.label("delta"))
                  .group_by(both.c.item_key).having(func.sum(both.c.amount) != 0).subquery("deltas"))
        prefix = f"rcn:{run.reconciliation_id}:{runs}:"
        added = 0
        suspense, clearing = accounts.SUSPENSE.key, accounts.CHANNEL_CLEARING.key
        for debit, credit, sign in ((suspense, clearing, 1), (clearing, suspense, -1)):
            source = (select(deltas.c.merchant_id, (literal(prefix) + deltas.c.item_key).label("reference"),
                             (sign * deltas.c.delta).label("amount"))
                      .where(sign * deltas.c.delta > 0).subquery("changes"))
            added += self._book(EntryKind.RECONCILIATION_DIFFERENCE, source, debit, credit, watermark, run.day, at)
        return added

    def _book(self, kind: EntryKind, source: Any, debit: str, credit: str, watermark: int, day: date,
              at: datetime) -> int:
        """Entries of `kind` for the rows of `source` (merchant_id, reference, amount > 0) not booked yet, each
        debit `debit` and credit `credit` its amount (as the domain's builders: line 0 the debit)."""
        e = ledger_entries
        rows = (select(source.c.merchant_id, literal(kind.value), source.c.reference, literal(day, e.c.settlement_day.type),
                       literal(at, e.c.created_at.type))
                .where(true()).order_by(source.c.merchant_id, source.c.reference))
        stmt = self._insert(e).from_select(["merchant_id", "kind", "reference", "settlement_day", "created_at"],
                                           rows).on_conflict_do_nothing()
        if self.conn.dialect.name == "postgresql":
            return self._book_in_one(stmt, source, debit, credit)
        added = int(self.conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount)
        if not added:
            return 0
        # Each source row finds its new entry through (kind, reference), the unique index. ON CONFLICT, not a
        # NOT EXISTS on the postings: an entry of another writer above the watermark has its lines 0 and 1
        # already. That NOT EXISTS was planned on PostgreSQL as an anti-join reading every posting per entry
        # (the 1,000,000-line bench: over ten minutes). Not driven by the new entries' id range as the backfill
        # is: the source here (staged results) has no index on (merchant_id, reference), and SQLite then
        # scanned it once per new entry.
        new = e.join(source, and_(source.c.merchant_id == e.c.merchant_id, source.c.reference == e.c.reference))

        def posting(number: int, account: str, amount: Any) -> Any:
            return (select(e.c.merchant_id, e.c.entry_id, literal(number), literal(account), cast(amount, BigInteger))
                    .select_from(new).where(e.c.kind == kind.value, e.c.entry_id > watermark))

        self.conn.execute(self._insert(ledger_postings).from_select(
            ["merchant_id", "entry_id", "line", "account", "amount"],
            union_all(posting(0, debit, source.c.amount), posting(1, credit, -source.c.amount)))
            .on_conflict_do_nothing())
        return added

    def _book_in_one(self, entries: Any, source: Any, debit: str, credit: str) -> int:
        """PostgreSQL: `_book` as one statement. The entries' INSERT is a data-modifying CTE whose RETURNING
        names the entries it really added (not those another writer booked first), and the postings are
        written from those alone, two per entry: no join back through the entries' (kind, reference) key, no
        second pass over the source, and no conflict to check on the postings (the 1,000,000-line bench's
        finish: 59 -> 48 s with the suspense's narrower sum, bench/README.md)."""
        e = ledger_entries
        added = entries.returning(e.c.merchant_id, e.c.entry_id, e.c.reference).cte("added")
        line = union_all(select(literal(0).label("line")), select(literal(1))).subquery("line")
        rows = (select(added.c.merchant_id, added.c.entry_id, line.c.line,
                       case((line.c.line == 0, literal(debit)), else_=literal(credit)),
                       cast(case((line.c.line == 0, source.c.amount), else_=-source.c.amount), BigInteger))
                .select_from(added.join(source, and_(source.c.merchant_id == added.c.merchant_id,
                                                     source.c.reference == added.c.reference)).join(line, true())))
        postings = (insert(ledger_postings).from_select(["merchant_id", "entry_id", "line", "account", "amount"], rows)
                    .add_cte(added))
        return int(self.conn.execute(postings, execution_options={"preserve_rowcount": True}).rowcount) // 2

    def _replace_items(self, run: ReconciliationRun, rules: Rules) -> None:
        res, i = reconciliation_results, reconciliation_items
        self.conn.execute(delete(i).where(i.c.reconciliation_id == run.reconciliation_id))
        rows = (select(literal(run.reconciliation_id), res.c.item_key, res.c.bucket, res.c.kind, res.c.reference,
                       res.c.channel_reference, res.c.merchant_id, res.c.ours, res.c.theirs, res.c.theirs_fee,
                       res.c.expected_fee, res.c.occurred_at, self._unexplained(rules))
                .where(res.c.run_id == run.run_id, res.c.bucket != Bucket.MATCHED.value))
        self.conn.execute(insert(i).from_select(
            ["reconciliation_id", "item_key", "bucket", "kind", "reference", "channel_reference", "merchant_id",
             "ours", "theirs", "theirs_fee", "expected_fee", "occurred_at", "suspense"], rows))

    # --- reading --------------------------------------------------------------------------------------------

    def differences(self, reconciliation_id: int, limit: int = rec.MAX_LISTED) -> list[Item]:
        i = reconciliation_items
        order = case({b.value: n for n, b in enumerate(Bucket)}, value=i.c.bucket)
        stmt = (select(i).where(i.c.reconciliation_id == reconciliation_id,
                                i.c.bucket.in_(_values(rec.DIFFERENCES)))
                .order_by(order, i.c.item_key).limit(limit))
        return [_item(row) for row in self.conn.execute(stmt)]

    def report(self, day: date, kind: str, source: str) -> Report | None:
        """The day's last finished report, as stored."""
        r = reconciliations
        row = self.conn.execute(select(r).where(r.c.day == day, r.c.kind == kind, r.c.source == source)).first()
        if row is None or row.finished_at is None:
            return None
        report = Report(day, kind, source, lines=int(row.lines), statement_total=int(row.statement_total),
                        unexplained=int(row.unexplained), state=row.state)
        report.totals = rec.totals_from({b: (int(c), int(t), int(o)) for b, (c, t, o) in row.totals.items()})
        report.differences = self.differences(int(row.reconciliation_id))
        return report


def _item(row: Any) -> Item:
    rank = int(row.item_key.split(":")[1].split("#")[0])
    occurred = row.occurred_at
    return Item(Bucket(row.bucket), row.kind, row.reference, row.channel_reference, row.merchant_id,
                None if row.ours is None else int(row.ours), None if row.theirs is None else int(row.theirs),
                int(row.theirs_fee), None if row.expected_fee is None else int(row.expected_fee),
                occurred.astimezone(UTC) if occurred is not None else None, rank)

