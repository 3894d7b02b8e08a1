"""The settlement run's configured rules against the Alipay sandbox in certificate mode, on SQLite and
PostgreSQL (issue 18 items 3 and 4): working days past the holiday library's data are refused, flagged, and
accepted from an operator's holiday file; a T+0 merchant whose deposit pays a negative balance drops to T+15
from the next settlement day (plan change, audit row, event, in the ledger entry's transaction); a balance
negative for `negative_days` is flagged; payout.paid and payout.failed go through the outbox; a quota or
balance refusal told to the sandbox carries the payout over to the next run, flagged, not counted."""
# ruff: noqa: F811  (the fixtures of tests/e2e/test_settlement_run.py, imported, are the tests' arguments)

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

import click
import pytest
from alembic import command
from click.testing import CliRunner
from google.protobuf import json_format
from sqlalchemy import Engine, inspect, select

from cashier.v1 import settlement_service_pb2 as spb
from channels.contract import PayoutRail
from gateway.api.webhook_bodies import ProtobufWebhookBodies
from gateway.cli import CashierGroup, Context
from gateway.config import SettlementSettings
from gateway.domain.events import Event
from gateway.storage import migrate
from gateway.storage.tables import (
    app_merchants,
    apps,
    audit_events,
    events,
    flags,
    merchants,
    negative_balances,
    payouts,
    settlement_plans,
)
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.cli import settle as settle_group
from settlement.domain import accounts, ledger
from settlement.domain.payouts import PayoutRules
from settlement.service.run import RunReport, run
from tests.e2e.alipay_world import World, unique
from tests.e2e.test_settlement_run import (  # noqa: F401  (fixtures)
    NOW,
    add_merchant,
    alipay_table,
    assert_balanced,
    balances,
    config_file,
    engine,
    pay,
    rail,
    settle,
    states,
    transferred,
    uow,
    world,
)


def add_app(engine: Engine, merchant_id: str) -> str:
    """An app the merchant has authorised: the one the merchant's events are written for."""
    app_id = unique("app")[:40]
    with engine.begin() as conn:
        conn.execute(apps.insert().values(app_id=app_id, display_name=app_id, disabled=False, created_at=NOW))
        conn.execute(app_merchants.insert().values(merchant_id=merchant_id, app_id=app_id, created_at=NOW))
    return app_id


def events_of(engine: Engine, merchant_id: str) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.type, events.c.app_id, events.c.payload).where(
            events.c.merchant_id == merchant_id).order_by(events.c.sequence)).all()
    return [(r.type, r.app_id, r.payload["data"]) for r in rows]


def flags_of(engine: Engine, merchant_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.kind, r.payment_id) for r in conn.execute(select(flags.c.kind, flags.c.payment_id).where(
            flags.c.merchant_id == merchant_id).order_by(flags.c.kind))]


def refund_after_payout(uow: SqlUnitOfWorkFactory, merchant_id: str, amount: int, day: date, *,
                        released: bool = False) -> None:
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_refund(merchant_id, unique("ref"), amount, 0, released=released),
                         settlement_day=day, at=NOW)
        tx.commit()


def test_working_days_past_the_library_are_refused_flagged_then_taken_from_the_holiday_file(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine, tmp_path: Path) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 7_000, 0, date(2026, 12, 31))
    working = SettlementSettings(days="working")
    report = run(uow, rail, date(2027, 1, 4), working.payout_rules, now=lambda: NOW, calendar=working.calendar())
    assert "working days of 2027 are unknown" in report.release_skipped
    assert report.released_entries == 0 and shop not in states(report)
    assert balances(uow, shop)["pending"] == 7_000
    assert flags_of(engine, "") == [("HOLIDAYS_UNKNOWN", "holidays_2027")]
    # The operator supplies 2027's holidays: the next run releases and pays, the library's 2026 still used.
    holidays = tmp_path / "holidays-2027.txt"
    holidays.write_text("# State Council notice\nyear 2027\n2027-01-01 holiday\n")
    with_file = SettlementSettings(days="working", holiday_file=str(holidays))
    report = run(uow, rail, date(2027, 1, 4), with_file.payout_rules, now=lambda: NOW,
                 calendar=with_file.calendar())
    assert report.release_skipped == "" and states(report) == {shop: "PAID"}
    assert [fen for _, fen, _ in transferred(world, engine, shop)] == [7_000]
    assert_balanced(engine)


