"""`cashier settle backfill` and `cashier settle balances [--check]`, as `cashier` loads them: the command named
by pyproject's `cashier.commands` entry point, under the core's command group, over a real database."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from gateway.cli import COMMAND_ENTRY_POINTS, CashierGroup, Context
from tests.settlement.storage_support import add_deposit, add_payment, add_refund
from tests.support import ROOT


@pytest.fixture
def cashier() -> click.Group:
    """`cashier` with the settle command loaded from the entry point pyproject.toml declares (as
    gateway.cli._add_plugin_commands does once the project is installed)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][COMMAND_ENTRY_POINTS]
    assert declared["settle"] == "settlement.cli:settle"

    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(None)

    group = CashierGroup("cashier", callback=root)
    group.add_command(EntryPoint("settle", declared["settle"], COMMAND_ENTRY_POINTS).load(), "settle")
    return group


def run(cashier: click.Group, database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cashier, ["settle", *args], env={"CASHIER_DATABASE_URL": database_url})


def test_backfill_then_balances_check(cashier: click.Group, database_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, "shop-1", "pay_1", 1_000, state="PARTIALLY_REFUNDED", fee_bps=60)
        add_payment(conn, "shop-2", "pay_2", 2_500)
        add_refund(conn, "shop-1", "pay_1", "ref_1", 250)
        add_deposit(conn, "shop-1", "dep_1", 2_000_000)
    first = run(cashier, database_url, "backfill")
    assert first.exit_code == 0, first.output
    assert first.output == "booked 2 payments, 1 fees, 1 refunds, 1 fees returned, 1 deposits\n"
    again = run(cashier, database_url, "backfill")
    assert again.output == "booked 0 payments, 0 fees, 0 refunds, 0 fees returned, 0 deposits\n"
    cached = run(cashier, database_url, "balances")
    assert cached.exit_code == 0 and cached.output == "cached 6 balances\n", cached.output
    check = run(cashier, database_url, "balances", "--check")
    assert check.exit_code == 0, check.output
    assert "balances agree: 5 accounts" in check.output


def test_balances_check_fails_on_a_cache_that_disagrees(cashier: click.Group, database_url: str,
                                                        engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, "shop-1", "pay_1", 1_000)
    assert run(cashier, database_url, "backfill").exit_code == 0
    assert run(cashier, database_url, "balances").exit_code == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_balances SET balance = 5 WHERE account = 'merchant:shop-1:pending'"))
    check = run(cashier, database_url, "balances", "--check")
    assert check.exit_code == 1
    assert "merchant:shop-1:pending (shard shop-1): cached 5, postings -1000" in check.output
    assert "1 balances differ from their postings" in check.output


def test_a_bad_cutoff_is_refused_naming_the_setting(cashier: click.Group, database_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        add_payment(conn, "shop-1", "pay_1", 1_000)
    result = run(cashier, database_url, "backfill", "--cutoff", "25:00")
    assert result.exit_code == 1
    assert "settlement.cutoff" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM ledger_entries")).scalar_one() == 0
