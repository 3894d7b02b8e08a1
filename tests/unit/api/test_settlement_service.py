"""SettlementService in process (see inprocess.py for the layer): decoding with field errors, who may read
which merchant, paging, and RunSettlement's answer. Over the wire, on both databases, with a fuller ledger:
tests/e2e/test_settlement_service.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import grpc

from cashier.v1 import settlement_service_pb2 as spb
from gateway.bootstrap import Gateway
from gateway.storage.unit_of_work_factory import SqlUnitOfWorkFactory
from settlement.domain import ledger
from settlement.service.payout_ports import Payout, PayoutPart
from tests.support import Tenant, seed_tenant
from tests.unit.api.inprocess import SETTLEMENT, InProcessApi, invalid, method, refused

GET_BALANCE = method(SETTLEMENT, "GetBalance")
LIST_PAYOUTS = method(SETTLEMENT, "ListPayouts")
GET_PAYOUT = method(SETTLEMENT, "GetPayout")
LIST_ENTRIES = method(SETTLEMENT, "ListLedgerEntries")
GET_STATEMENT = method(SETTLEMENT, "GetStatement")
RUN = method(SETTLEMENT, "RunSettlement")
RECONCILE = method(SETTLEMENT, "Reconcile")
AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def _books(gateway: Gateway, merchant_id: str) -> None:
    uow = SqlUnitOfWorkFactory(gateway.engine)
    with uow(write=True) as tx:
        tx.ledger.append(ledger.book_payment(merchant_id, f"pay_{merchant_id}", 10_000, 60),
                         settlement_day=date(2026, 11, 1), at=AT)
        for n in range(3):
            payout_id = f"po_{merchant_id.replace('-', '')}_{n}"
            tx.settlement_payouts.add(
                Payout(payout_id, merchant_id, date(2026, 11, 2 + n), 100 + n, "PAID", 0, "x@example.com", "X"),
                [PayoutPart(payout_id, 1, f"{payout_id}_001", 100 + n, "PAID")], AT)
        tx.commit()


def test_reads_decode_their_fields(api: InProcessApi, tenant: Tenant, gateway: Gateway) -> None:
    _books(gateway, tenant.merchant_id)
    key = tenant.key
    got = api.call(GET_BALANCE, spb.GetBalanceRequest(name="merchants/shop-1/balance"), key).response.balance
    assert (got.name, got.balances.pending, got.balances.total) == ("merchants/shop-1/balance", 9_940, 9_940)
    for name in ["", "merchants/shop-1", "merchants/-/balance", "merchants/Shop-1/balance", "shop-1/balance"]:
        assert invalid(api.call(GET_BALANCE, spb.GetBalanceRequest(name=name), key)) == ["name"], name
    assert invalid(api.call(GET_PAYOUT, spb.GetPayoutRequest(name="merchants/shop-1/payouts/"), key)) == ["name"]
    payout = api.call(GET_PAYOUT, spb.GetPayoutRequest(name="merchants/shop-1/payouts/po_shop1_0"), key).response
    assert (payout.payout.amount, payout.payout.run_date) == (100, "2026-11-02")
    refused(api.call(GET_PAYOUT, spb.GetPayoutRequest(name="merchants/shop-1/payouts/po_nothing"), key),
            grpc.StatusCode.NOT_FOUND, "PAYOUT_NOT_FOUND")
    assert invalid(api.call(LIST_ENTRIES, spb.ListLedgerEntriesRequest(parent="merchants/shop-1"), key)) == [
        "start_date", "end_date"]
    entries = api.call(LIST_ENTRIES, spb.ListLedgerEntriesRequest(
        parent="merchants/shop-1", start_date="2026-11-01", end_date="2026-11-01"), key).response
    assert [spb.LedgerEntryKind.Name(e.kind) for e in entries.ledger_entries] == [
        "LEDGER_ENTRY_KIND_PAYMENT", "LEDGER_ENTRY_KIND_FEE"]
    assert invalid(api.call(GET_STATEMENT, spb.GetStatementRequest(
        name="merchants/shop-1/statement", start_date="2026-11-01", end_date="2026-02-29"), key)) == ["end_date"]
    statement = api.call(GET_STATEMENT, spb.GetStatementRequest(
        name="merchants/shop-1/statement", start_date="2026-11-01", end_date="2026-11-30"), key).response.statement
    assert (statement.opening.total, statement.closing.total) == (0, 9_940)


def test_payouts_page_newest_first(api: InProcessApi, tenant: Tenant, gateway: Gateway) -> None:
    _books(gateway, tenant.merchant_id)
    names, token = [], ""
    while True:
        page = api.call(LIST_PAYOUTS, spb.ListPayoutsRequest(parent="merchants/shop-1", page_size=2,
                                                             page_token=token), tenant.key).response
        names += [p.name for p in page.payouts]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"merchants/shop-1/payouts/po_shop1_{n}" for n in (2, 1, 0)]
    assert invalid(api.call(LIST_PAYOUTS, spb.ListPayoutsRequest(parent="merchants/shop-1", page_size=-1),
                            tenant.key)) == ["page_size"]


def test_an_app_reads_only_its_merchants_and_runs_nothing(api: InProcessApi, tenant: Tenant, gateway: Gateway,
                                                          operator_key: str) -> None:
    other = seed_tenant(gateway, "shop-2", "app-2")
    _books(gateway, other.merchant_id)
    refused(api.call(GET_BALANCE, spb.GetBalanceRequest(name="merchants/shop-2/balance"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "MERCHANT_NOT_AUTHORIZED")
    refused(api.call(LIST_PAYOUTS, spb.ListPayoutsRequest(parent="merchants/-"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS")
    every = api.call(LIST_PAYOUTS, spb.ListPayoutsRequest(parent="merchants/-"), operator_key).response
    assert len(every.payouts) == 3
    refused(api.call(RUN, spb.RunSettlementRequest(run_date="2026-11-03"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS")
    assert invalid(api.call(RUN, spb.RunSettlementRequest(run_date="3 Nov"), operator_key)) == ["run_date"]
    refused(api.call(RUN, spb.RunSettlementRequest(run_date="2026-11-03"), operator_key),
            grpc.StatusCode.FAILED_PRECONDITION, "RUN_FROM_CLI")
    refused(api.call(GET_BALANCE, spb.GetBalanceRequest(name="merchants/shop-1/balance"), None),
            grpc.StatusCode.UNAUTHENTICATED, "MISSING_CREDENTIALS")


def test_reconcile_is_an_operator_s_and_names_its_bad_fields(api: InProcessApi, tenant: Tenant,
                                                             operator_key: str) -> None:
    refused(api.call(RECONCILE, spb.ReconcileRequest(date="2026-11-03"), tenant.key),
            grpc.StatusCode.PERMISSION_DENIED, "WRONG_CREDENTIALS")
    assert invalid(api.call(RECONCILE, spb.ReconcileRequest(date="3 Nov"), operator_key)) == ["date"]
    assert invalid(api.call(RECONCILE, spb.ReconcileRequest(date="2026-11-03", kind=99), operator_key)) == ["kind"]
    # This gateway installs no statement source (no [channels.alipay]): said so, nothing attempted.
    refused(api.call(RECONCILE, spb.ReconcileRequest(date="2026-11-03"), operator_key),
            grpc.StatusCode.FAILED_PRECONDITION, "NO_STATEMENT_SOURCE")