def test_a_deposit_that_pays_a_negative_balance_drops_t0_to_t15_with_an_event_and_an_audit_row(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    app_id = add_app(engine, shop)
    with uow(write=True) as tx:
        tx.ledger.append([ledger.deposit_recorded(shop, "dep_1", 2_000_000)], settlement_day=date(2026, 11, 1),
                         at=NOW)
        tx.commit()
    pay(uow, shop, 10_000, 0, date(2026, 11, 29))
    assert states(settle(uow, rail, date(2026, 11, 29))) == {shop: "PAID"}
    refund_after_payout(uow, shop, 10_000, date(2026, 11, 30))
    pay(uow, shop, 4_000, 0, date(2026, 11, 30))
    assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "NOTHING_DUE"}
    with uow() as tx:
        raw = tx.ledger.balances(shop)
    assert accounts.deposit(shop).balance(raw[accounts.deposit(shop)]) == 2_000_000 - 6_000
    with engine.connect() as conn:
        # NOW is 1 December, 11:00 China time: T+15 from the next settlement day, the 2nd; never before.
        plans = conn.execute(select(settlement_plans.c.effective_on, settlement_plans.c.plan).where(
            settlement_plans.c.merchant_id == shop).order_by(settlement_plans.c.effective_on)).all()
        assert [tuple(p) for p in plans] == [(date(2026, 1, 1), "T0"), (date(2026, 12, 2), "T15")]
        assert conn.execute(select(merchants.c.settlement_plan).where(
            merchants.c.merchant_id == shop)).scalar_one() == "T15"
        audit = conn.execute(select(audit_events).where(audit_events.c.merchant_id == shop)).one()
    assert (audit.actor_kind, audit.action) == ("SYSTEM", "merchant.settlement_plan_dropped")
    assert audit.before["plan"] == "T0" and audit.after == {
        "plan": "T15", "effective_on": "2026-12-02", "deposit_held": 1_994_000, "deposit_applied": 6_000,
        "deposit_required": 2_000_000}
    changed = [(a, d) for t, a, d in events_of(engine, shop) if t == "merchant.settlement_plan_changed"]
    assert changed == [(app_id, {"settlement_schedule": {
        "name": f"merchants/{shop}/settlementSchedule", "plan": "T15", "previous_plan": "T0",
        "effective_on": "2026-12-02", "reason": "DEPOSIT_APPLIED", "deposit_applied": 6_000,
        "deposit_held": 1_994_000}})]
    # A refund after that run takes more of the deposit the same day: T+15 is scheduled already, once.
    refund_after_payout(uow, shop, 1_000, date(2026, 11, 30), released=True)
    assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "NOTHING_DUE"}
    with engine.connect() as conn:
        assert len(conn.execute(select(audit_events).where(audit_events.c.merchant_id == shop)).all()) == 1
    assert [t for t, _, _ in events_of(engine, shop)].count("merchant.settlement_plan_changed") == 1
    # Money of the 1st is still T+0 (released on the 1st); money of the 2nd waits fifteen days.
    pay(uow, shop, 3_000, 0, date(2026, 12, 1))
    pay(uow, shop, 5_000, 0, date(2026, 12, 2))
    settle(uow, rail, date(2026, 12, 2))
    assert balances(uow, shop)["pending"] == 5_000
    assert_balanced(engine)


