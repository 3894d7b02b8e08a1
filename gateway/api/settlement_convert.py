"""SettlementService's messages to and from settlement's read models (settlement/service/statements.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cashier.v1 import settlement_service_pb2 as spb
from channels.contract.statements import StatementKind
from gateway.api.convert import enum_maps, timestamp
from gateway.domain.errors import Violations
from gateway.domain.validation import MERCHANT_ID
from settlement.domain import reconciliation as rec
from settlement.domain.accounts import Account, AccountKind
from settlement.domain.ledger import EntryKind
from settlement.domain.reconciliation import Bucket, Item
from settlement.domain.reconciliation import Report as ReconciliationReport
from settlement.service.statements import Balances, LedgerLine, PayoutRow, Statement

CURRENCY = "CNY"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SUFFIXED = {suffix: re.compile(rf"merchants/([^/]+)/{suffix}") for suffix in ("balance", "statement")}
_PAYOUT_NAME = re.compile(r"merchants/([^/]+)/payouts/([A-Za-z0-9_]{1,56})")

ACCOUNT_OUT = {
    AccountKind.MERCHANT_PENDING: spb.LEDGER_ACCOUNT_PENDING,
    AccountKind.MERCHANT_AVAILABLE: spb.LEDGER_ACCOUNT_AVAILABLE,
    AccountKind.MERCHANT_DEPOSIT: spb.LEDGER_ACCOUNT_DEPOSIT,
    AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT: spb.LEDGER_ACCOUNT_PAYOUTS_IN_TRANSIT,
    AccountKind.PLATFORM_FEE_REVENUE: spb.LEDGER_ACCOUNT_FEE_REVENUE,
    AccountKind.CHANNEL_CLEARING: spb.LEDGER_ACCOUNT_CHANNEL_CLEARING,
}
KIND_OUT = {
    EntryKind.PAYMENT_SUCCEEDED: spb.LEDGER_ENTRY_KIND_PAYMENT,
    EntryKind.FEE: spb.LEDGER_ENTRY_KIND_FEE,
    EntryKind.REFUND_SUCCEEDED: spb.LEDGER_ENTRY_KIND_REFUND,
    EntryKind.FEE_RETURNED: spb.LEDGER_ENTRY_KIND_FEE_RETURNED,
    EntryKind.FUNDS_RELEASED: spb.LEDGER_ENTRY_KIND_FUNDS_RELEASED,
    EntryKind.PAYOUT_SENT: spb.LEDGER_ENTRY_KIND_PAYOUT_SENT,
    EntryKind.PAYOUT_CONFIRMED: spb.LEDGER_ENTRY_KIND_PAYOUT_CONFIRMED,
    EntryKind.PAYOUT_FAILED: spb.LEDGER_ENTRY_KIND_PAYOUT_FAILED,
    EntryKind.DEPOSIT_RECORDED: spb.LEDGER_ENTRY_KIND_DEPOSIT_RECORDED,
    EntryKind.DEPOSIT_RELEASED: spb.LEDGER_ENTRY_KIND_DEPOSIT_RELEASED,
    EntryKind.DEPOSIT_APPLIED: spb.LEDGER_ENTRY_KIND_DEPOSIT_APPLIED,
}
PAYOUT_STATE_OUT = {"SENT": spb.PAYOUT_STATE_SENT, "PAID": spb.PAYOUT_STATE_PAID, "FAILED": spb.PAYOUT_STATE_FAILED,
                    "UNKNOWN": spb.PAYOUT_STATE_UNKNOWN, "PARKED": spb.PAYOUT_STATE_PARKED}


# --- decoding -------------------------------------------------------------------------------------


def suffixed_merchant_from(v: Violations, field: str, name: str, suffix: str) -> str:
    """The merchant of `merchants/{merchant}/balance` or `…/statement`."""
    match = _SUFFIXED[suffix].fullmatch(name)
    if match is None or not MERCHANT_ID.fullmatch(match.group(1)):
        v.add(field, f"must be a name such as merchants/shop-1/{suffix}")
        return ""
    return match.group(1)


def payout_name_parts(v: Violations, field: str, name: str) -> tuple[str, str]:
    match = _PAYOUT_NAME.fullmatch(name)
    if match is None or not MERCHANT_ID.fullmatch(match.group(1)):
        v.add(field, "must be a payout name such as merchants/shop-1/payouts/po_…")
        return "", ""
    return match.group(1), match.group(2)


def date_from(v: Violations, field: str, text: str) -> date:
    """A `YYYY-MM-DD` date; required. When refused (added to `v`), date.min stands in until raise_if_any."""
    if not _DATE.fullmatch(text):
        v.add(field, "required: a date written YYYY-MM-DD")
        return date.min
    try:
        return date.fromisoformat(text)
    except ValueError:
        v.add(field, "is no calendar date (YYYY-MM-DD)")
        return date.min


# --- encoding -------------------------------------------------------------------------------------


def balances_to_proto(balances: Balances) -> spb.Balances:
    return spb.Balances(pending=balances[AccountKind.MERCHANT_PENDING],
                        available=balances[AccountKind.MERCHANT_AVAILABLE],
                        deposit=balances[AccountKind.MERCHANT_DEPOSIT],
                        payouts_in_transit=balances[AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT], total=balances.total)


def balance_to_proto(merchant_id: str, balances: Balances) -> spb.Balance:
    return spb.Balance(name=f"merchants/{merchant_id}/balance", balances=balances_to_proto(balances),
                       currency_code=CURRENCY)


def payout_to_proto(row: PayoutRow) -> spb.Payout:
    p = row.payout
    return spb.Payout(name=f"merchants/{p.merchant_id}/payouts/{p.payout_id}", run_date=p.run_date.isoformat(),
                      amount=p.amount, currency_code=CURRENCY,
                      state=PAYOUT_STATE_OUT.get(p.state, spb.PAYOUT_STATE_UNSPECIFIED),
                      part_count=row.part_count, failures=p.failures, create_time=timestamp(row.created_at),
                      update_time=timestamp(row.updated_at))


def payout_from_event(stored: Mapping[str, Any]) -> spb.Payout:
    """The Payout a `payout.paid` / `payout.failed` event stored (settlement/service/run.py `_payout_event`):
    the state the event announces (PAID; FAILED, paid again by the next run; PARKED, waiting for an
    operator), as it stood when the event was written."""
    return spb.Payout(name=str(stored["name"]), run_date=str(stored["run_date"]), amount=int(stored["amount"]),
                      currency_code=str(stored.get("currency", CURRENCY)),
                      state=PAYOUT_STATE_OUT.get(str(stored["state"]), spb.PAYOUT_STATE_UNSPECIFIED),
                      part_count=len(stored.get("parts", ())), failures=int(stored.get("failures", 0)),
                      update_time=timestamp(datetime.fromisoformat(str(stored["updated_at"]))))


def _account(account: Account) -> spb.LedgerAccount:
    return ACCOUNT_OUT.get(account.kind, spb.LEDGER_ACCOUNT_PLATFORM_OTHER)


def _kind(kind: EntryKind | None) -> spb.LedgerEntryKind:
    return KIND_OUT.get(kind, spb.LEDGER_ENTRY_KIND_OTHER) if kind is not None else spb.LEDGER_ENTRY_KIND_OTHER


def entry_to_proto(merchant_id: str, line: LedgerLine) -> spb.LedgerEntry:
    return spb.LedgerEntry(
        name=f"merchants/{merchant_id}/ledgerEntries/{line.entry_id}", kind=_kind(line.kind), reference=line.reference,
        settlement_date=line.settlement_day.isoformat(), create_time=timestamp(line.created_at),
        postings=[spb.LedgerPosting(account=_account(a), amount=amount) for a, amount in line.postings],
        change=balances_to_proto(line.change))


def statement_to_proto(statement: Statement) -> spb.Statement:
    return spb.Statement(
        name=f"merchants/{statement.merchant_id}/statement", start_date=statement.start.isoformat(),
        end_date=statement.end.isoformat(), opening=balances_to_proto(statement.opening),
        movements=[spb.StatementMovement(kind=_kind(m.kind), entry_count=m.entries,
                                         change=balances_to_proto(m.change)) for m in statement.movements],
        closing=balances_to_proto(statement.closing), currency_code=CURRENCY)


# --- reconciliation (Reconcile) -----------------------------------------------------------------------------

STATEMENT_KIND_IN = {spb.STATEMENT_KIND_TRADES: (StatementKind.TRADES,),
                     spb.STATEMENT_KIND_ACCOUNT: (StatementKind.ACCOUNT,),
                     spb.STATEMENT_KIND_UNSPECIFIED: (StatementKind.TRADES, StatementKind.ACCOUNT)}
STATEMENT_KIND_OUT = {rec.TRADES: spb.STATEMENT_KIND_TRADES, rec.ACCOUNT: spb.STATEMENT_KIND_ACCOUNT}
_, BUCKET_OUT = enum_maps(spb.ReconciliationBucket, "RECONCILIATION_BUCKET_", Bucket)


def statement_kinds_from(v: Violations, field: str, kind: int) -> tuple[StatementKind, ...]:
    """The statements a request names; unspecified is both, trades first."""
    if kind not in STATEMENT_KIND_IN:
        v.add(field, "must be STATEMENT_KIND_TRADES, STATEMENT_KIND_ACCOUNT or unspecified (both)")
        return ()
    return STATEMENT_KIND_IN[kind]  # type: ignore[index]


def _item_to_proto(item: Item) -> spb.ReconciliationItem:
    return spb.ReconciliationItem(
        bucket=BUCKET_OUT[item.bucket], line_kind=item.kind, reference=item.reference,
        channel_reference=item.channel_reference, merchant_id=item.merchant_id, our_amount=item.ours,
        statement_amount=item.theirs, statement_fee=item.theirs_fee, expected_fee=item.expected_fee)


def reconciliation_to_proto(report: ReconciliationReport) -> spb.ReconciliationReport:
    return spb.ReconciliationReport(
        date=report.day.isoformat(), kind=STATEMENT_KIND_OUT.get(report.statement_kind, spb.STATEMENT_KIND_UNSPECIFIED),
        source=report.source, line_count=report.lines, statement_amount=report.statement_total,
        totals=[spb.ReconciliationTotal(bucket=BUCKET_OUT[b], count=report.total(b).count,
                                        statement_amount=report.total(b).theirs, our_amount=report.total(b).ours)
                for b in Bucket],
        differences=[_item_to_proto(d) for d in report.differences], unexplained_amount=report.unexplained,
        clean=report.clean)
