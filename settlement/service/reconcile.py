"""Reconciling a day's statement of a rail with the ledger (settlement/domain/reconciliation.py has the rules).

`reconcile` streams the statement's lines (a StatementSource's iterator, never a list) into staging in batches
of BATCH, each batch its own short write transaction, then classifies, books and records the day in one
transaction (settlement/storage/reconciliation.py), raising an operator flag per real difference (up to
MAX_FLAGS, then one flag that counts the rest) last in it. Running a day again gives the same report and books
nothing twice: the day's items remember what each holds in suspense, and a run books only the change, so a
difference fixed since (a missing payment booked late) returns its fen from suspense and leaves the report.

A statement the rail does not have yet raises StatementNotReady before anything is written. The daily job
(`reconcile_job`) asks for yesterday's TRADES, then ACCOUNT statements (fees booked from the trade bill are
then there for the account bill's fee lines) after `fetch_after`, again at each turn until both are in, and
flags STATEMENT_NOT_READY once one is still missing after `flag_after`, unless the ledger has no movement of
ours the statement would show (`quiet_day`): Alipay makes no bill of a day on which nothing moved
(``isp.bill_not_exist`` for ever), so such a day is recorded reconciled with an empty report and not asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any, cast

from channels.contract.statements import StatementKind, StatementLine, StatementNotReady, StatementSource
from gateway.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from gateway.domain.flags import Flag, FlagKind
from gateway.jobs import Job, Report
from settlement.domain import reconciliation as rec
from settlement.domain.calendar import CHINA
from settlement.domain.ledger import MAX_POSTING
from settlement.domain.reconciliation import Bucket, Item, Options
from settlement.domain.reconciliation import Report as ReconciliationReport
from settlement.service.ports import ReconciliationRun, SettlementUnitOfWorkFactory
from settlement.service.statements import SettlementQueries, StatementUnitOfWorkFactory

log = logging.getLogger(__name__)
BATCH = 5_000  # lines per staging INSERT (one executemany, one short transaction)
DEFAULT_OPTIONS = Options()
MAX_FLAGS = 100  # differences flagged one by one per run; the rest in one flag that counts them
KINDS = (StatementKind.TRADES, StatementKind.ACCOUNT)  # the order both the job and `--kind both` keep
_LINE_KINDS = rec.OURS_ON[rec.ACCOUNT] | {rec.OTHER}
FLAG_OF = {
    Bucket.MISSING_OURS: FlagKind.RECONCILIATION_MISSING_OURS,
    Bucket.MISSING_THEIRS: FlagKind.RECONCILIATION_MISSING_THEIRS,
    Bucket.AMOUNT_DIFFERENCE: FlagKind.RECONCILIATION_AMOUNT_DIFFERENCE,
    Bucket.FEE_DIFFERENCE: FlagKind.RECONCILIATION_FEE_DIFFERENCE,
    Bucket.OTHER: FlagKind.RECONCILIATION_OTHER,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _row(run_id: str, number: int, line: StatementLine, statement_kind: str) -> tuple[Any, ...]:
    """A line as a staging row, refused (ValueError naming the line and the field) when it cannot be what the
    contract promises: the rail's file is outside input. An account statement's refund line with no reference
    is staged under its payment's (rec.line_reference)."""
    def bad(field: str, why: str) -> ValueError:
        return ValueError(f"statement line {number}: {field} {why}")

    kind = rec.value(line.kind)
    if kind not in _LINE_KINDS:
        raise bad("kind", f"{kind[:20]!r} is no line kind")
    for field in ("reference", "channel_reference", "payment_reference"):
        text = getattr(line, field)
        if not isinstance(text, str) or len(text) > rec.MAX_REFERENCE:
            raise bad(field, f"must be text of at most {rec.MAX_REFERENCE} characters")
    if type(line.amount) is not int or abs(line.amount) > MAX_POSTING:
        raise bad("amount", f"must be whole fen within ±{MAX_POSTING}")
    # A refund's line may carry the fee given back as a negative cost (channels/alipay_statements does).
    if type(line.fee) is not int or abs(line.fee) > MAX_POSTING:
        raise bad("fee", f"must be whole fen within ±{MAX_POSTING}")
    if not isinstance(line.occurred_at, datetime) or line.occurred_at.tzinfo is None:
        raise bad("occurred_at", "must be a time with its zone")
    reference = rec.line_reference(statement_kind, kind, line.reference, line.payment_reference)
    return (run_id, number, kind, reference, line.channel_reference, line.amount, line.fee, line.occurred_at)


