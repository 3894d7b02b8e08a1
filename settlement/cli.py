"""`cashier settle`: settlement's commands, added to `cashier` through the `cashier.commands` entry point group
(pyproject.toml), so that gateway/cli.py names nothing of settlement.

- `cashier settle backfill`: book, once, the payments, refunds and held deposits made before settlement
  existed;
- `cashier settle balances`: recompute and cache every balance; with `--check`, recompute and compare with
  the cache, changing nothing, and exit 1 on any difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import click

from gateway.jobs import run_job
from settlement.domain.calendar import DEFAULT_CUTOFF, parse_cutoff
from settlement.domain.fees import RefundFeePolicy
from settlement.service import jobs, ledger
from settlement.service.ports import SettlementUnitOfWorkFactory

MAX_SHOWN = 20  # differences printed; the count says how many there are


class _Root(Protocol):
    """What `cashier` puts in the root context (gateway.cli.Context): the settings, read once."""

    def settings(self, **overrides: Any) -> Any: ...


@contextmanager
def _units_of_work() -> Iterator[SettlementUnitOfWorkFactory]:
    """The gateway's unit of work factory over the configured database, migrated first (as `cashier serve`
    would), disposed of afterwards."""
    from gateway.storage import migrate
    from gateway.storage.engine import make_engine
    from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory

    root: _Root = click.get_current_context().find_root().obj
    engine = make_engine(root.settings().database.url, pool_size=1)
    try:
        migrate.upgrade(engine)
        yield SqlUnitOfWorkFactory(engine, group_commit=False)
    finally:
        engine.dispose()


@click.group()
def settle() -> None:
    """Settlement: the ledger's backfill and balances."""


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
