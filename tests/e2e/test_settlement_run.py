"""The settlement run against the Alipay sandbox in certificate mode (the payout rail found through its plugin,
as the gateway finds it), on SQLite and PostgreSQL: T+0 and T+15 merchants paid on their dates across a month
boundary and a plan change; a second run, and four runs at once, pay each merchant once (checked against the
sandbox's own record of transfers); a refused transfer gives exactly its amount back to available; an
UNKNOWN answer is settled by the rail's query, never guessed; a payout below the minimum waits; every entry
sums to zero."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

import channels.alipay_payouts
from channels.alipay_payouts.rail import AlipayPayoutRail
from channels.contract import PayoutRail, TransferOutcome, TransferPurpose, TransferRequest
from gateway.cli import CashierGroup, Context
from gateway.plugins import collect_payout_rails, make_plugin_manager
from gateway.storage.tables import applications, flags, merchants, payout_parts, payouts, settlement_plans
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.cli import settle as settle_group
from settlement.domain import accounts, ledger
from settlement.domain.payouts import PayoutRules
from settlement.service.run import RunReport, open_payout, release_due, run
from tests.e2e.alipay_world import World, start_world, unique
from tests.e2e.test_alipay_payouts_sandbox import app_table
from tests.settlement.storage_support import migrated_engine
from tests.support import ROOT

APP_ID = "2021000000000418"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
RULES = PayoutRules()
TRANSFER = "alipay.fund.trans.uni.transfer"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = start_world(time_scale=0.0005)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def alipay_table(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`[channels.alipay]` of the platform's one Alipay app, in certificate mode. Every run of a test uses this
    app: Alipay de-duplicates out_biz_no per app, so a run resumed under another app would pay again."""
    return app_table(world, tmp_path_factory.mktemp("settle"), APP_ID, certificate_mode=True)


