"""SettlementService.Reconcile over the real wire and `cashier reconcile statement` (SQLite and PostgreSQL), with a
double for Alipay's statements registered as a plugin: an operator's call returns the report the CLI prints
(planted differences found, nothing else), apps are refused, a bad date names its field, a statement not
ready is FAILED_PRECONDITION with STATEMENT_NOT_READY; the CLI prints the table and exits 1 on differences,
0 when clean."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import EntryPoint
from typing import Any

import click
import grpc
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cashier.v1 import settlement_service_pb2 as spb
from cashier.v1 import settlement_service_pb2_grpc as spb_grpc
from channels.contract.hookspecs import hookimpl
from channels.contract.statements import LineKind, StatementKind, StatementLine, StatementNotReady
from gateway.cli import COMMAND_ENTRY_POINTS, CashierGroup, Context
from gateway.runtime import RunningGateway, start
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.service import ledger
from tests.settlement.storage_support import add_payment
from tests.support import ROOT, Tenant, error_details, make_settings, seed_tenant

DAY = date(2026, 10, 8)
MORNING = datetime(2026, 10, 8, 1, 0, tzinfo=UTC)
UNBILLED = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
QUIET = date(2026, 10, 1)  # nothing moved: Alipay never makes a bill of such a day


def _line(kind: LineKind, reference: str, amount: int, fee: int) -> StatementLine:
    return StatementLine(kind, reference, f"2026100822{reference}", amount, fee, MORNING + timedelta(seconds=2))


STATEMENTS = {
    (DAY, StatementKind.TRADES): [_line(LineKind.PAYMENT, "pay_a", 1_000, 6), _line(LineKind.PAYMENT, "pay_c", 3_001, 18),
                                  _line(LineKind.PAYMENT, "pay_x", 700, 4)],
    (DAY, StatementKind.ACCOUNT): [_line(LineKind.PAYMENT, "pay_a", 1_000, 0), _line(LineKind.FEE, "pay_a", -6, 0)],
    (DAY + timedelta(days=1), StatementKind.TRADES): [],
    (DAY + timedelta(days=1), StatementKind.ACCOUNT): [],
}


class FakeAlipayStatements:
    """A double for Alipay's bills (the real plugin is channels/alipay_statements)."""

    name = "alipay"

    def lines(self, day: date, kind: StatementKind) -> Iterator[StatementLine]:
        if (day, kind) not in STATEMENTS:
            raise StatementNotReady(f"isp.bill_not_exist for {day.isoformat()}")
        yield from STATEMENTS[(day, kind)]

    def read_file(self, data: bytes, kind: StatementKind) -> Iterator[StatementLine]:
        yield from STATEMENTS[(DAY, kind)]


class StatementsPlugin:
    @hookimpl
    def cashier_register_statement_sources(self, config: Any) -> list[Any]:
        return [FakeAlipayStatements()]


@pytest.fixture
def running(database_url: str) -> Iterator[RunningGateway]:
    server = start(make_settings(database_url, settlement={"reconcile": {"alipay_fee_bps": 60}}),
                   plugins=(StatementsPlugin(),), housekeeping=False)
    try:
        with server.gateway.engine.begin() as conn:
            for payment_id, amount in (("pay_a", 1_000), ("pay_b", 2_000), ("pay_c", 3_000)):
                add_payment(conn, "shop", payment_id, amount, paid_at=MORNING)
            # A day with a payment whose statement Alipay has not made (the double has none for it).
            add_payment(conn, "shop", "pay_early", 500, paid_at=UNBILLED)
        ledger.backfill(SqlUnitOfWorkFactory(server.gateway.engine))
        yield server
    finally:
        server.stop(0.5)


def _stub(server: RunningGateway) -> Iterator[spb_grpc.SettlementServiceStub]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield spb_grpc.SettlementServiceStub(channel)


@pytest.fixture
def stub(running: RunningGateway) -> Iterator[spb_grpc.SettlementServiceStub]:
    yield from _stub(running)


@pytest.fixture
def operator(running: RunningGateway) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {running.gateway.admin.create_operator('ops-1').key}")]


def test_an_operator_reconciles_a_day_and_gets_the_report(stub: spb_grpc.SettlementServiceStub,
                                                          operator: list[tuple[str, str]]) -> None:
    answer = stub.Reconcile(spb.ReconcileRequest(date=DAY.isoformat()), metadata=operator, timeout=30)
    trades, account = answer.reports
    assert (trades.kind, account.kind) == (spb.STATEMENT_KIND_TRADES, spb.STATEMENT_KIND_ACCOUNT)
    found = {(spb.ReconciliationBucket.Name(d.bucket), d.reference) for d in trades.differences}
    assert found == {("RECONCILIATION_BUCKET_MISSING_THEIRS", "pay_b"),
                     ("RECONCILIATION_BUCKET_AMOUNT_DIFFERENCE", "pay_c"),
                     ("RECONCILIATION_BUCKET_MISSING_OURS", "pay_x")}
    totals = {spb.ReconciliationBucket.Name(t.bucket): t.count for t in trades.totals if t.count}
    assert totals == {"RECONCILIATION_BUCKET_MATCHED": 1, "RECONCILIATION_BUCKET_MISSING_THEIRS": 1,
                      "RECONCILIATION_BUCKET_AMOUNT_DIFFERENCE": 1, "RECONCILIATION_BUCKET_MISSING_OURS": 1}
    assert (trades.line_count, trades.statement_amount, trades.clean) == (3, 4_701, False)
    assert trades.unexplained_amount == 2_000 - 1 - 700
    # The account bill's fee line of pay_a meets the fee booked from the trade bill; pay_c's fee (18, booked
    # from the trade bill) has no line there: missing, held in suspense by the account bill. The payments
    # pay_b and pay_c are missing there too, flagged, but held in suspense by the trade bill alone.
    assert {(d.line_kind, d.reference) for d in account.differences} == {
        ("PAYMENT", "pay_b"), ("PAYMENT", "pay_c"), ("FEE", "pay_c")}
    assert account.unexplained_amount == -18
    again = stub.Reconcile(spb.ReconcileRequest(date=DAY.isoformat(), kind=spb.STATEMENT_KIND_TRADES),
                           metadata=operator, timeout=30)
    assert list(again.reports) == [trades]


