"""Journal entries: the only way money moves in the ledger. Append-only, each balanced to zero.

An entry is a set of postings (account, signed fen: debit positive, credit negative, see `accounts`) whose
amounts sum to zero; the constructor refuses any other, naming the entry, so an unbalanced entry can never
reach storage. Balances are never stored as facts: they are sums of postings (`balances`), which a cache
may hold but which a recomputation must always agree with.

The functions below build the entry of each kind from plain inputs (amounts in fen, merchant id, the
reference of the thing that caused it). `(kind, reference)` is an entry's identity: storage keeps it unique,
so that the same payment, refund or payout part can never be booked twice, and `check_replay` says whether
a second entry with the same identity is a harmless replay or a conflicting one.

How money flows (debit ← credit):
- payment succeeded: channel clearing ← merchant pending (the gross amount)
- fee:               merchant pending ← platform fee revenue (the platform's fee on that payment)
- refund succeeded:  merchant pending, or available once released ← channel clearing
- fee returned:      platform fee revenue ← the same merchant account (pro-rata fee policy, see `fees`)
- funds released:    merchant pending ← merchant available (the plan's date has come; the reverse for a
                     negative net, see `funds_released`)
- payout sent:       merchant available ← payouts in transit (one entry per transfer part)
- payout confirmed:  payouts in transit ← channel clearing (Alipay said SUCCESS: the money left)
- payout failed:     payouts in transit ← merchant available (exactly the part's amount comes back)
- deposit recorded:  channel clearing ← merchant deposit (the merchant paid it in)
- deposit released:  merchant deposit ← merchant available (paid back by the next payout run, through the
                     same rail and checks as every payout rather than a second way out)
- deposit applied:   merchant deposit ← merchant available (covers a negative available balance)
- verification transfer: verification cost ← channel clearing
- Alipay service fee:    Alipay fee cost ← channel clearing (from the bills)
- Alipay fee returned:   channel clearing ← Alipay fee cost (given back with a refund, from the trade bill)
- reconciliation difference: suspense ← channel clearing, or the reverse (settlement/domain/reconciliation.py)
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from settlement.domain import accounts
from settlement.domain.accounts import Account

# One posting's bound: far above any real movement (Alipay's largest trade is 10^10 fen), far below what a
# 64-bit column can sum over many postings. Anything beyond it is a bug upstream, refused here.
MAX_POSTING = 10**15
MAX_REFERENCE = 128
MAX_POSTINGS = 16


class EntryKind(enum.Enum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    FEE = "fee"
    REFUND_SUCCEEDED = "refund_succeeded"
    FEE_RETURNED = "fee_returned"
    FUNDS_RELEASED = "funds_released"
    PAYOUT_SENT = "payout_sent"
    PAYOUT_CONFIRMED = "payout_confirmed"
    PAYOUT_FAILED = "payout_failed"
    DEPOSIT_RECORDED = "deposit_recorded"
    DEPOSIT_RELEASED = "deposit_released"
    DEPOSIT_APPLIED = "deposit_applied"
    VERIFICATION_TRANSFER = "verification_transfer"
    ALIPAY_SERVICE_FEE = "alipay_service_fee"
    # The share of Alipay's fee it gives back with a refund (the trade bill's negative fee on a refund line).
    ALIPAY_SERVICE_FEE_RETURNED = "alipay_service_fee_returned"
    # What reconciliation with the rail's statement cannot place: suspense against channel clearing.
    RECONCILIATION_DIFFERENCE = "reconciliation_difference"


class LedgerBug(ValueError):
    """A journal entry that must never be built: a bug in the caller, never stored. Not a CashierError: no
    caller's request can cause it, so a face answers it as INTERNAL (with the request id), never as the
    caller's mistake. Carries a reason and metadata for the log."""

    reason = "LEDGER_BUG"

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.metadata = metadata or {}


class UnbalancedEntry(LedgerBug):
    """An entry whose postings do not sum to zero."""

    reason = "UNBALANCED_ENTRY"


class InvalidEntry(LedgerBug):
    """An entry that is malformed in another way (too few postings, a zero or out-of-range amount, another
    merchant's account): a bug in the caller, never stored."""

    reason = "INVALID_ENTRY"


