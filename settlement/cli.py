"""`cashier settle`: settlement's commands, added to `cashier` through the `cashier.commands` entry point group
(pyproject.toml), so that gateway/cli.py names nothing of settlement.

- `cashier settle backfill`: book, once, the payments, refunds and held deposits made before settlement
  existed;
- `cashier settle balances`: bring the balance cache up to date (adding the postings booked since its last
  refresh); with `--check`, recompute every balance from all postings and compare with the cache, changing
  nothing, and exit 1 on any difference;
- `cashier settle statement --merchant M --from D --to D [--csv]`: a merchant's statement for a period
  (settlement/service/statements.py), or every entry of it as CSV;
- `cashier settle run --date YYYY-MM-DD`: the settlement run for a date (settlement/service/run.py), with a
  progress bar and a summary table;
- `cashier settle unpark --merchant M --operator OP`: re-arm a merchant's payouts parked after
  `max_payout_failures` failed runs (settlement/service/unpark.py), audited;
- `cashier reconcile statement [FILE] --date YYYY-MM-DD [--kind trades|account|both]` (group `reconcile`, its
  own entry point): a day's statements against the ledger (settlement/service/reconcile.py), fetched from each
  statement source, or read from a bill file downloaded by hand; a progress bar, then a summary table. Both are click's (`click.progressbar`, plain columns): click is already
  the CLI's library, so the run needs no second terminal library (rich is in the environment only as
  import-linter's dependency, tqdm not at all).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from typing import Any, Protocol, cast

import click

from gateway.domain.errors import CashierError
from gateway.jobs import run_job
from settlement.domain.calendar import DEFAULT_CUTOFF, parse_cutoff, run_may_start
from settlement.domain.fees import RefundFeePolicy
from settlement.service import jobs, ledger
from settlement.service.ports import SettlementUnitOfWorkFactory
from settlement.service.run import MerchantResult, RunReport
from settlement.service.run import run as settlement_run
from settlement.service.statements import (
    MERCHANT_ACCOUNTS,
    Balances,
    SettlementQueries,
    Statement,
    StatementUnitOfWorkFactory,
    check_period,
)

MAX_SHOWN = 20  # differences printed; the count says how many there are


class _Root(Protocol):
    """What `cashier` puts in the root context (gateway.cli.Context): the settings, read once."""

    def settings(self, **overrides: Any) -> Any: ...


@contextmanager
def _units_of_work(pool_size: int = 1) -> Iterator[SettlementUnitOfWorkFactory]:
    """The gateway's unit of work factory over the configured database, migrated first (as `cashier serve`
    would), disposed of afterwards; `pool_size` connections for as many threads (a run's payout threads)."""
    from gateway.storage import migrate
    from gateway.storage.engine import make_engine
    from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

    root: _Root = click.get_current_context().find_root().obj
    engine = make_engine(root.settings().database.url, pool_size=pool_size)
    try:
        migrate.upgrade(engine)
        yield SqlUnitOfWorkFactory(engine, group_commit=False)
    finally:
        engine.dispose()


@click.group()
def settle() -> None:
    """Settlement: the ledger's backfill and balances, and the settlement run."""


@settle.command()
@click.option("--cutoff", default=None,
              help="The settlement day's cut-off, HH:MM China time (default: [settlement] cutoff, else "
                   f"{DEFAULT_CUTOFF.strftime('%H:%M')}).")
@click.option("--refund-fee", type=click.Choice([p.value for p in RefundFeePolicy]), default=None,
              help="What a refund does with the platform's fee: returned pro rata, or kept (default: "
                   "[settlement] refund_fee, else pro_rata).")
def backfill(cutoff: str | None, refund_fee: str | None) -> None:
    """Book the payments, refunds and held deposits made before settlement existed, once (running it again
    adds nothing). Payments with no stored fee rate are booked with no fee. The cut-off and refund fee
    default to the configuration's, which the payment and refund paths book with: with another refund fee
    policy a backfill would find their fee shares conflicting (pro_rata booked, kept asked) or add shares
    the refunds never gave (kept booked, pro_rata asked)."""
    configured = click.get_current_context().find_root().obj.settings().settlement
    day_ends = parse_cutoff(configured.cutoff if cutoff is None else cutoff)  # refused before the database
    refund_fee = configured.refund_fee if refund_fee is None else refund_fee
    with _units_of_work() as uow:
        r = run_job(jobs.backfill_job(uow, cutoff=day_ends, refund_policy=RefundFeePolicy(refund_fee)))
    click.echo(f"booked {r['payments']} payments, {r['fees']} fees, {r['refunds']} refunds, "
               f"{r['fees_returned']} fees returned, {r['deposits']} deposits")


@settle.command()
@click.option("--check", is_flag=True,
              help="Recompute every balance from the postings and compare with the cache; change nothing.")
def balances(check: bool) -> None:
    """Recompute and cache every balance from the postings (or, with --check, prove the cache)."""
    with _units_of_work() as uow:
        if not check:
            click.echo(f"cached {run_job(jobs.balances_job(uow))['accounts']} balances")
            return
        result = ledger.recompute_balances(uow)
    if result.ok:
        click.echo(f"balances agree: {result.accounts} accounts, every entry balances, the ledger sums to 0")
        return
    for d in result.differences[:MAX_SHOWN]:
        cached = "none" if d.cached is None else str(d.cached)
        click.echo(f"{d.account} (shard {d.merchant_id or '-'}): cached {cached}, postings {d.computed}")
    if result.unbalanced_entries:
        click.echo(f"entries that do not balance: {', '.join(map(str, result.unbalanced_entries))}")
    raise click.ClickException(f"{len(result.differences)} balances differ from their postings, "
                               f"{len(result.unbalanced_entries)} entries do not balance, "
                               f"the ledger sums to {result.total}")


_COLUMNS = ("pending", "available", "deposit", "payouts_in_transit", "total")


def _cells(balances: Balances) -> list[str]:
    return [_yuan(balances[k]) for k in MERCHANT_ACCOUNTS] + [_yuan(balances.total)]


@settle.command()
@click.option("--merchant", "merchant_id", required=True, help="The merchant id.")
@click.option("--from", "start", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The period's first settlement day (China time).")
@click.option("--to", "end", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The period's last settlement day, inclusive.")
@click.option("--csv", "as_csv", is_flag=True,
              help="Every entry of the period as CSV (amounts in CNY), between an opening and a closing row.")
def statement(merchant_id: str, start: datetime, end: datetime, as_csv: bool) -> None:
    """A merchant's statement for a period: opening balances, the movements per kind of entry, closing
    balances (SettlementService.GetStatement's); with --csv, every entry, read a page at a time."""
    first, last = start.date(), end.date()
    with _units_of_work() as uow:
        # The gateway's unit of work has the statements' repository too (gateway/storage/unit_of_work.py).
        queries = SettlementQueries(cast(StatementUnitOfWorkFactory, uow))
        try:
            check_period(first, last, start_field="--from", end_field="--to")
            result = queries.statement(merchant_id, first, last)
        except CashierError as exc:
            raise click.ClickException(exc.message) from None
        if as_csv:
            _statement_csv(queries, result)
            return
    rows = [("opening", result.opening)]
    rows += [(f"{m.kind.value if m.kind else 'other'} ({m.entries})", m.change) for m in result.movements]
    rows += [("closing", result.closing)]
    width = max(len(label) for label, _ in rows)
    click.echo(f"statement of {merchant_id}, {first.isoformat()} to {last.isoformat()} (CNY)")
    click.echo("  ".join(["".ljust(width), *(c.rjust(18) for c in _COLUMNS)]).rstrip())
    for label, balances in rows:
        click.echo("  ".join([label.ljust(width), *(c.rjust(18) for c in _cells(balances))]).rstrip())


def _statement_csv(queries: SettlementQueries, result: Statement) -> None:
    """The entries page by page (never all in memory); the closing row is the opening plus the rows
    printed, so the file adds up even if an entry for the period is booked while it is written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    class _Out:
        @staticmethod
        def writerow(row: list[Any]) -> None:
            writer.writerow(row)
            click.echo(buffer.getvalue(), nl=False)
            buffer.seek(0)
            buffer.truncate()

    out = _Out()
    out.writerow(["settlement_date", "entry", "kind", "reference", *_COLUMNS])
    out.writerow([result.start.isoformat(), "", "opening", "", *_cells(result.opening)])
    closing, token = result.opening, ""
    while True:
        lines, token = queries.list_entries(result.merchant_id, result.start, result.end, 100, token)
        for line in lines:
            out.writerow([line.settlement_day.isoformat(), line.entry_id, line.kind.value if line.kind else "other",
                          line.reference, *_cells(line.change)])
            closing = closing + line.change
        if not token:
            break
    out.writerow([result.end.isoformat(), "", "closing", "", *_cells(closing)])


@contextmanager
def _payout_rail(settings: Any) -> Iterator[Any]:
    """The payout rail the gateway would use, built from the configuration as gateway/bootstrap.py builds it
    (plugins started, rails collected), closed afterwards. Not through gateway.bootstrap: only the gateway's
    entry points may import the composition root (import-linter)."""
    from gateway.plugins import collect_payout_rails, make_plugin_manager, start_plugins

    # CASHIER_LOAD_CHANNELS limits the plugins loaded, as for `cashier serve` (gateway.bootstrap.allowed_channels).
    allow = os.environ.get("CASHIER_LOAD_CHANNELS")
    pm = make_plugin_manager(allow=None if allow is None else {n.strip() for n in allow.split(",") if n.strip()})
    start_plugins(pm, settings.plugins)
    rails = collect_payout_rails(pm, settings.channels)
    try:
        if len(rails) != 1:
            names = ", ".join(r.name for r in rails) or "none"
            raise click.ClickException(f"settlement pays through exactly one payout rail; configured: {names} "
                                       "(the Alipay payouts plugin needs [channels.alipay] in certificate mode)")
        yield rails[0]
    finally:
        for rail in rails:
            close = getattr(rail, "close", None)
            if callable(close):
                close()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def _summary(report: RunReport) -> None:
    rows = [(m.merchant_id, m.payout_id or "-", _yuan(m.amount) if m.payout_id else "-", str(m.parts or "-"),
             m.state) for m in report.merchants]
    # Payouts of earlier runs this run settled (an UNKNOWN answer asked again, a crashed run's transfers).
    rows += [(m.merchant_id, m.payout_id, _yuan(m.amount), str(m.parts or "-"), f"{m.state} (earlier run)")
             for m in report.resumed]
    header = ("merchant", "payout", "amount (CNY)", "parts", "state")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  ".join(cell.rjust(w) if i in (2, 3) else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    if report.release_skipped:
        click.echo(f"nothing released (an operator is flagged): {report.release_skipped}")
    if report.deposits_released:
        click.echo(f"deposits given back to available: {_yuan(report.deposits_released)} CNY")
    counts: dict[str, int] = {}
    for m in report.merchants:
        counts[m.state] = counts.get(m.state, 0) + 1
    click.echo(f"run {report.run_date.isoformat()}: released {_yuan(report.released_amount)} CNY in "
               f"{report.released_entries} entries; paid {_yuan(report.total('PAID'))} CNY; "
               + ", ".join(f"{state} {n}" for state, n in sorted(counts.items())))


@settle.command("run")
@click.option("--date", "run_date", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The settlement day to run for (China time); its cut-off must have passed.")
def run_command(run_date: datetime) -> None:
    """Release what is due on DATE and pay each merchant its available balance through the payout rail. Safe
    to run again, or twice at once, or after a crash: nothing is paid twice."""
    settings = click.get_current_context().find_root().obj.settings()
    day: date = run_date.date()
    cutoff = parse_cutoff(settings.settlement.cutoff)
    if not run_may_start(day, datetime.now(UTC), cutoff):
        raise click.ClickException(f"--date: {day.isoformat()} is not over yet (cut-off "
                                   f"{cutoff.strftime('%H:%M')} China time); its T+0 money is still coming in")
    rules = settings.settlement.payout_rules
    try:
        calendar = settings.settlement.calendar()
    except ValueError as exc:  # the holiday file changed since the configuration was read
        raise click.ClickException(f"[settlement] holiday_file: {exc}") from None
    # A connection per payout thread ([settlement] payout_concurrency), none waiting on another's.
    with _payout_rail(settings) as rail, _units_of_work(rules.payout_concurrency) as uow, ExitStack() as bars:
        bar: list[Any] = []

        def on_merchants(count: int) -> None:
            bar.append(bars.enter_context(click.progressbar(length=count, label="paying merchants")))

        def on_progress(result: MerchantResult) -> None:
            bar[0].update(1)

        report = settlement_run(uow, rail, day, rules, calendar=calendar,
                                on_merchants=on_merchants, on_progress=on_progress)
    _summary(report)
    errors = [m.merchant_id for m in report.merchants + report.resumed if m.state == "ERROR"]
    if errors:
        raise click.ClickException(f"{len(errors)} merchants could not be settled (see the log): "
                                   f"{', '.join(errors[:MAX_SHOWN])}; running again resumes them")


_OPERATOR_ID = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")  # as gateway/cli_onboarding.py's --operator


@settle.command("unpark")
@click.option("--merchant", "merchant_id", required=True, help="The merchant id.")
@click.option("--operator", "operator_id", envvar="CASHIER_OPERATOR", required=True, metavar="OPERATOR_ID",
              help="Who is acting, as the audit trail records it (also CASHIER_OPERATOR).")
def unpark_command(merchant_id: str, operator_id: str) -> None:
    """Re-arm a merchant's payouts parked after [settlement] max_payout_failures failed runs: its failure
    count is reset, so the next run pays it again (fix the cause, e.g. its payout account, first). Audited."""
    from gateway.domain.onboarding.audit import Actor, ActorKind
    from settlement.service.unpark import unpark

    if not _OPERATOR_ID.fullmatch(operator_id):
        raise click.BadParameter("1-64 letters, digits, '_', '.', '@' or '-'", param_hint="--operator")
    if not 1 <= len(merchant_id) <= 40:
        raise click.BadParameter("1-40 characters", param_hint="--merchant")
    with _units_of_work() as uow:
        try:
            parked = unpark(uow, merchant_id, Actor(ActorKind.OPERATOR, operator_id))
        except CashierError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"un-parked the payouts of {merchant_id}: payout {parked.payout_id} ({_yuan(parked.amount)} CNY, "
               f"{parked.failures} failed runs) re-armed with its failure count reset; the next run pays again")


# --- cashier reconcile ---------------------------------------------------------------------------------------

MAX_FILE_BYTES = 512 * 1024 * 1024  # a bill of a few million lines, zipped; bounded before it is read
EXIT_DIFFERENCES, EXIT_NOT_READY = 1, 3


@click.group()
def reconcile() -> None:
    """Reconciliation with the channel's statements (`cashier reconcile statement`)."""


@contextmanager
def _statement_sources(settings: Any) -> Iterator[list[Any]]:
    """The statement sources the gateway would use (plugins started as for `cashier serve`), closed after."""
    from gateway.plugins import collect_statement_sources, make_plugin_manager, start_plugins

    allow = os.environ.get("CASHIER_LOAD_CHANNELS")
    pm = make_plugin_manager(allow=None if allow is None else {n.strip() for n in allow.split(",") if n.strip()})
    start_plugins(pm, settings.plugins)
    sources = collect_statement_sources(pm, settings.channels)
    try:
        if not sources:
            raise click.ClickException("no statement source is installed (the Alipay statements plugin needs "
                                       "[channels.alipay])")
        yield sources
    finally:
        for source in sources:
            close = getattr(source, "close", None)
            if callable(close):
                close()


def _report_table(report: Any) -> None:
    from settlement.domain.reconciliation import DIFFERENCES, Bucket

    click.echo(f"{report.day.isoformat()} {report.statement_kind} statement of {report.source}: {report.lines} "
               f"lines, {_yuan(report.statement_total)} CNY")
    header = ("bucket", "count", "statement (CNY)", "ours (CNY)")
    rows = [(b.value, str(report.total(b).count), _yuan(report.total(b).theirs), _yuan(report.total(b).ours))
            for b in Bucket]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    for d in report.differences[:MAX_SHOWN]:
        ours = "-" if d.ours is None else _yuan(d.ours)
        theirs = "-" if d.theirs is None else _yuan(d.theirs)
        fee = "" if d.expected_fee is None else f" fee {_yuan(d.theirs_fee)} (contracted {_yuan(d.expected_fee)})"
        click.echo(f"  {d.bucket.value} {d.kind} {d.reference or '#' + d.channel_reference}: ours {ours}, "
                   f"statement {theirs}{fee}")
    found = sum(report.total(b).count for b in DIFFERENCES)
    if found > MAX_SHOWN:
        click.echo(f"  … {found - MAX_SHOWN} more (`cashier flags list`)")
    click.echo(f"unexplained, held in suspense: {_yuan(report.unexplained)} CNY")


@reconcile.command("statement")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The statement's day (China time, 00:00-24:00), over already.")
@click.option("--kind", type=click.Choice(["trades", "account", "both"]), default=None,
              help="Which statement: trades (payments and refunds), account (every movement of the platform's "
                   "balance) or both (the default, trades first). With FILE: trades or account, required.")
def statement_command(file: str | None, day: datetime, kind: str | None) -> None:
    """Reconcile a day's statements with the ledger: fetched from each statement source, or read from FILE (a
    bill downloaded by hand, e.g. Alipay's zip). Prints a table per statement: each bucket's count and
    amounts, then the differences. Safe to run again: the report is redone, nothing is booked twice.

    Exit status: 0 when every line matched or is EXPECTED (crosses the day boundary), or when nothing of ours
    moved that day and, past [settlement.reconcile] flag_after of the next, the rail has no statement of it (the
    day is recorded reconciled, empty); 1 when differences were found (each is flagged: `cashier flags list`)
    or on an error; 3 when a statement is not ready yet (try again later)."""
    from channels.contract.statements import StatementKind, StatementNotReady
    from settlement.service.reconcile import KINDS, bill_overdue, quiet_day
    from settlement.service.reconcile import reconcile as reconcile_day

    settings = click.get_current_context().find_root().obj.settings()
    the_day: date = day.date()
    if file is not None and kind not in ("trades", "account"):
        raise click.UsageError("--kind: trades or account, to say which statement FILE is")
    kinds = KINDS if kind in (None, "both") else (StatementKind(kind.upper()),)
    data = None
    if file is not None:
        if os.path.getsize(file) > MAX_FILE_BYTES:
            raise click.ClickException(f"FILE: larger than {MAX_FILE_BYTES} bytes")
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    options = settings.settlement.reconcile.options
    clean = True
    with _statement_sources(settings) as sources, _units_of_work() as uow:
        if data is not None and len(sources) != 1:
            raise click.ClickException("FILE is read by the one statement source installed; installed: "
                                       + ", ".join(s.name for s in sources))
        for source in sources:
            for statement_kind in kinds:
                try:
                    # Inside the try: a source may ask the rail for the statement as soon as lines are asked for.
                    lines = source.read_file(data, statement_kind) if data is not None \
                        else source.lines(the_day, statement_kind)
                    with click.progressbar(lines, label=f"reading {statement_kind.value.lower()} lines",
                                           show_pos=True) as bar:
                        report = reconcile_day(uow, source, the_day, statement_kind, options, lines=bar)
                except StatementNotReady as exc:
                    quiet = None
                    if data is None and bill_overdue(the_day, options, datetime.now(UTC)):
                        quiet = quiet_day(uow, source, the_day, statement_kind, options)
                    if quiet is None:
                        click.echo(f"the {statement_kind.value} statement of {the_day.isoformat()} from "
                                   f"{source.name} is not ready: {exc}", err=True)
                        raise SystemExit(EXIT_NOT_READY) from None
                    click.echo(f"{the_day.isoformat()} {statement_kind.value} statement of {source.name}: nothing "
                               f"moved that day and {source.name} has no bill for it; recorded reconciled, 0 lines")
                    continue
                except ValueError as exc:
                    raise click.ClickException(f"the {statement_kind.value} statement cannot be read: {exc}") from None
                _report_table(report)
                clean = clean and report.clean
    if not clean:
        raise SystemExit(EXIT_DIFFERENCES)
