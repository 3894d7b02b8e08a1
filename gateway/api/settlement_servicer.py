"""SettlementService: thin, as the other servicers (decode, check who calls, call one read of
settlement/service/statements.py, encode).

The interceptor lets apps and operators through to this service (SERVICE_PRINCIPALS); who may read which
merchant is decided here, per method: an operator reads any merchant; an app only the merchants it acts for,
and another merchant's read is refused with the same PERMISSION_DENIED whether that merchant exists or not.
Fields are decoded first, so a malformed request is INVALID_ARGUMENT naming its field for any caller.

RunSettlement runs nothing here: a run sends one transfer per merchant through the payout rail and waits on
Alipay for each, a job for a process of its own (`cashier settle run`, resumable and safe to repeat), not for
a gRPC worker's threads and memory. It checks the caller and the date, then answers FAILED_PRECONDITION
(RUN_FROM_CLI) naming the command.

Reconcile does run here, for operators: it fetches a day's statements (one download each) and reconciles
them set-based in the database (settlement/service/reconcile.py), whose memory stays bounded whatever the
statement's size. A statement not ready yet is FAILED_PRECONDITION (STATEMENT_NOT_READY), unless nothing of
ours moved that day and its bill is overdue: Alipay never makes that bill, and the day is reconciled empty.
"""

from __future__ import annotations

import grpc

from cashier.v1 import settlement_service_pb2 as spb
from cashier.v1 import settlement_service_pb2_grpc as spb_grpc
from gateway.api import convert
from gateway.api import settlement_convert as sc
from gateway.api.interceptor import current_principal
from gateway.domain.errors import FailedPrecondition, PermissionDenied, Violations
from gateway.domain.merchants import Principal, PrincipalKind
from settlement.service.reconcile import SettlementOperations
from settlement.service.statements import SettlementQueries


def _may_read(merchant_id: str) -> Principal:
    principal = current_principal()
    if principal.kind is PrincipalKind.APP and not principal.acts_for(merchant_id):
        raise PermissionDenied(f"this app is not authorised to act for merchant {merchant_id!r}",
                               reason="MERCHANT_NOT_AUTHORIZED", metadata={"merchant": merchant_id})
    return principal


class SettlementServicer(spb_grpc.SettlementServiceServicer):
    def __init__(self, queries: SettlementQueries):
        self.queries = queries

    def GetBalance(self, request: spb.GetBalanceRequest, context: grpc.ServicerContext) -> spb.GetBalanceResponse:
        v = Violations()
        merchant_id = sc.suffixed_merchant_from(v, "name", request.name, "balance")
        v.raise_if_any()
        _may_read(merchant_id)
        return spb.GetBalanceResponse(balance=sc.balance_to_proto(merchant_id, self.queries.balance(merchant_id)))

    def ListPayouts(self, request: spb.ListPayoutsRequest, context: grpc.ServicerContext) -> spb.ListPayoutsResponse:
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent, allow_wildcard=True)
        v.raise_if_any()
        if merchant_id == "-":
            if current_principal().kind is not PrincipalKind.OPERATOR:
                raise PermissionDenied("merchants/- (every merchant's payouts) needs operator credentials; "
                                       "an app lists the payouts of one merchant it acts for",
                                       reason="WRONG_CREDENTIALS")
        else:
            _may_read(merchant_id)
        page, token = self.queries.list_payouts(None if merchant_id == "-" else merchant_id, request.page_size,
                                                request.page_token)
        return spb.ListPayoutsResponse(payouts=[sc.payout_to_proto(p) for p in page], next_page_token=token)

    def GetPayout(self, request: spb.GetPayoutRequest, context: grpc.ServicerContext) -> spb.GetPayoutResponse:
        v = Violations()
        merchant_id, payout_id = sc.payout_name_parts(v, "name", request.name)
        v.raise_if_any()
        _may_read(merchant_id)
        return spb.GetPayoutResponse(payout=sc.payout_to_proto(self.queries.get_payout(merchant_id, payout_id)))

    def ListLedgerEntries(self, request: spb.ListLedgerEntriesRequest,
                          context: grpc.ServicerContext) -> spb.ListLedgerEntriesResponse:
        v = Violations()
        merchant_id = convert.merchant_id_from(v, "parent", request.parent)
        start = sc.date_from(v, "start_date", request.start_date)
        end = sc.date_from(v, "end_date", request.end_date)
        v.raise_if_any()
        _may_read(merchant_id)
        lines, token = self.queries.list_entries(merchant_id, start, end, request.page_size, request.page_token)
        return spb.ListLedgerEntriesResponse(ledger_entries=[sc.entry_to_proto(merchant_id, line) for line in lines],
                                             next_page_token=token)

    def GetStatement(self, request: spb.GetStatementRequest,
                     context: grpc.ServicerContext) -> spb.GetStatementResponse:
        v = Violations()
        merchant_id = sc.suffixed_merchant_from(v, "name", request.name, "statement")
        start = sc.date_from(v, "start_date", request.start_date)
        end = sc.date_from(v, "end_date", request.end_date)
        v.raise_if_any()
        _may_read(merchant_id)
        return spb.GetStatementResponse(statement=sc.statement_to_proto(self.queries.statement(merchant_id, start, end)))

    def RunSettlement(self, request: spb.RunSettlementRequest,
                      context: grpc.ServicerContext) -> spb.RunSettlementResponse:
        if current_principal().kind is not PrincipalKind.OPERATOR:
            raise PermissionDenied("running settlement needs operator credentials", reason="WRONG_CREDENTIALS")
        v = Violations()
        day = sc.date_from(v, "run_date", request.run_date)
        v.raise_if_any()
        raise FailedPrecondition(
            f"a settlement run is a long job and is not run inside the gateway: run `cashier settle run --date "
            f"{day.isoformat()}` (safe to repeat and to resume; it pays nothing twice)", reason="RUN_FROM_CLI")

    def Reconcile(self, request: spb.ReconcileRequest, context: grpc.ServicerContext) -> spb.ReconcileResponse:
        if current_principal().kind is not PrincipalKind.OPERATOR:
            raise PermissionDenied("reconciliation needs operator credentials", reason="WRONG_CREDENTIALS")
        v = Violations()
        day = sc.date_from(v, "date", request.date)
        kinds = sc.statement_kinds_from(v, "kind", request.kind)
        v.raise_if_any()
        if not isinstance(self.queries, SettlementOperations):
            raise FailedPrecondition("this gateway reconciles no statements", reason="NO_STATEMENT_SOURCE")
        reports = self.queries.reconcile(day, kinds)
        return spb.ReconcileResponse(reports=[sc.reconciliation_to_proto(r) for r in reports])