def test_a_balance_negative_for_negative_days_is_flagged_and_forgotten_once_paid_back(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shop = add_merchant(world, engine)  # T+15, no deposit
    refund_after_payout(uow, shop, 5_000, date(2026, 12, 1), released=True)  # its payment's money was paid
    rules = PayoutRules(negative_days=7)

    def settle_on(day: date) -> RunReport:
        return run(uow, rail, day, rules, now=lambda: NOW)

    assert states(settle_on(date(2026, 12, 1))) == {shop: "NEGATIVE"}
    assert states(settle_on(date(2026, 12, 7))) == {shop: "NEGATIVE"}
    assert flags_of(engine, shop) == []
    settle_on(date(2026, 12, 8))
    settle_on(date(2026, 12, 8))  # the same run again: the same flag, seen twice
    assert flags_of(engine, shop) == [("NEGATIVE_BALANCE", "neg_2026-12-01")]
    with engine.connect() as conn:
        assert conn.execute(select(flags.c.occurrences).where(flags.c.merchant_id == shop)).scalar_one() == 2
        assert conn.execute(select(negative_balances.c.since).where(
            negative_balances.c.merchant_id == shop)).scalar_one() == date(2026, 12, 1)
    pay(uow, shop, 5_000, 0, date(2026, 11, 24))  # released on the 9th: exactly nets the refund
    assert states(settle_on(date(2026, 12, 9))) == {shop: "NOTHING_DUE"}
    with engine.connect() as conn:
        assert conn.execute(select(negative_balances).where(negative_balances.c.merchant_id == shop)).all() == []
    assert_balanced(engine)


@pytest.mark.parametrize("sub_code", ["EXCEED_LIMIT_DM_AMOUNT", "PAYER_BALANCE_NOT_ENOUGH"])
def test_a_refusal_for_the_platforms_limits_is_carried_over_flagged_and_not_counted(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine, sub_code: str) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    app_id = add_app(engine, shop)
    pay(uow, shop, 6_000, 0, date(2026, 11, 30))
    world.admin.post("/sandbox/faults", json={"transfer_refusal": {"sub_code": sub_code, "count": 1}})
    try:
        assert states(settle(uow, rail, date(2026, 11, 30))) == {shop: "FAILED"}
    finally:
        world.admin.delete("/sandbox/faults")
    assert balances(uow, shop) == {"pending": 0, "available": 6_000, "payouts_in_transit": 0}
    assert transferred(world, engine, shop) == []  # Alipay recorded nothing
    assert flags_of(engine, shop) == [("PAYOUT_REFUSED", _payout_ids(engine, shop)[0])]
    assert states(settle(uow, rail, date(2026, 12, 1))) == {shop: "PAID"}
    with engine.connect() as conn:
        assert conn.execute(select(payouts.c.state, payouts.c.failures).where(payouts.c.merchant_id == shop)
                            .order_by(payouts.c.run_date)).all() == [("FAILED", 0), ("PAID", 0)]
    assert [(fen, status) for _, fen, status in transferred(world, engine, shop)] == [(6_000, "SUCCESS")]
    outcomes = [(t, a, d["payout"]["state"], d["payout"]["retried"], d["payout"]["amount"])
                for t, a, d in events_of(engine, shop)]
    assert outcomes == [("payout.failed", app_id, "FAILED", True, 6_000), ("payout.paid", app_id, "PAID", False, 6_000)]
    assert_balanced(engine)


def _payout_ids(engine: Engine, merchant_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(payouts.c.payout_id).where(payouts.c.merchant_id == merchant_id)
                                 .order_by(payouts.c.run_date)).scalars())


