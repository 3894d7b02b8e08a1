"""Reconciliation end to end (issue 18, item 6 and its Done-when bullet): a gateway whose `[channels.alipay]` points
at the Alipay sandbox (real HTTP, real RSA), so that the built-in alipay_statements plugin is loaded from its entry
point as in production. Payments are paid at the sandbox and booked by its signed notifications, one is refunded
over gRPC; the sandbox plants differences in its trade bill (one of our trades dropped, a trade we never made, an
amount changed, a fee changed). The day's TRADES statement reconciled by an operator over gRPC, and again by
`cashier reconcile statement`, finds exactly those four, each flagged once, with the unexplained fen in suspense,
the ledger whole, and nothing booked twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import text

from cashier.v1 import refund_pb2 as rpb
from cashier.v1 import settlement_service_pb2 as spb
from cashier.v1 import settlement_service_pb2_grpc as spb_grpc
from channels.alipay.sandbox.local import LocalAlipay
from gateway.domain.flags import FlagKind
from gateway.runtime import RunningGateway
from settlement.domain import accounts
from settlement.domain.calendar import CHINA
from tests.e2e.test_refunds import paid_payment, refund
from tests.support import CashierClient, cashier_cli, error_details, make_settings, running_gateway

ALIPAY_FEE_BPS = 60  # the sandbox's service_fee_bps (its default), the rate [settlement.reconcile] expects
TRADES = spb.STATEMENT_KIND_TRADES


class Clock:
    """Real time moved back to yesterday morning (China): the day's trades then lie in a day that is over, as the
    Reconcile RPC requires and as Alipay bills (a day's bill exists from the next day on). The sandbox and the
    gateway's payments and refunds read it; `next_morning` lets the sandbox's day end."""

    def __init__(self) -> None:
        now = datetime.now(CHINA)
        self.day: date = now.date() - timedelta(days=1)
        self.offset = now - datetime.combine(self.day, time(10), CHINA)
        self.over = False

    def utc(self) -> datetime:
        return datetime.now(UTC) - self.offset

    def beijing(self) -> datetime:
        moment = datetime.now(CHINA) if self.over else datetime.now(CHINA) - self.offset
        return moment.replace(microsecond=0)

    def next_morning(self) -> None:
        self.over = True


@pytest.fixture
def clock(alipay: LocalAlipay) -> Clock:
    clock = Clock()
    config = alipay.handle.sandbox.config
    config.clock, config.strict_bill_date = clock.beijing, True
    assert config.service_fee_bps == ALIPAY_FEE_BPS
    return clock


def config_file(folder: Path, alipay: LocalAlipay) -> Path:
    """The operator's configuration for the CLI: the Alipay app and Alipay's contracted rate."""
    path = folder / "cashier.toml"
    path.write_text("[channels.alipay]\n"
                    + "".join(f"{key} = {json.dumps(value)}\n" for key, value in alipay.channel_table.items())
                    + f"\n[settlement.reconcile]\nalipay_fee_bps = {ALIPAY_FEE_BPS}\n")
    return path


@pytest.fixture
def gateway(database_url: str, alipay: LocalAlipay, clock: Clock, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[RunningGateway]:
    # The mobile channel and the statements plugin, both from their entry points (the CLI's subprocess too).
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "mobile,alipay_statements")
    settings = make_settings(database_url, channels={"alipay": alipay.channel_table},
                             settlement={"fees": {"mobile": 60}, "reconcile": {"alipay_fee_bps": ALIPAY_FEE_BPS}})
    with running_gateway(settings, housekeeping=False) as running:
        assert [s.name for s in running.gateway.statement_sources] == ["alipay"]
        running.gateway.payments.clock = running.gateway.refunds.clock = clock.utc
        yield running


@pytest.fixture
def settlement(gateway: RunningGateway) -> Iterator[spb_grpc.SettlementServiceStub]:
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield spb_grpc.SettlementServiceStub(channel)


@pytest.fixture
def operator(gateway: RunningGateway) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {gateway.gateway.admin.create_operator('ops-1').key}")]


# --- the ledger as an auditor reads it ----------------------------------------------------------------------------

def query(gateway: RunningGateway, sql: str, **params: Any) -> list[Any]:
    with gateway.gateway.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def entry_count(gateway: RunningGateway) -> int:
    return int(query(gateway, "SELECT COUNT(*) FROM ledger_entries")[0][0])


def ledger_sum(gateway: RunningGateway) -> int:
    return int(query(gateway, "SELECT COALESCE(SUM(amount), 0) FROM ledger_postings")[0][0])


def account_sum(gateway: RunningGateway, account: str) -> int:
    return int(query(gateway, "SELECT COALESCE(SUM(amount), 0) FROM ledger_postings WHERE account = :a",
                     a=account)[0][0])


def alipay_fees(gateway: RunningGateway) -> dict[str, int]:
    """Alipay's service fee booked per payment (from the trade bill), debit positive."""
    return {reference: int(amount) for reference, amount in query(
        gateway, "SELECT e.reference, p.amount FROM ledger_entries e JOIN ledger_postings p ON "
                 "p.merchant_id = e.merchant_id AND p.entry_id = e.entry_id "
                 "WHERE e.kind = 'alipay_service_fee' AND p.account = :a", a=accounts.ALIPAY_SERVICE_FEES.key)}


def reconciliation_flags(gateway: RunningGateway) -> set[tuple[str, str, str]]:
    rows = query(gateway, "SELECT kind, merchant_id, payment_id FROM flags WHERE kind LIKE 'RECONCILIATION_%' "
                          "AND resolved_at IS NULL")
    assert len(rows) == len(set(rows))
    return {(kind, merchant, reference) for kind, merchant, reference in rows}


def pid(payment: Any) -> str:
    return str(payment.name.rsplit("/", 1)[1])


def bucket(value: int) -> str:
    return spb.ReconciliationBucket.Name(value).removeprefix("RECONCILIATION_BUCKET_")


def differences(report: spb.ReconciliationReport) -> set[tuple[Any, ...]]:
    def opt(item: spb.ReconciliationItem, name: str) -> int | None:
        return getattr(item, name) if item.HasField(name) else None

    return {(bucket(d.bucket), d.line_kind, d.reference, d.merchant_id, opt(d, "our_amount"),
             opt(d, "statement_amount"), d.statement_fee, opt(d, "expected_fee")) for d in report.differences}


# --- the day --------------------------------------------------------------------------------------------------------

def test_planted_differences_are_found_flagged_and_held_in_suspense_and_nothing_else(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway, clock: Clock,
        settlement: spb_grpc.SettlementServiceStub, operator: list[tuple[str, str]], tmp_path: Path) -> None:
    # A day of the merchant's: five payments paid at Alipay (booked by its notifications), one partly refunded.
    dropped, changed, overcharged, plain, refunded = (
        paid_payment(app, alipay, amount) for amount in (10_000, 2_500, 3_000, 4_250, 2_000))
    done = refund(app, refunded, "R-1", 500)
    assert done.state == rpb.REFUND_STATE_SUCCEEDED
    day = clock.day.isoformat()
    request = spb.ReconcileRequest(date=day, kind=TRADES)

    # The day is over here, not yet at Alipay: its bill is not made, and nothing is written.
    before = entry_count(gateway)
    with pytest.raises(grpc.RpcError) as caught:
        settlement.Reconcile(request, metadata=operator, timeout=30)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_details(caught.value)[1]
    assert info is not None and info.reason == "STATEMENT_NOT_READY"
    assert entry_count(gateway) == before

    # The next morning the bill is out, with the differences Alipay's side plants in it.
    clock.next_morning()
    ghost_paid = f"{day} 12:00:00"
    answer = httpx.post(f"{alipay.url}/sandbox/faults", json={"bill_differences": {
        "drop": [pid(dropped)], "amount": {pid(changed): "12.34"}, "fee": {pid(overcharged): "0.99"},
        "extra": [{"out_trade_no": "ghost_1", "total_amount": "8.00", "gmt_payment": ghost_paid}]}})
    assert answer.status_code == 200, answer.text

    report, = settlement.Reconcile(request, metadata=operator, timeout=30).reports
    assert (report.date, report.kind, report.source) == (day, TRADES, "alipay")
    shop = app.tenant.merchant_id
    # (bucket, kind, reference, merchant, ours, statement, statement fee, contracted fee): fen, signed.
    assert differences(report) == {
        ("MISSING_OURS", "PAYMENT", "ghost_1", "", None, 800, 5, None),  # 8.00 at 60 bps: 4.8 → 5
        ("MISSING_THEIRS", "PAYMENT", pid(dropped), shop, 10_000, None, 0, None),
        ("AMOUNT_DIFFERENCE", "PAYMENT", pid(changed), shop, 2_500, 1_234, 15, 7),  # its fee as charged on 25.00
        ("FEE_DIFFERENCE", "PAYMENT", pid(overcharged), shop, 3_000, 3_000, 99, 18),
    }
    totals = {bucket(t.bucket): (t.count, t.statement_amount, t.our_amount) for t in report.totals if t.count}
    assert totals == {
        "MATCHED": (3, 4_250 + 2_000 - 500, 4_250 + 2_000 - 500),  # plain, refunded and its refund R-1
        "MISSING_OURS": (1, 800, 0),
        "MISSING_THEIRS": (1, 0, 10_000),
        "AMOUNT_DIFFERENCE": (1, 1_234, 2_500),
        "FEE_DIFFERENCE": (1, 3_000, 3_000),
    }
    assert (report.line_count, report.statement_amount, report.clean) == (6, 4_250 + 1_500 + 1_234 + 3_000 + 800,
                                                                         False)
    unexplained = 10_000 - 800 + (2_500 - 1_234)  # ours minus theirs; the fee difference is no missing money
    assert report.unexplained_amount == unexplained
    assert account_sum(gateway, accounts.SUSPENSE.key) == unexplained
    # Alipay's fee booked from the bill for each payment it billed: as charged, the overcharge included.
    assert alipay_fees(gateway) == {pid(plain): 26, pid(refunded): 12, pid(changed): 15, pid(overcharged): 99}
    assert reconciliation_flags(gateway) == {
        (FlagKind.RECONCILIATION_MISSING_OURS.value, "", "ghost_1"),
        (FlagKind.RECONCILIATION_MISSING_THEIRS.value, shop, pid(dropped)),
        (FlagKind.RECONCILIATION_AMOUNT_DIFFERENCE.value, shop, pid(changed)),
        (FlagKind.RECONCILIATION_FEE_DIFFERENCE.value, shop, pid(overcharged)),
    }
    assert ledger_sum(gateway) == 0
    assert query(gateway, "SELECT entry_id FROM ledger_postings GROUP BY merchant_id, entry_id "
                          "HAVING SUM(amount) <> 0") == []
    booked = entry_count(gateway)

    # The operator's command reads the same bill and says the same; it books nothing new.
    cli = cashier_cli("--config", str(config_file(tmp_path, alipay)), "reconcile", "statement", "--date", day,
                      "--kind", "trades", database_url=str(gateway.gateway.settings.database.url), check=False)
    assert cli.returncode == 1, cli.stderr
    out = cli.stdout.splitlines()
    assert f"{day} TRADES statement of alipay: 6 lines, 107.84 CNY" in out
    rows = {row.split()[0]: row.split()[1:] for row in out if row.split()[:1] and row.split()[0] in totals
            and not row.startswith(" ")}  # the summary table; the differences follow, indented
    assert rows == {"MATCHED": ["3", "57.50", "57.50"], "MISSING_OURS": ["1", "8.00", "0.00"],
                    "MISSING_THEIRS": ["1", "0.00", "100.00"], "AMOUNT_DIFFERENCE": ["1", "12.34", "25.00"],
                    "FEE_DIFFERENCE": ["1", "30.00", "30.00"]}
    assert sorted(row.strip() for row in out if row.startswith("  ")) == sorted([
        "MISSING_OURS PAYMENT ghost_1: ours -, statement 8.00",
        f"MISSING_THEIRS PAYMENT {pid(dropped)}: ours 100.00, statement -",
        f"AMOUNT_DIFFERENCE PAYMENT {pid(changed)}: ours 25.00, statement 12.34 fee 0.15 (contracted 0.07)",
        f"FEE_DIFFERENCE PAYMENT {pid(overcharged)}: ours 30.00, statement 30.00 fee 0.99 (contracted 0.18)"])
    assert "unexplained, held in suspense: 104.66 CNY" in out
    assert entry_count(gateway) == booked

    # And a second Reconcile over gRPC: the same report, nothing booked, one flag per difference still.
    again, = settlement.Reconcile(request, metadata=operator, timeout=30).reports
    assert again == report
    assert entry_count(gateway) == booked and ledger_sum(gateway) == 0
    assert account_sum(gateway, accounts.SUSPENSE.key) == unexplained and len(reconciliation_flags(gateway)) == 4


def test_the_command_exits_3_while_alipay_has_no_bill_yet(app: CashierClient, alipay: LocalAlipay, clock: Clock,
                                                         gateway: RunningGateway, database_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A payment in the day: without one, once the bill is overdue (after flag_after, 12:00 in China by the
    # real clock the command reads) the day is quiet and reconciled empty, which is right but not this test.
    paid_payment(app, alipay, 1_000)
    monkeypatch.setenv("CASHIER_LOAD_CHANNELS", "alipay_statements")
    cli = cashier_cli("--config", str(config_file(tmp_path, alipay)), "reconcile", "statement", "--date",
                      clock.day.isoformat(), "--kind", "trades", database_url=database_url, check=False)
    assert (cli.returncode, cli.stdout) == (3, ""), cli.stderr
    assert f"the TRADES statement of {clock.day.isoformat()} from alipay is not ready" in cli.stderr
    assert "Traceback" not in cli.stderr



def test_a_day_with_a_refund_reconciles_clean_on_both_bills(
        app: CashierClient, alipay: LocalAlipay, gateway: RunningGateway, clock: Clock,
        settlement: spb_grpc.SettlementServiceStub, operator: list[tuple[str, str]]) -> None:
    refunded = paid_payment(app, alipay, 2_000)
    assert refund(app, refunded, "R-1", 500).state == rpb.REFUND_STATE_SUCCEEDED
    clock.next_morning()
    trades, account = settlement.Reconcile(spb.ReconcileRequest(date=clock.day.isoformat()), metadata=operator,
                                           timeout=30).reports
    assert trades.clean and trades.unexplained_amount == 0
    # Alipay charged 12 fen on the payment and gave a quarter back with the refund: 9 fen is its fee.
    assert account_sum(gateway, accounts.ALIPAY_SERVICE_FEES.key) == 9
    assert (differences(account), account.unexplained_amount) == (set(), 0)
    assert account.clean and account_sum(gateway, accounts.SUSPENSE.key) == 0
    assert reconciliation_flags(gateway) == set() and ledger_sum(gateway) == 0