class ConflictingReplay(FailedPrecondition):
    """An entry with the identity of a stored one but other postings: the cause was booked differently."""

    reason = "CONFLICTING_ENTRY"


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    amount: int  # fen; debit > 0, credit < 0, never 0


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: EntryKind
    reference: str  # what caused it: a payment, refund, payout part, deposit or verification id
    merchant_id: str  # whose money moved; "" only for the platform's own costs with no merchant known
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        name = f"{self.kind.value} entry {self.reference[:MAX_REFERENCE]!r}"
        meta = {"kind": self.kind.value, "reference": self.reference[:MAX_REFERENCE]}
        if not (0 < len(self.reference) <= MAX_REFERENCE) or not self.reference.isprintable():
            raise InvalidEntry(f"{name}: the reference must be 1 to {MAX_REFERENCE} printable characters",
                               metadata=meta)
        if not (2 <= len(self.postings) <= MAX_POSTINGS):
            raise InvalidEntry(f"{name} has {len(self.postings)} postings; an entry has 2 to {MAX_POSTINGS}",
                               metadata=meta)
        for posting in self.postings:
            amount = posting.amount
            # bool is an int to Python; a True posted as 1 fen would be a silent bug.
            if type(amount) is not int or amount == 0 or abs(amount) > MAX_POSTING:
                raise InvalidEntry(f"{name}: posting to {posting.account.key} has amount {amount!r}; "
                                   f"amounts are non-zero integer fen within ±{MAX_POSTING}", metadata=meta)
            # An entry moves one merchant's money at most: keeps every entry on one merchant's shard.
            if posting.account.kind.per_merchant and posting.account.merchant_id != self.merchant_id:
                raise InvalidEntry(f"{name} for merchant {self.merchant_id!r} posts to {posting.account.key}",
                                   metadata=meta)
        total = sum(p.amount for p in self.postings)
        if total != 0:
            raise UnbalancedEntry(f"{name} does not balance: its postings sum to {total} fen, not 0",
                                  metadata={**meta, "sum": str(total)})

    @property
    def key(self) -> tuple[EntryKind, str]:
        return (self.kind, self.reference)

    def amount_on(self, account: Account) -> int:
        return sum(p.amount for p in self.postings if p.account == account)


def check_replay(stored: JournalEntry, new: JournalEntry) -> None:
    """Accept `new` as a replay of `stored` (same identity, same postings), or refuse it naming both."""
    if stored.key != new.key:
        raise ValueError("check_replay compares entries of the same identity")
    if sorted(_cells(stored)) != sorted(_cells(new)) or stored.merchant_id != new.merchant_id:
        raise ConflictingReplay(
            f"{new.kind.value} entry {new.reference!r} is already booked with other postings",
            metadata={"kind": new.kind.value, "reference": new.reference})


def _cells(entry: JournalEntry) -> list[tuple[str, int]]:
    return [(p.account.key, p.amount) for p in entry.postings]