def config_file(folder: Path, table: dict[str, Any]) -> Path:
    config = folder / "cashier.toml"
    config.write_text("[channels.alipay]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items()))
    return config


@pytest.fixture(scope="module")
def rail(alipay_table: dict[str, Any]) -> Iterator[PayoutRail]:
    # A short read timeout, so that the sandbox's delayed answer is an UNKNOWN within the test.
    rails = collect_payout_rails(make_plugin_manager(load_entrypoints=False, plugins=[channels.alipay_payouts]),
                                 {"alipay": {**alipay_table, "read_timeout": 1.0}})
    yield rails[0]
    rails[0].close()  # type: ignore[attr-defined]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url) as engine:
        yield engine


@pytest.fixture
def uow(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


def add_merchant(world: World, engine: Engine, *plans: tuple[date, str], holder: str = "") -> str:
    """A merchant with an approved application whose payout account is verified, and an Alipay account."""
    merchant_id = unique("shop").replace("_", "-")[:40]
    logon_id, name = f"{merchant_id}@example.com", f"{merchant_id} Co., Ltd."
    world.admin.post("/sandbox/accounts", json={"logon_id": logon_id, "name": name}).raise_for_status()
    with engine.begin() as conn:
        conn.execute(merchants.insert().values(
            merchant_id=merchant_id, display_name=merchant_id, state="ACTIVE", settlement_account_verified=True,
            business_category="retail", settlement_plan="T15", created_at=NOW))
        conn.execute(applications.insert().values(
            application_id=f"app_{merchant_id}"[:30], merchant_id=merchant_id, applicant_account_id="acct",
            kind="ENTERPRISE", state="APPROVED", account_state="VERIFIED", revision=1, display_name=merchant_id,
            contact_name="Lin", contact_phone="13800000000", contact_email="lin@example.com", legal_name=name,
            credit_code="91350100M000100Y43", registered_address="Fuzhou", business_scope="tea",
            business_category="retail", payout_logon_id=logon_id, holder_name=holder or name,
            decision_reason="", decided_by="op", decided_at=NOW, account_verified_at=NOW, created_at=NOW,
            updated_at=NOW))
        for effective_on, plan in plans:
            conn.execute(settlement_plans.insert().values(merchant_id=merchant_id, effective_on=effective_on,
                                                          plan=plan, set_at=NOW))
    return merchant_id


def pay(uow: SqlUnitOfWorkFactory, merchant_id: str, amount: int, fee: int, day: date) -> None:
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(merchant_id, unique("pay"), amount, fee), settlement_day=day, at=NOW)
        tx.commit()


def settle(uow: SqlUnitOfWorkFactory, rail: PayoutRail, run_date: date) -> RunReport:
    return run(uow, rail, run_date, RULES, now=lambda: NOW)


def balances(uow: SqlUnitOfWorkFactory, merchant_id: str) -> dict[str, int]:
    with uow() as tx:
        raw = tx.ledger.balances(merchant_id)
    return {a.kind.value: a.balance(raw.get(a, 0)) for a in (
        accounts.pending(merchant_id), accounts.available(merchant_id), accounts.in_transit(merchant_id))}


def transferred(world: World, engine: Engine, merchant_id: str) -> list[tuple[str, int, str]]:
    """The sandbox's record of the merchant's transfers: (out_biz_no, fen, status)."""
    with engine.connect() as conn:
        ours = set(conn.execute(select(payout_parts.c.out_biz_no).select_from(
            payout_parts.join(payouts, payouts.c.payout_id == payout_parts.c.payout_id)).where(
            payouts.c.merchant_id == merchant_id)).scalars())
    return sorted((t["out_biz_no"], int(Decimal(t["trans_amount"]) * 100), t["status"])
                  for t in world.admin.get("/sandbox/transfers").json()["transfers"] if t["out_biz_no"] in ours)


def paid(world: World, engine: Engine, merchant_id: str) -> int:
    return sum(fen for _, fen, status in transferred(world, engine, merchant_id) if status == "SUCCESS")


def assert_balanced(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0")).all() == []
        assert conn.execute(text("SELECT COALESCE(SUM(amount), 0) FROM ledger_postings")).scalar_one() == 0


def states(report: RunReport) -> dict[str, str]:
    return {m.merchant_id: m.state for m in report.merchants}


def test_t0_and_t15_merchants_are_paid_on_their_dates(world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory,
                                                      engine: Engine) -> None:
    fast = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    slow = add_merchant(world, engine)
    switch = add_merchant(world, engine, (date(2026, 11, 20), "T0"))  # T+15 before 20 November
    pay(uow, fast, 10_000, 60, date(2026, 11, 30))
    pay(uow, slow, 20_000, 120, date(2026, 11, 16))
    pay(uow, switch, 3_000, 18, date(2026, 11, 19))
    pay(uow, switch, 4_000, 24, date(2026, 11, 20))

    first = settle(uow, rail, date(2026, 11, 30))
    assert states(first) == {fast: "PAID", switch: "PAID"}
    assert paid(world, engine, fast) == 9_940 and paid(world, engine, switch) == 3_976
    assert balances(uow, fast) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    assert paid(world, engine, slow) == 0

    second = settle(uow, rail, date(2026, 12, 1))  # 16 November + 15 days, across the month's end
    assert states(second) == {slow: "PAID"}
    assert paid(world, engine, slow) == 19_880
    assert balances(uow, switch) == {"pending": 2_982, "available": 0, "payouts_in_transit": 0}
    settle(uow, rail, date(2026, 12, 4))
    assert paid(world, engine, switch) == 3_976 + 2_982
    assert_balanced(engine)


def test_a_second_run_and_four_at_once_pay_each_merchant_once(world: World, rail: PayoutRail,
                                                              uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shops = [add_merchant(world, engine, (date(2026, 1, 1), "T0")) for _ in range(5)]
    for n, shop in enumerate(shops):
        pay(uow, shop, 1_000 + n, 0, date(2026, 11, 30))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def one_run() -> None:
        barrier.wait()
        try:
            settle(uow, rail, date(2026, 11, 30))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    again = settle(uow, rail, date(2026, 11, 30))
    assert all(m.state == "PAID" for m in again.merchants)
    settle(uow, rail, date(2026, 12, 1))  # the next day: nothing new is due, nothing is paid
    for n, shop in enumerate(shops):
        assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(1_000 + n, "SUCCESS")]
        assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    with engine.connect() as conn:
        assert conn.execute(select(payouts.c.state)).scalars().all() == ["PAID"] * 5
    assert_balanced(engine)


def test_a_refused_transfer_returns_exactly_its_amount(world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory,
                                                       engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"), holder="Someone Else")  # name mismatch
    pay(uow, shop, 5_000, 30, date(2026, 11, 30))
    report = settle(uow, rail, date(2026, 11, 30))
    assert states(report) == {shop: "FAILED"}
    assert [status for _, _, status in transferred(world, engine, shop)] == ["FAIL"]
    assert balances(uow, shop) == {"pending": 0, "available": 4_970, "payouts_in_transit": 0}
    with engine.connect() as conn:
        row = conn.execute(select(payouts.c.failures, payouts.c.amount).where(payouts.c.merchant_id == shop)).one()
    assert (row.failures, row.amount) == (1, 4_970)
    # Retried by the next runs, parked after the third failed run.
    settle(uow, rail, date(2026, 12, 1))
    third = settle(uow, rail, date(2026, 12, 2))
    assert states(third) == {shop: "PARKED"}
    assert states(settle(uow, rail, date(2026, 12, 3))) == {shop: "PARKED"}
    assert len(transferred(world, engine, shop)) == 3
    assert balances(uow, shop)["available"] == 4_970
    with engine.connect() as conn:  # an operator is told, once
        assert conn.execute(select(flags.c.kind, flags.c.channel).where(flags.c.merchant_id == shop)).all() == [
            ("PAYOUT_PARKED", "alipay")]
    assert_balanced(engine)


def test_an_unknown_answer_is_settled_by_the_query(world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory,
                                                   engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 8_000, 48, date(2026, 11, 30))
    # Alipay pays, but its answer comes after the rail stopped waiting.
    world.admin.post("/sandbox/faults", json={"timeout": {"method": TRANSFER, "count": 1, "seconds": 2}})
    try:
        report = settle(uow, rail, date(2026, 11, 30))
    finally:
        world.admin.delete("/sandbox/faults")
    assert states(report) == {shop: "UNKNOWN"}
    assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 7_952}
    assert paid(world, engine, shop) == 7_952
    again = settle(uow, rail, date(2026, 11, 30))  # the same run again: asks, never sends a second time
    assert states(again) == {shop: "PAID"}
    assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(7_952, "SUCCESS")]
    assert_balanced(engine)


def test_an_unknown_payout_is_never_asked_about_or_sent_from_another_app(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    # Defect (session 6): a part whose answer was unknown was asked about through whatever app was configured at
    # the next run; Alipay de-duplicates out_biz_no per app, so a new app answers "no such transfer" and the
    # run sent the payout again: paid twice.
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 8_000, 48, date(2026, 11, 30))
    world.admin.post("/sandbox/faults", json={"timeout": {"method": TRANSFER, "count": 1, "seconds": 2}})
    try:
        assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "UNKNOWN"}
    finally:
        world.admin.delete("/sandbox/faults")
    with engine.connect() as conn:
        sent_from = conn.execute(select(payouts.c.rail_account).where(payouts.c.merchant_id == shop)).scalar_one()
    assert sent_from == f"alipay:{rail.account}" and rail.account  # type: ignore[attr-defined]

    other_app = AlipayPayoutRail(rail.client, account="2021009999999999")  # type: ignore[attr-defined]
    assert states(settle(uow, other_app, date(2026, 11, 30))) == {shop: "UNKNOWN"}
    assert len(transferred(world, engine, shop)) == 1  # neither asked nor sent from the other app
    with engine.connect() as conn:
        flagged = conn.execute(select(flags.c.detail).where(flags.c.kind == "PAYOUT_RAIL_CHANGED",
                                                            flags.c.merchant_id == shop)).scalars().all()
    assert len(flagged) == 1 and sent_from in flagged[0]

    assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "PAID"}  # the sending app settles it
    assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(7_952, "SUCCESS")]
    assert_balanced(engine)


