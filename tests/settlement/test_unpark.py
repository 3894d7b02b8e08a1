"""`cashier settle unpark`, over a real database (SQLite and PostgreSQL) and the Alipay sandbox in certificate
mode: a merchant whose transfers the sandbox refuses is parked after three failed runs; once its payout account
is put right, `unpark` re-arms it (an audit row names the operator) and the next run pays it; a merchant not
parked is refused by name, changing nothing."""

from __future__ import annotations

from datetime import date

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select, update

from gateway.cli import CashierGroup, Context
from gateway.storage.tables import applications, audit_events, flags, payouts
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.cli import settle as settle_group
from tests.e2e import test_settlement_run as e2e
from tests.e2e.alipay_world import World
from tests.e2e.test_settlement_run import add_merchant, balances, pay, settle, states, transferred

# The sandbox world, its Alipay app and the payout rail: the settlement run's end-to-end fixtures.
world, alipay_table, rail = e2e.world, e2e.alipay_table, e2e.rail


@pytest.fixture
def cashier() -> click.Group:
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(None)

    group = CashierGroup("cashier", callback=root)
    group.add_command(settle_group, "settle")
    return group


def unpark(cashier: click.Group, database_url: str, merchant_id: str) -> Result:
    return CliRunner().invoke(cashier, ["settle", "unpark", "--merchant", merchant_id],
                              env={"CASHIER_DATABASE_URL": database_url, "CASHIER_OPERATOR": "op.lin"})


def parked_flags(engine: Engine, merchant_id: str) -> list[str | None]:
    """The resolution of each PAYOUT_PARKED flag of the merchant (None while open)."""
    with engine.connect() as conn:
        rows = conn.execute(select(flags.c.resolution, flags.c.resolved_at).where(
            flags.c.merchant_id == merchant_id, flags.c.kind == "PAYOUT_PARKED")).all()
    return [None if row.resolved_at is None else row.resolution for row in rows]


def test_a_parked_merchant_is_unparked_and_paid_by_the_next_run(
        world: World, rail: object, uow: SqlUnitOfWorkFactory, engine: Engine, cashier: click.Group,
        database_url: str) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"), holder="Someone Else")  # the sandbox refuses
    pay(uow, shop, 5_000, 30, date(2026, 11, 30))
    for day in (30, 1, 2):
        report = settle(uow, rail, date(2026, 11, 30) if day == 30 else date(2026, 12, day))
    assert states(report) == {shop: "PARKED"}
    assert parked_flags(engine, shop) == [None]
    not_yet = unpark(cashier, database_url, "shop-unknown")
    assert not_yet.exit_code == 1 and "no merchant shop-unknown" in not_yet.output
    with engine.begin() as conn:  # the operator puts the payout account's holder right
        conn.execute(update(applications).where(applications.c.merchant_id == shop)
                     .values(holder_name=f"{shop} Co., Ltd."))

    result = unpark(cashier, database_url, shop)
    assert result.exit_code == 0, result.output
    assert f"un-parked the payouts of {shop}" in result.output and "49.70 CNY, 3 failed runs" in result.output
    again = unpark(cashier, database_url, shop)
    assert again.exit_code == 1 and f"the payouts of {shop} are not parked" in again.output
    with engine.connect() as conn:
        audited = conn.execute(select(audit_events.c.action, audit_events.c.actor_id).where(
            audit_events.c.merchant_id == shop)).all()
        parked = conn.execute(select(payouts.c.state, payouts.c.failures).where(
            payouts.c.merchant_id == shop, payouts.c.run_date == date(2026, 12, 2))).one()
    assert audited == [("merchant.payouts_unparked", "op.lin")]
    assert tuple(parked) == ("FAILED", 0)
    # The operator's un-park is what the flag asked for: it leaves the list of open flags, saying who did it.
    assert parked_flags(engine, shop) == ["payouts un-parked by op.lin (cashier settle unpark)"]

    assert states(settle(uow, rail, date(2026, 12, 3))) == {shop: "PAID"}
    assert sorted(status for _, _, status in transferred(world, engine, shop)) == ["FAIL"] * 3 + ["SUCCESS"]
    assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}


def test_a_merchant_not_parked_is_refused_by_name(world: World, engine: Engine, cashier: click.Group,
                                                  database_url: str) -> None:
    shop = add_merchant(world, engine)
    result = unpark(cashier, database_url, shop)
    assert result.exit_code == 1
    assert f"the payouts of {shop} are not parked" in result.output