def balances(entries: Iterable[JournalEntry]) -> dict[Account, int]:
    """Raw sums per account (debit positive); `Account.balance` turns one into its read sign."""
    sums: dict[Account, int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            sums[posting.account] += posting.amount
    return dict(sums)


def read_balance(raw: Mapping[Account, int], account: Account) -> int:
    return account.balance(raw.get(account, 0))


# --- building entries ---------------------------------------------------------------------------------

def _move(kind: EntryKind, reference: str, merchant_id: str, debit: Account, credit: Account,
          amount: int, field: str) -> JournalEntry:
    _check_amount(field, amount)
    return JournalEntry(kind, reference, merchant_id, (Posting(debit, amount), Posting(credit, -amount)))


def _check_amount(field: str, amount: int) -> None:
    if type(amount) is not int or not (0 < amount <= MAX_POSTING):
        raise InvalidArgument([FieldViolation(field, f"must be a positive whole number of fen up to {MAX_POSTING}")])


def payment_succeeded(merchant_id: str, payment_id: str, amount: int) -> JournalEntry:
    return _move(EntryKind.PAYMENT_SUCCEEDED, payment_id, merchant_id,
                 accounts.CHANNEL_CLEARING, accounts.pending(merchant_id), amount, "amount")


def fee(merchant_id: str, payment_id: str, fee_amount: int) -> JournalEntry:
    return _move(EntryKind.FEE, payment_id, merchant_id,
                 accounts.pending(merchant_id), accounts.FEE_REVENUE, fee_amount, "fee")


def book_payment(merchant_id: str, payment_id: str, amount: int, fee_amount: int) -> tuple[JournalEntry, ...]:
    """The entries of a payment's success: the gross amount, then the fee (none when the fee is 0)."""
    if type(fee_amount) is not int or not (0 <= fee_amount <= amount):
        raise InvalidArgument([FieldViolation("fee", "must be whole fen between 0 and the payment's amount")])
    entries = [payment_succeeded(merchant_id, payment_id, amount)]
    if fee_amount:
        entries.append(fee(merchant_id, payment_id, fee_amount))
    return tuple(entries)


def _merchant_side(merchant_id: str, released: bool) -> Account:
    # Before its funds are released a refund comes out of pending; after, out of available (which may then
    # go negative, to be netted from the next payouts or the deposit: see `payouts`).
    return accounts.available(merchant_id) if released else accounts.pending(merchant_id)


def refund_succeeded(merchant_id: str, refund_id: str, amount: int, *, released: bool) -> JournalEntry:
    return _move(EntryKind.REFUND_SUCCEEDED, refund_id, merchant_id,
                 _merchant_side(merchant_id, released), accounts.CHANNEL_CLEARING, amount, "amount")


def fee_returned(merchant_id: str, refund_id: str, fee_amount: int, *, released: bool) -> JournalEntry:
    return _move(EntryKind.FEE_RETURNED, refund_id, merchant_id,
                 accounts.FEE_REVENUE, _merchant_side(merchant_id, released), fee_amount, "fee_returned")


def book_refund(merchant_id: str, refund_id: str, amount: int, fee_returned_amount: int, *,
                released: bool) -> tuple[JournalEntry, ...]:
    """The entries of a refund's success: the amount back to the buyer, then the fee given back (if any)."""
    if type(fee_returned_amount) is not int or not (0 <= fee_returned_amount <= amount):
        raise InvalidArgument([FieldViolation("fee_returned", "must be whole fen between 0 and the refund's amount")])
    entries = [refund_succeeded(merchant_id, refund_id, amount, released=released)]
    if fee_returned_amount:
        entries.append(fee_returned(merchant_id, refund_id, fee_returned_amount, released=released))
    return tuple(entries)


def funds_released(merchant_id: str, reference: str, amount: int) -> JournalEntry:
    """Move what is due from pending to available. `amount` is the net of what is due, which is negative
    when a kept fee outweighs it (a payment refunded in full before release, its fee kept, leaves its fee
    owed): then the same entry moves that much the other way, so pending still ends at exactly what is not
    yet due."""
    if type(amount) is int and amount < 0:
        return _move(EntryKind.FUNDS_RELEASED, reference, merchant_id,
                     accounts.available(merchant_id), accounts.pending(merchant_id), -amount, "amount")
    return _move(EntryKind.FUNDS_RELEASED, reference, merchant_id,
                 accounts.pending(merchant_id), accounts.available(merchant_id), amount, "amount")


def payout_sent(merchant_id: str, transfer_reference: str, amount: int) -> JournalEntry:
    return _move(EntryKind.PAYOUT_SENT, transfer_reference, merchant_id,
                 accounts.available(merchant_id), accounts.in_transit(merchant_id), amount, "amount")


def payout_confirmed(merchant_id: str, transfer_reference: str, amount: int) -> JournalEntry:
    return _move(EntryKind.PAYOUT_CONFIRMED, transfer_reference, merchant_id,
                 accounts.in_transit(merchant_id), accounts.CHANNEL_CLEARING, amount, "amount")


def payout_failed(merchant_id: str, transfer_reference: str, amount: int) -> JournalEntry:
    return _move(EntryKind.PAYOUT_FAILED, transfer_reference, merchant_id,
                 accounts.in_transit(merchant_id), accounts.available(merchant_id), amount, "amount")


def deposit_recorded(merchant_id: str, deposit_id: str, amount: int) -> JournalEntry:
    return _move(EntryKind.DEPOSIT_RECORDED, deposit_id, merchant_id,
                 accounts.CHANNEL_CLEARING, accounts.deposit(merchant_id), amount, "amount")


def deposit_released(merchant_id: str, deposit_id: str, amount: int) -> JournalEntry:
    return _move(EntryKind.DEPOSIT_RELEASED, deposit_id, merchant_id,
                 accounts.deposit(merchant_id), accounts.available(merchant_id), amount, "amount")


def deposit_applied(merchant_id: str, reference: str, amount: int) -> JournalEntry:
    return _move(EntryKind.DEPOSIT_APPLIED, reference, merchant_id,
                 accounts.deposit(merchant_id), accounts.available(merchant_id), amount, "amount")


def verification_transfer(merchant_id: str, verification_id: str, amount: int) -> JournalEntry:
    return _move(EntryKind.VERIFICATION_TRANSFER, verification_id, merchant_id,
                 accounts.VERIFICATION_TRANSFERS, accounts.CHANNEL_CLEARING, amount, "amount")


def alipay_service_fee(reference: str, amount: int, merchant_id: str = "") -> JournalEntry:
    return _move(EntryKind.ALIPAY_SERVICE_FEE, reference, merchant_id,
                 accounts.ALIPAY_SERVICE_FEES, accounts.CHANNEL_CLEARING, amount, "amount")


def alipay_service_fee_returned(refund_id: str, amount: int, merchant_id: str = "") -> JournalEntry:
    return _move(EntryKind.ALIPAY_SERVICE_FEE_RETURNED, refund_id, merchant_id,
                 accounts.CHANNEL_CLEARING, accounts.ALIPAY_SERVICE_FEES, amount, "amount")


# --- reconciliation (settlement/domain/reconciliation.py) ---------------------------------------------

def reconciliation_difference(reference: str, unexplained: int, merchant_id: str = "") -> JournalEntry:
    """Fen reconciliation cannot place, against suspense: `unexplained` is ours minus the rail's (signed).
    Positive (the ledger expected more than the rail shows): suspense ← channel clearing, so that clearing
    agrees with the rail and suspense, debit-normal, reads positive. Negative (the rail shows more): the
    reverse, channel clearing ← suspense. A later run books the change since (its own reference), which
    returns suspense to zero once the difference is resolved."""
    if type(unexplained) is int and unexplained < 0:
        return _move(EntryKind.RECONCILIATION_DIFFERENCE, reference, merchant_id,
                     accounts.CHANNEL_CLEARING, accounts.SUSPENSE, -unexplained, "unexplained")
    return _move(EntryKind.RECONCILIATION_DIFFERENCE, reference, merchant_id,
                 accounts.SUSPENSE, accounts.CHANNEL_CLEARING, unexplained, "unexplained")