def test_below_the_minimum_waits_for_the_next_run(world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory,
                                                  engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 9, 0, date(2026, 11, 30))
    assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "BELOW_MINIMUM"}
    assert transferred(world, engine, shop) == []
    pay(uow, shop, 5, 0, date(2026, 12, 1))
    assert states(settle(uow, rail, date(2026, 12, 1))) == {shop: "PAID"}
    assert paid(world, engine, shop) == 14
    assert_balanced(engine)



def test_cashier_settle_run_shows_progress_and_a_summary(world: World, uow: SqlUnitOfWorkFactory, engine: Engine,
                                                         database_url: str, tmp_path: Path,
                                                         alipay_table: dict[str, Any]) -> None:
    """`cashier settle run` as an operator runs it: the payout rail from the configuration ([channels.alipay]
    in certificate mode), the database from the environment."""
    config = config_file(tmp_path, alipay_table)
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    small = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 12_345, 74, date(2026, 11, 20))
    pay(uow, small, 9, 0, date(2026, 11, 20))

    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(str(config))

    cashier = CashierGroup("cashier", callback=root)
    cashier.add_command(settle_group, "settle")
    env = {"CASHIER_DATABASE_URL": database_url}
    result = CliRunner().invoke(cashier, ["settle", "run", "--date", "2026-11-20"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("paying merchants") for line in lines)
    assert any(line.startswith(shop) and line.split()[2:] == ["122.71", "1", "PAID"] for line in lines), lines
    assert any(line.startswith(small) and line.split()[-1] == "BELOW_MINIMUM" for line in lines), lines
    assert "paid 122.71 CNY" in lines[-1]
    assert paid(world, engine, shop) == 12_271
    refused = CliRunner().invoke(cashier, ["settle", "run", "--date", "2999-01-01"], env=env)
    assert refused.exit_code != 0 and "--date: 2999-01-01 is not over yet" in refused.output


@pytest.mark.parametrize("sent", [False, True], ids=["killed-before-sending", "killed-after-sending"])
def test_a_run_killed_halfway_is_resumed_and_pays_once(world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory,
                                                       engine: Engine, sent: bool) -> None:
    """The two places a run can die with money in flight: after its payout's transaction committed (parts
    SENT, the money in transit) and before the transfer left, or after Alipay paid and before the answer was
    recorded. The run again asks Alipay first, sends only what Alipay never saw, and books each outcome once."""
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 6_000, 36, date(2026, 11, 30))
    release_due(uow, date(2026, 11, 30), now=lambda: NOW)
    payout, why = open_payout(uow, shop, date(2026, 11, 30), RULES, lambda: NOW)  # step a, then the kill
    assert payout is not None and why == "CREATED"
    if sent:
        (part,) = payout_parts_of(engine, payout.payout_id)
        assert rail.transfer(TransferRequest(part, payout.amount, payout.payee_logon_id, payout.payee_name,
                                             TransferPurpose.PAYOUT)).outcome is TransferOutcome.SUCCEEDED
    assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 5_964}
    report = settle(uow, rail, date(2026, 11, 30))
    assert states(report) == {shop: "PAID"}
    assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(5_964, "SUCCESS")]
    assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    settle(uow, rail, date(2026, 11, 30))
    assert len(transferred(world, engine, shop)) == 1
    assert_balanced(engine)


