"""SettlementService over the real wire, on SQLite and PostgreSQL: an app reads its merchant's balance, payouts,
ledger entries and statement and is refused another merchant's (PERMISSION_DENIED, nothing of it in the
answer); operators read any merchant's and list every merchant's payouts; a statement's opening balances plus
its movements are its closing balances, which are the balances summed from every posting; pages cover every
entry once; bad input is INVALID_ARGUMENT naming the field; RunSettlement is an operator's and points to the
CLI. The ledger is filled through the ledger's own repository, as the payment, refund and run paths book it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import grpc
import pytest
from click.testing import CliRunner

from cashier.v1 import settlement_service_pb2 as spb
from cashier.v1 import settlement_service_pb2_grpc as spb_grpc
from gateway.runtime import RunningGateway
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import ledger
from settlement.service.payout_ports import Payout, PayoutPart
from tests.support import Tenant, error_details, seed_tenant

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def _book(server: RunningGateway, day: date, *entries: ledger.JournalEntry) -> None:
    uow = SqlUnitOfWorkFactory(server.gateway.engine)
    with uow(write=True) as tx:
        tx.ledger.append(entries, settlement_day=day, at=AT)
        tx.commit()


def _payout(server: RunningGateway, merchant_id: str, payout_id: str, run_date: date, amount: int,
            state: str) -> None:
    uow = SqlUnitOfWorkFactory(server.gateway.engine)
    with uow(write=True) as tx:
        tx.settlement_payouts.add(
            Payout(payout_id, merchant_id, run_date, amount, state, 0, f"{merchant_id}@example.com", "Tea"),
            [PayoutPart(payout_id, 1, f"{payout_id}_001", amount, "PAID" if state == "PAID" else "SENT")], AT)
        tx.commit()


@pytest.fixture
def books(server: RunningGateway, tenant: Tenant) -> Tenant:
    """shop-1: two payments on D1 (fees), a refund on D2, released and paid out on D3, a deposit on D2;
    shop-2 (another app's): one payment on D1 and a payout."""
    m = tenant.merchant_id
    _book(server, D1, *ledger.book_payment(m, "pay_a", 10_000, 60), *ledger.book_payment(m, "pay_b", 5_000, 30))
    _book(server, D2, *ledger.book_refund(m, "ref_a", 2_000, 12, released=False),
          ledger.deposit_recorded(m, "dep_1", 2_000_000))
    _book(server, D3, ledger.funds_released(m, "rel_d3", 12_922), ledger.payout_sent(m, "po_shop1_d3_001", 12_922),
          ledger.payout_confirmed(m, "po_shop1_d3_001", 12_922))
    _payout(server, m, "po_shop1_d3", D3, 12_922, "PAID")
    seed_tenant(server.gateway, "shop-2", "app-2", display_name="Other Shop")
    _book(server, D1, *ledger.book_payment("shop-2", "pay_other", 777_700, 4_666))
    _payout(server, "shop-2", "po_shop2_d3", D3, 773_034, "SENT")
    return tenant


def _stub(channel: grpc.Channel) -> spb_grpc.SettlementServiceStub:
    return spb_grpc.SettlementServiceStub(channel)


def _as(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def _operator(server: RunningGateway) -> list[tuple[str, str]]:
    return _as(server.gateway.admin.create_operator("ops-1").key)


def _refused(call, request, metadata, code: grpc.StatusCode) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(request, metadata=metadata, timeout=20)
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


def _invalid(call, request, metadata) -> set[str]:  # type: ignore[no-untyped-def]
    err = _refused(call, request, metadata, grpc.StatusCode.INVALID_ARGUMENT)
    return set(error_details(err)[0])


def test_an_app_reads_its_merchants_balance_and_statement(books: Tenant, grpc_channel: grpc.Channel) -> None:
    stub, me = _stub(grpc_channel), _as(books.key)
    balance = stub.GetBalance(spb.GetBalanceRequest(name="merchants/shop-1/balance"), metadata=me).balance
    # 15,000 paid, 90 fees, 2,000 refunded with 12 of fee back, 12,922 released and paid out, 20,000 CNY deposit.
    assert (balance.balances.pending, balance.balances.available, balance.balances.deposit,
            balance.balances.payouts_in_transit) == (0, 0, 2_000_000, 0)
    assert balance.balances.total == 2_000_000 and balance.currency_code == "CNY"

    statement = stub.GetStatement(spb.GetStatementRequest(name="merchants/shop-1/statement", start_date="2026-11-02",
                                                          end_date="2026-11-03"), metadata=me).statement
    assert statement.opening.pending == 15_000 - 90 and statement.opening.total == 14_910
    kinds = {spb.LedgerEntryKind.Name(m.kind): (m.entry_count, m.change.total) for m in statement.movements}
    assert kinds == {"LEDGER_ENTRY_KIND_REFUND": (1, -2_000), "LEDGER_ENTRY_KIND_FEE_RETURNED": (1, 12),
                     "LEDGER_ENTRY_KIND_FUNDS_RELEASED": (1, 0), "LEDGER_ENTRY_KIND_PAYOUT_SENT": (1, 0),
                     "LEDGER_ENTRY_KIND_PAYOUT_CONFIRMED": (1, -12_922),
                     "LEDGER_ENTRY_KIND_DEPOSIT_RECORDED": (1, 2_000_000)}
    for account in ("pending", "available", "deposit", "payouts_in_transit", "total"):
        moved = sum(getattr(m.change, account) for m in statement.movements)
        assert getattr(statement.opening, account) + moved == getattr(statement.closing, account), account
        # The period ends at the last entry: the closing balances are the balances summed from every posting.
        assert getattr(statement.closing, account) == getattr(balance.balances, account), account

    payouts = stub.ListPayouts(spb.ListPayoutsRequest(parent="merchants/shop-1"), metadata=me).payouts
    assert [(p.name, p.amount, p.state, p.part_count, p.run_date) for p in payouts] == [
        ("merchants/shop-1/payouts/po_shop1_d3", 12_922, spb.PAYOUT_STATE_PAID, 1, "2026-11-03")]
    got = stub.GetPayout(spb.GetPayoutRequest(name=payouts[0].name), metadata=me).payout
    assert got == payouts[0]


def test_an_app_is_refused_another_merchants_reads_and_learns_nothing(
        books: Tenant, grpc_channel: grpc.Channel) -> None:
    stub, me = _stub(grpc_channel), _as(books.key)
    calls = [
        (stub.GetBalance, spb.GetBalanceRequest(name="merchants/shop-2/balance")),
        (stub.ListPayouts, spb.ListPayoutsRequest(parent="merchants/shop-2")),
        (stub.GetPayout, spb.GetPayoutRequest(name="merchants/shop-2/payouts/po_shop2_d3")),
        (stub.ListLedgerEntries, spb.ListLedgerEntriesRequest(parent="merchants/shop-2", start_date="2026-11-01",
                                                              end_date="2026-11-30")),
        (stub.GetStatement, spb.GetStatementRequest(name="merchants/shop-2/statement", start_date="2026-11-01",
                                                    end_date="2026-11-30")),
    ]
    for call, request in calls:
        err = _refused(call, request, me, grpc.StatusCode.PERMISSION_DENIED)
        assert "777" not in (err.details() or "") and "po_shop2" not in (err.details() or "")
        # A merchant that does not exist gets the same answer: existence is not revealed either.
        ghost = type(request)()
        ghost.CopyFrom(request)
        for field in ("name", "parent"):
            if hasattr(ghost, field):
                setattr(ghost, field, getattr(ghost, field).replace("shop-2", "no-such-shop"))
        ghost_err = _refused(call, ghost, me, grpc.StatusCode.PERMISSION_DENIED)
        assert error_details(ghost_err)[1].reason == error_details(err)[1].reason == "MERCHANT_NOT_AUTHORIZED"  # type: ignore[union-attr]
    _refused(stub.ListPayouts, spb.ListPayoutsRequest(parent="merchants/-"), me, grpc.StatusCode.PERMISSION_DENIED)
    _refused(stub.RunSettlement, spb.RunSettlementRequest(run_date="2026-11-03"), me,
             grpc.StatusCode.PERMISSION_DENIED)


def test_operators_read_every_merchant_and_list_every_payout(
        server: RunningGateway, books: Tenant, grpc_channel: grpc.Channel) -> None:
    stub, ops = _stub(grpc_channel), _operator(server)
    listed = stub.ListPayouts(spb.ListPayoutsRequest(parent="merchants/-"), metadata=ops).payouts
    assert sorted(p.name for p in listed) == ["merchants/shop-1/payouts/po_shop1_d3",
                                              "merchants/shop-2/payouts/po_shop2_d3"]
    other = stub.GetBalance(spb.GetBalanceRequest(name="merchants/shop-2/balance"), metadata=ops).balance
    assert other.balances.pending == 777_700 - 4_666
    missing = _refused(stub.GetBalance, spb.GetBalanceRequest(name="merchants/no-such-shop/balance"), ops,
                       grpc.StatusCode.NOT_FOUND)
    assert error_details(missing)[1].reason == "MERCHANT_NOT_FOUND"  # type: ignore[union-attr]
    _refused(stub.GetPayout, spb.GetPayoutRequest(name="merchants/shop-1/payouts/po_shop2_d3"), ops,
             grpc.StatusCode.NOT_FOUND)
    run = _refused(stub.RunSettlement, spb.RunSettlementRequest(run_date="2026-11-03"), ops,
                   grpc.StatusCode.FAILED_PRECONDITION)
    assert "cashier settle run --date 2026-11-03" in (run.details() or "")


def test_ledger_entries_page_through_the_period_once(books: Tenant, grpc_channel: grpc.Channel) -> None:
    stub, me = _stub(grpc_channel), _as(books.key)
    seen, token, pages = [], "", 0
    while True:
        page = stub.ListLedgerEntries(spb.ListLedgerEntriesRequest(
            parent="merchants/shop-1", start_date="2026-11-01", end_date="2026-11-03", page_size=3,
            page_token=token), metadata=me)
        seen += list(page.ledger_entries)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 4 and len(seen) == 10 and len({e.name for e in seen}) == 10
    assert [e.settlement_date for e in seen] == sorted(e.settlement_date for e in seen)
    assert [e.reference for e in seen[:2]] == ["pay_a", "pay_a"]  # the payment, then its fee
    assert sum(e.change.total for e in seen) == 2_000_000  # every movement of the merchant's balances
    for entry in seen:
        assert entry.name.startswith("merchants/shop-1/ledgerEntries/")
    fee = seen[1]
    assert {(spb.LedgerAccount.Name(p.account), p.amount) for p in fee.postings} == {
        ("LEDGER_ACCOUNT_PENDING", -60), ("LEDGER_ACCOUNT_FEE_REVENUE", 60)}
    one_day = stub.ListLedgerEntries(spb.ListLedgerEntriesRequest(
        parent="merchants/shop-1", start_date="2026-11-02", end_date="2026-11-02"), metadata=me).ledger_entries
    assert [e.reference for e in one_day] == ["ref_a", "ref_a", "dep_1"]
    # A token is bound to its period.
    first = stub.ListLedgerEntries(spb.ListLedgerEntriesRequest(
        parent="merchants/shop-1", start_date="2026-11-01", end_date="2026-11-03", page_size=1), metadata=me)
    assert _invalid(stub.ListLedgerEntries, spb.ListLedgerEntriesRequest(
        parent="merchants/shop-1", start_date="2026-11-01", end_date="2026-11-04",
        page_token=first.next_page_token), me) == {"page_token"}


def test_bad_input_is_named_and_refused_for_any_caller(
        server: RunningGateway, books: Tenant, grpc_channel: grpc.Channel) -> None:
    stub, me, ops = _stub(grpc_channel), _as(books.key), _operator(server)
    for who in (me, ops):
        assert _invalid(stub.GetBalance, spb.GetBalanceRequest(name="merchants/shop-1"), who) == {"name"}
        assert _invalid(stub.GetStatement, spb.GetStatementRequest(
            name="merchants/shop-1/statement", start_date="2026-13-01", end_date="yesterday"), who) == {
            "start_date", "end_date"}
        assert _invalid(stub.GetStatement, spb.GetStatementRequest(
            name="merchants/shop-1/statement", start_date="2026-11-03", end_date="2026-11-01"), who) == {"end_date"}
        assert _invalid(stub.ListLedgerEntries, spb.ListLedgerEntriesRequest(
            parent="merchants/shop-1", start_date="2025-01-01", end_date="2026-11-01"), who) == {"end_date"}
        assert _invalid(stub.ListLedgerEntries, spb.ListLedgerEntriesRequest(
            parent="merchants/shop-1", start_date="2026-11-01", end_date="2026-11-01", page_size=-1), who) == {
            "page_size"}
        assert _invalid(stub.GetPayout, spb.GetPayoutRequest(name="merchants/shop-1/payouts/a b"), who) == {"name"}
        assert _invalid(stub.ListPayouts, spb.ListPayoutsRequest(parent="merchants/shop-1",
                                                                 page_token="forged"), who) == {"page_token"}
    assert _invalid(stub.RunSettlement, spb.RunSettlementRequest(run_date="2026-02-30"), ops) == {"run_date"}


def test_the_cli_prints_a_statement_and_its_entries_as_csv(server: RunningGateway, books: Tenant,
                                                          database_url: str) -> None:
    from gateway.cli import main

    env = {"CASHIER_DATABASE_URL": database_url}
    runner = CliRunner()
    summary = runner.invoke(main, ["settle", "statement", "--merchant", "shop-1", "--from", "2026-11-02",
                                   "--to", "2026-11-03"], env=env, catch_exceptions=False)
    assert summary.exit_code == 0, summary.output
    assert "opening" in summary.output and "149.10" in summary.output and "20000.00" in summary.output
    csv = runner.invoke(main, ["settle", "statement", "--merchant", "shop-1", "--from", "2026-11-01",
                               "--to", "2026-11-03", "--csv"], env=env, catch_exceptions=False)
    assert csv.exit_code == 0, csv.output
    lines = csv.output.strip().splitlines()
    assert lines[0].startswith("settlement_date,entry,kind,reference,")
    assert len(lines) == 1 + 10 + 2  # header, every entry, opening and closing rows