def test_apps_bad_dates_and_missing_statements_are_refused(running: RunningGateway,
                                                           stub: spb_grpc.SettlementServiceStub,
                                                           operator: list[tuple[str, str]]) -> None:
    tenant: Tenant = seed_tenant(running.gateway)
    app = [("authorization", f"Bearer {tenant.key}")]
    request = spb.ReconcileRequest(date=DAY.isoformat())
    with pytest.raises(grpc.RpcError) as caught:
        stub.Reconcile(request, metadata=app, timeout=30)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as caught:
        stub.Reconcile(spb.ReconcileRequest(date="2026-02-30"), metadata=operator, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "date" in error_details(caught.value)[0]
    with pytest.raises(grpc.RpcError) as caught:
        stub.Reconcile(spb.ReconcileRequest(date=UNBILLED.date().isoformat()), metadata=operator, timeout=30)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_details(caught.value)[1]
    assert info is not None and info.reason == "STATEMENT_NOT_READY"


def test_a_quiet_day_is_reconciled_clean_not_refused(running: RunningGateway, stub: spb_grpc.SettlementServiceStub,
                                                      operator: list[tuple[str, str]]) -> None:
    """Alipay makes no bill of a day on which nothing moved: once its bill is overdue the operator gets a clean,
    empty report (as the job and the CLI record it), not STATEMENT_NOT_READY for ever."""
    answer = stub.Reconcile(spb.ReconcileRequest(date=QUIET.isoformat()), metadata=operator, timeout=30)
    assert [(r.kind, r.line_count, r.clean, len(r.differences)) for r in answer.reports] == [
        (spb.STATEMENT_KIND_TRADES, 0, True, 0), (spb.STATEMENT_KIND_ACCOUNT, 0, True, 0)]
    with running.gateway.engine.connect() as conn:
        flags = conn.execute(text("SELECT kind FROM flags")).scalars().all()
    assert "STATEMENT_NOT_READY" not in flags


@pytest.fixture
def cashier(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """`cashier` with the reconcile group loaded from the entry point pyproject.toml declares, the statement
    sources being the double's."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][COMMAND_ENTRY_POINTS]
    assert declared["reconcile"] == "settlement.cli:reconcile"
    monkeypatch.setattr("gateway.plugins.collect_statement_sources", lambda pm, config: [FakeAlipayStatements()])

    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = Context(None)

    group = CashierGroup("cashier", callback=root)
    group.add_command(EntryPoint("reconcile", declared["reconcile"], COMMAND_ENTRY_POINTS).load(), "reconcile")
    return group


def test_the_cli_prints_the_table_and_exits_by_what_it_found(cashier: click.Group, running: RunningGateway,
                                                              database_url: str, tmp_path: Any) -> None:
    env = {"CASHIER_DATABASE_URL": running.gateway.settings.database.url}
    result = CliRunner().invoke(cashier, ["reconcile", "statement", "--date", DAY.isoformat(), "--kind", "trades"],
                                env=env)
    assert result.exit_code == 1, result.output
    assert "2026-10-08 TRADES statement of alipay: 3 lines, 47.01 CNY" in result.output
    assert any(row.split()[:2] == ["MISSING_THEIRS", "1"] and row.split()[3] == "20.00"
               for row in result.output.splitlines())
    assert "AMOUNT_DIFFERENCE PAYMENT pay_c: ours 30.00, statement 30.01" in result.output
    clean = CliRunner().invoke(cashier, ["reconcile", "statement", "--date", (DAY + timedelta(days=1)).isoformat()],
                               env=env)
    assert clean.exit_code == 0, clean.output
    bill = tmp_path / "bill.zip"
    bill.write_bytes(b"PK")
    by_hand = CliRunner().invoke(cashier, ["reconcile", "statement", str(bill), "--date", DAY.isoformat()], env=env)
    assert by_hand.exit_code == 2 and "--kind" in by_hand.output
    by_hand = CliRunner().invoke(cashier, ["reconcile", "statement", str(bill), "--date", DAY.isoformat(),
                                           "--kind", "account"], env=env)
    assert by_hand.exit_code == 1 and "ACCOUNT statement of alipay: 2 lines" in by_hand.output