def test_payout_events_carry_the_payout_as_getpayout_answers_it(world: World, rail: PayoutRail,
                                                                 uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    app_id = add_app(engine, shop)
    pay(uow, shop, 9_000, 90, date(2026, 11, 30))
    settle(uow, rail, date(2026, 11, 30))
    [(kind, app, data)] = events_of(engine, shop)
    assert (kind, app) == ("payout.paid", app_id)
    [payout_id] = _payout_ids(engine, shop)
    assert data["payout"]["name"] == f"merchants/{shop}/payouts/{payout_id}"
    assert data["payout"]["paid_amount"] == 8_910 and data["payout"]["currency"] == "CNY"
    event = Event.create(type=kind, merchant_id=shop, app_id=app, data=data, now=NOW)
    version, body = ProtobufWebhookBodies().render(event)
    # The webhook's data is the cashier.v1.Payout GetPayout answers, in protobuf's JSON mapping.
    sent = json_format.ParseDict(body["payout"], spb.Payout())
    assert version == "v1" and body["payout"]["amount"] == "8910" and body["payout"]["state"] == "PAYOUT_STATE_PAID"
    assert (sent.name, sent.run_date, sent.amount, sent.currency_code, sent.part_count, sent.failures) == (
        f"merchants/{shop}/payouts/{payout_id}", "2026-11-30", 8_910, "CNY", 1, 0)


def test_migration_0016_goes_down_and_up(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0015")
    assert "negative_balances" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert "negative_balances" in inspect(engine).get_table_names()
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_the_sandbox_refuses_a_transfer_refusal_it_does_not_know(world: World) -> None:
    for doc in ({"sub_code": "EXCEED_LIMIT_YEARLY"}, {"sub_code": "PAYER_BALANCE_NOT_ENOUGH", "method": "x"},
                {"sub_code": "EXCEED_LIMIT_SM_AMOUNT", "count": -2}):
        answer = world.admin.post("/sandbox/faults", json={"transfer_refusal": doc})
        assert answer.status_code == 400 and "transfer_refusal" in answer.text
    assert world.admin.get("/sandbox/faults").json()["transfer_refusal"] == []


def test_four_runs_at_once_drop_a_plan_once_and_keep_one_negative_date(
        world: World, rail: PayoutRail, uow: SqlUnitOfWorkFactory, engine: Engine) -> None:
    dropping = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    add_app(engine, dropping)
    negative = add_merchant(world, engine)
    with uow(write=True) as tx:
        tx.ledger.append([ledger.deposit_recorded(dropping, "dep_1", 2_000_000)], settlement_day=date(2026, 11, 1),
                         at=NOW)
        tx.commit()
    refund_after_payout(uow, dropping, 3_000, date(2026, 11, 30), released=True)
    refund_after_payout(uow, negative, 2_000, date(2026, 11, 30), released=True)
    barrier = threading.Barrier(4)
    reports: list[RunReport] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        barrier.wait()
        try:
            reports.append(settle(uow, rail, date(2026, 11, 30)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and all("ERROR" not in states(r).values() for r in reports)
    with uow() as tx:
        raw = tx.ledger.balances(dropping)
    assert accounts.deposit(dropping).balance(raw[accounts.deposit(dropping)]) == 2_000_000 - 3_000
    with engine.connect() as conn:
        assert len(conn.execute(select(audit_events).where(audit_events.c.merchant_id == dropping)).all()) == 1
        assert conn.execute(select(negative_balances.c.merchant_id, negative_balances.c.since).where(
            negative_balances.c.merchant_id.in_((dropping, negative)))).all() == [(negative, date(2026, 11, 30))]
    assert [t for t, _, _ in events_of(engine, dropping)] == ["merchant.settlement_plan_changed"]
    assert_balanced(engine)


def test_cashier_settle_run_takes_its_rules_from_the_settlement_section(
        world: World, uow: SqlUnitOfWorkFactory, engine: Engine, database_url: str, tmp_path: Path,
        alipay_table: dict[str, Any]) -> None:
    """`[settlement] max_transfer` and `days` as an operator writes them: a payout above the limit goes in
    parts, and working days hold back money taken on a weekend (Saturday 21 November 2026 → Monday 23rd)."""
    config = config_file(tmp_path, alipay_table)
    config.write_text(config.read_text() + '\n[settlement]\ndays = "working"\nmax_transfer = 5000\n')
    shop = add_merchant(world, engine, (date(2026, 1, 1), "T0"))
    pay(uow, shop, 12_000, 0, date(2026, 11, 20))
    pay(uow, shop, 1_000, 0, date(2026, 11, 21))

    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(str(config))

    cashier = CashierGroup("cashier", callback=root)
    cashier.add_command(settle_group, "settle")
    result = CliRunner().invoke(cashier, ["settle", "run", "--date", "2026-11-22"],
                                env={"CASHIER_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert any(line.startswith(shop) and line.split()[2:] == ["120.00", "3", "PAID"]
               for line in result.output.splitlines()), result.output
    assert sorted(fen for _, fen, _ in transferred(world, engine, shop)) == [4_000, 4_000, 4_000]
    assert balances(uow, shop)["pending"] == 1_000  # Saturday's money: available on Monday the 23rd