def payout_parts_of(engine: Engine, payout_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(payout_parts.c.out_biz_no).where(payout_parts.c.payout_id == payout_id)
                                 .order_by(payout_parts.c.part)).scalars())


def test_a_negative_balance_is_netted_then_taken_from_the_deposit(world: World, rail: PayoutRail,
                                                                  uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    with uow(write=True) as tx:
        tx.ledger.append([ledger.deposit_recorded(shop, "dep_1", 2_000_000)], settlement_day=date(2026, 11, 1),
                         at=NOW)
        tx.commit()
    pay(uow, shop, 10_000, 0, date(2026, 11, 29))
    assert states(settle(uow, rail, date(2026, 11, 29))) == {shop: "PAID"}
    with uow(write=True) as tx:  # refunded after its money was paid out
        tx.ledger.append(ledger.book_refund(shop, unique("ref"), 10_000, 0, released=False),
                         settlement_day=date(2026, 11, 30), at=NOW)
        tx.commit()
    pay(uow, shop, 4_000, 0, date(2026, 11, 30))  # nets part of it: nothing is paid
    assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "NOTHING_DUE"}
    assert balances(uow, shop)["available"] == 0
    with uow() as tx:
        raw = tx.ledger.balances(shop)
    assert accounts.deposit(shop).balance(raw[accounts.deposit(shop)]) == 2_000_000 - 6_000
    assert paid(world, engine, shop) == 10_000
    assert_balanced(engine)


def test_cashier_settle_run_killed_with_sigkill_pays_each_merchant_once(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine, database_url: str,
        tmp_path: Path, alipay_table: dict[str, Any]) -> None:
    """A real `cashier settle run` process, SIGKILLed while Alipay holds back the answer to a transfer it has
    made; the run again pays every merchant exactly once, by the sandbox's own record."""
    config = config_file(tmp_path, {**alipay_table, "read_timeout": 30.0})
    shops = [add_merchant(world, engine, (date(2026, 1, 1), "T0")) for _ in range(3)]
    for n, shop in enumerate(shops):
        pay(uow, shop, 2_000 + n, 0, date(2026, 11, 20))
    world.admin.post("/sandbox/faults", json={"timeout": {"method": TRANSFER, "count": 1, "seconds": 20}})
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "cashier"), "--config", str(config), "settle", "run", "--date", "2026-11-20"],
        env={**os.environ, "CASHIER_DATABASE_URL": database_url}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not any(transferred(world, engine, shop) for shop in shops):  # Alipay paid; the answer is held
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the run never reached its first transfer"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
        world.admin.delete("/sandbox/faults")
    assert process.returncode == -signal.SIGKILL
    report = settle(uow, rail, date(2026, 11, 20))
    # The killed run paid its merchants several at once ([settlement] payout_concurrency): those whose answers
    # it booked are done; the one whose answer was held, and any it had not reached, are this run's.
    assert set(states(report).values()) == {"PAID"} and set(states(report)) <= set(shops)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(payouts.c.merchant_id, payouts.c.state)).all()) == sorted(
            (shop, "PAID") for shop in shops)
    for n, shop in enumerate(shops):
        assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(2_000 + n, "SUCCESS")]
        assert balances(uow, shop) == {"pending": 0, "available": 0, "payouts_in_transit": 0}
    assert_balanced(engine)