def reconcile(uow: SettlementUnitOfWorkFactory, source: StatementSource, day: date, kind: StatementKind,
              options: Options = DEFAULT_OPTIONS, *, lines: Iterable[StatementLine] | None = None,
              now: Callable[[], datetime] = _utc_now,
              on_lines: Callable[[int], None] | None = None) -> ReconciliationReport:
    """Reconcile `source`'s statement of `day` (`lines`, e.g. read from a file, instead of fetching it).
    Raises StatementNotReady (nothing written) and ValueError for a statement that cannot be read (the run
    is abandoned, the day's last report stays). `on_lines` hears how many lines each batch staged."""
    rules = options.rules(day, kind.value)
    stream: Iterator[StatementLine] = iter(source.lines(day, kind) if lines is None else lines)
    first = next(stream, None)  # a rail with no statement yet says so here, before anything is written
    with uow(write=True) as tx:
        run = tx.reconciliations.begin(day, kind.value, source.name, now())
        tx.commit()
    try:
        count = _stage(uow, run, stream if first is None else _chain(first, stream), on_lines)
        with uow(write=True) as tx:
            report = tx.reconciliations.finish(run, rules, now())
            _flag(tx, report, now())
            tx.commit()
    except BaseException:
        with uow(write=True) as tx:
            tx.reconciliations.abandon(run)
            tx.commit()
        raise
    log.info("reconciled %s %s of %s: %d lines, %d differences", day.isoformat(), kind.value, source.name, count,
             sum(report.total(b).count for b in rec.DIFFERENCES))
    return report


def _chain(first: StatementLine, rest: Iterator[StatementLine]) -> Iterator[StatementLine]:
    yield first
    yield from rest


def _stage(uow: SettlementUnitOfWorkFactory, run: ReconciliationRun, lines: Iterator[StatementLine],
           on_lines: Callable[[int], None] | None) -> int:
    count = 0
    while True:
        batch = [_row(run.run_id, count + n, line, run.kind) for n, line in enumerate(islice(lines, BATCH), start=1)]
        if not batch:
            return count
        with uow(write=True) as tx:
            tx.reconciliations.stage(run, batch)
            tx.commit()
        count += len(batch)
        if on_lines is not None:
            on_lines(len(batch))


def _flag(tx: Any, report: ReconciliationReport, at: datetime) -> None:
    """A flag per real difference (the statement's day, kind and source say where to look), last in the
    transaction (the lock order's level 7). A second run of the day raises the same flags again: counted up,
    reopened if resolved while the difference is still there."""
    listed = [d for d in report.differences if d.bucket in FLAG_OF]
    for item in listed[:MAX_FLAGS]:
        tx.flags.raise_flag(Flag.raise_(FLAG_OF[item.bucket], merchant_id=item.merchant_id,
                                        payment_id=_flag_id(item), channel=report.source,
                                        detail=_detail(report, item), now=at))
    total = sum(report.total(b).count for b in FLAG_OF)
    if total > MAX_FLAGS:
        tx.flags.raise_flag(Flag.raise_(
            FlagKind.RECONCILIATION_OTHER, merchant_id="", payment_id=f"rcn_{report.day.isoformat()}_{report.statement_kind[:3]}",
            channel=report.source, now=at, detail=(
                f"{report.day.isoformat()} {report.statement_kind} statement of {report.source}: {total} differences, "
                f"{MAX_FLAGS} flagged one by one; see `cashier reconcile statement --date {report.day.isoformat()}`")))


def _flag_id(item: Item) -> str:
    return (item.reference or f"#{item.channel_reference}")[:30]


def _detail(report: ReconciliationReport, item: Item) -> str:
    ours = "none" if item.ours is None else f"{item.ours} fen"
    theirs = "none" if item.theirs is None else f"{item.theirs} fen (fee {item.theirs_fee})"
    fee = "" if item.expected_fee is None else f", contracted fee {item.expected_fee}"
    return (f"{report.day.isoformat()} {report.statement_kind} statement of {report.source}: {item.bucket.value} "
            f"{item.kind} {item.reference or '-'} (channel {item.channel_reference or '-'}): ours {ours}, "
            f"theirs {theirs}{fee}")


def bill_overdue(day: date, options: Options, at: datetime) -> bool:
    """Whether `flag_after` of the day after `day` (China time) has passed: Alipay's bill of `day`, if there
    is one, is made by then."""
    return at.astimezone(CHINA) >= datetime.combine(day + timedelta(days=1), options.flag_after, CHINA)


def quiet_day(uow: SettlementUnitOfWorkFactory, source: StatementSource, day: date, kind: StatementKind,
              options: Options = DEFAULT_OPTIONS, *,
              now: Callable[[], datetime] = _utc_now) -> ReconciliationReport | None:
    """Record `day`'s `kind` statement as reconciled with no lines when the ledger has no movement of ours it
    would show (in the day and its window); None, nothing written, when it has one. Asked once the rail still
    has no statement after `flag_after`: on a day with nothing in it Alipay never makes one. A movement booked
    after the check is reconciled against the empty statement, so it is flagged missing, never lost."""
    with uow() as tx:
        if tx.reconciliations.has_movements(options.rules(day, kind.value)):
            return None
    report = reconcile(uow, source, day, kind, options, lines=(), now=now)
    log.info("nothing moved on %s: the %s statement of %s, which the rail does not have, is reconciled empty",
             day.isoformat(), kind.value, source.name)
    return report


def flag_not_ready(uow: SettlementUnitOfWorkFactory, source: str, day: date, kind: StatementKind, detail: str,
                   at: datetime) -> None:
    with uow(write=True) as tx:
        tx.flags.raise_flag(Flag.raise_(
            FlagKind.STATEMENT_NOT_READY, merchant_id="", payment_id=f"stmt_{day.isoformat()}_{kind.value[:3]}",
            channel=source, now=at, detail=(
                f"the {kind.value} statement of {day.isoformat()} from {source} is still not ready: {detail[:300]}")))
        tx.commit()


# --- the daily job -------------------------------------------------------------------------------------------

def reconcile_job(uow: SettlementUnitOfWorkFactory, sources: Sequence[StatementSource], options: Options, *,
                  now: Callable[[], datetime] = _utc_now) -> Job:
    """After `fetch_after` (China time), yesterday's statements of every source, each until it is in."""
    def run_once() -> Report:
        at = now()
        local = at.astimezone(CHINA)
        if local.time() < options.fetch_after:
            return {}
        day = local.date() - timedelta(days=1)
        done = reconciled = not_ready = differences = failed = 0
        for source in sources:
            for kind in KINDS:
                with uow() as tx:
                    if tx.reconciliations.report(day, kind.value, source.name) is not None:
                        done += 1
                        continue
                try:
                    report = reconcile(uow, source, day, kind, options, now=now)
                except StatementNotReady as exc:
                    if bill_overdue(day, options, at):
                        quiet = quiet_day(uow, source, day, kind, options, now=now)
                        if quiet is not None:
                            reconciled += 1
                            differences += sum(quiet.total(b).count for b in rec.DIFFERENCES)
                            continue
                        flag_not_ready(uow, source.name, day, kind, str(exc), at)
                    not_ready += 1
                    if kind is StatementKind.TRADES:
                        break  # the account bill's fee lines need the trade bill's fees first
                    continue
                except Exception:
                    failed += 1
                    log.exception("reconciliation of %s %s from %s failed; tried again at the next turn",
                                  day.isoformat(), kind.value, source.name)
                    break
                reconciled += 1
                differences += sum(report.total(b).count for b in rec.DIFFERENCES)
        return {"reconciled": reconciled, "not_ready": not_ready, "differences": differences, "failed": failed,
                "done_before": done}

    return Job("settlement_reconcile", options.every_seconds, run_once)


# --- on demand (SettlementService.Reconcile) ---------------------------------------------------------------

class SettlementOperations(SettlementQueries):
    """SettlementService's reads, and reconciling a day on an operator's demand (the statement is fetched from
    each source the plugins registered)."""

    def __init__(self, uow: SettlementUnitOfWorkFactory, sources: Sequence[StatementSource] = (),
                 options: Options = DEFAULT_OPTIONS):
        super().__init__(cast(StatementUnitOfWorkFactory, uow))
        self.settlement_uow = uow
        self.sources = list(sources)
        self.options = options

    def reconcile(self, day: date, kinds: Sequence[StatementKind] = KINDS) -> list[ReconciliationReport]:
        """Reconcile `day` (China time, over) for each source; a statement not ready becomes FAILED_PRECONDITION
        (STATEMENT_NOT_READY) unless the day is quiet and its bill overdue (`quiet_day`), a statement that cannot be read FAILED_PRECONDITION (STATEMENT_UNREADABLE)."""
        if day >= datetime.now(CHINA).date():
            raise InvalidArgument([FieldViolation("date", f"{day.isoformat()} is not over yet; its statement comes "
                                                          "the next day")])
        if not self.sources:
            raise FailedPrecondition("no statement source is installed (the Alipay statements plugin needs "
                                     "[channels.alipay])", reason="NO_STATEMENT_SOURCE")
        reports = []
        for source in self.sources:
            for kind in kinds:
                try:
                    reports.append(reconcile(self.settlement_uow, source, day, kind, self.options))
                except StatementNotReady as exc:
                    # As the job does: a day on which nothing of ours moved never gets a bill; once it is
                    # overdue the day is reconciled empty rather than refused for ever.
                    quiet = (quiet_day(self.settlement_uow, source, day, kind, self.options)
                             if bill_overdue(day, self.options, _utc_now()) else None)
                    if quiet is not None:
                        reports.append(quiet)
                        continue
                    raise FailedPrecondition(
                        f"the {kind.value} statement of {day.isoformat()} from {source.name} is not ready: {exc}",
                        reason="STATEMENT_NOT_READY",
                        metadata={"source": source.name, "kind": kind.value, "date": day.isoformat()}) from None
                except ValueError as exc:
                    raise FailedPrecondition(
                        f"the {kind.value} statement of {day.isoformat()} from {source.name} cannot be read: "
                        f"{str(exc)[:300]}", reason="STATEMENT_UNREADABLE",
                        metadata={"source": source.name, "kind": kind.value}) from None
        return reports
