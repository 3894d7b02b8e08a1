"""The ledger's entries: every kind balances, a malformed entry is refused naming itself, replays are told
apart from conflicts, and balances read with the documented signs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.domain.errors import InvalidArgument
from settlement.domain import accounts, ledger
from settlement.domain.accounts import Account, AccountKind
from settlement.domain.ledger import EntryKind, JournalEntry, Posting

M = "mch_1"

BUILDERS: list[tuple[EntryKind, Callable[[], JournalEntry], Account, Account]] = [
    (EntryKind.PAYMENT_SUCCEEDED, lambda: ledger.payment_succeeded(M, "pay_1", 1_000),
     accounts.CHANNEL_CLEARING, accounts.pending(M)),
    (EntryKind.FEE, lambda: ledger.fee(M, "pay_1", 6), accounts.pending(M), accounts.FEE_REVENUE),
    (EntryKind.REFUND_SUCCEEDED, lambda: ledger.refund_succeeded(M, "ref_1", 300, released=False),
     accounts.pending(M), accounts.CHANNEL_CLEARING),
    (EntryKind.FEE_RETURNED, lambda: ledger.fee_returned(M, "ref_1", 2, released=True),
     accounts.FEE_REVENUE, accounts.available(M)),
    (EntryKind.FUNDS_RELEASED, lambda: ledger.funds_released(M, "pay_1", 994),
     accounts.pending(M), accounts.available(M)),
    (EntryKind.PAYOUT_SENT, lambda: ledger.payout_sent(M, "po_1_001", 994),
     accounts.available(M), accounts.in_transit(M)),
    (EntryKind.PAYOUT_CONFIRMED, lambda: ledger.payout_confirmed(M, "po_1_001", 994),
     accounts.in_transit(M), accounts.CHANNEL_CLEARING),
    (EntryKind.PAYOUT_FAILED, lambda: ledger.payout_failed(M, "po_1_001", 994),
     accounts.in_transit(M), accounts.available(M)),
    (EntryKind.DEPOSIT_RECORDED, lambda: ledger.deposit_recorded(M, "dep_1", 2_000_000),
     accounts.CHANNEL_CLEARING, accounts.deposit(M)),
    (EntryKind.DEPOSIT_RELEASED, lambda: ledger.deposit_released(M, "dep_1", 2_000_000),
     accounts.deposit(M), accounts.available(M)),
    (EntryKind.DEPOSIT_APPLIED, lambda: ledger.deposit_applied(M, "run_2026-10-08", 500),
     accounts.deposit(M), accounts.available(M)),
    (EntryKind.VERIFICATION_TRANSFER, lambda: ledger.verification_transfer(M, "ver_1", 37),
     accounts.VERIFICATION_TRANSFERS, accounts.CHANNEL_CLEARING),
    (EntryKind.ALIPAY_SERVICE_FEE, lambda: ledger.alipay_service_fee("2026100822001", 4, M),
     accounts.ALIPAY_SERVICE_FEES, accounts.CHANNEL_CLEARING),
    (EntryKind.ALIPAY_SERVICE_FEE_RETURNED, lambda: ledger.alipay_service_fee_returned("ref_1", 1, M),
     accounts.CHANNEL_CLEARING, accounts.ALIPAY_SERVICE_FEES),
    # A difference reconciliation cannot place: our ledger expected 50 fen more than the bill showed.
    (EntryKind.RECONCILIATION_DIFFERENCE, lambda: ledger.reconciliation_difference("rcn:1:1:PAYMENT:1:pay_1", 50, M),
     accounts.SUSPENSE, accounts.CHANNEL_CLEARING),
]


def test_every_entry_kind_has_a_builder() -> None:
    assert {kind for kind, *_ in BUILDERS} == set(EntryKind)


@pytest.mark.parametrize(("kind", "build", "debit", "credit"), BUILDERS, ids=[k.value for k, *_ in BUILDERS])
def test_each_kind_debits_and_credits_the_documented_accounts(
        kind: EntryKind, build: Callable[[], JournalEntry], debit: Account, credit: Account) -> None:
    entry = build()
    assert entry.kind is kind
    assert sum(p.amount for p in entry.postings) == 0
    assert entry.amount_on(debit) > 0
    assert entry.amount_on(credit) == -entry.amount_on(debit)


def test_an_unbalanced_entry_is_refused_naming_it() -> None:
    with pytest.raises(ledger.UnbalancedEntry) as raised:
        JournalEntry(EntryKind.FEE, "pay_7", M, (Posting(accounts.pending(M), 5), Posting(accounts.FEE_REVENUE, -4)))
    assert "fee entry 'pay_7'" in raised.value.message
    assert "sum to 1 fen" in raised.value.message
    assert raised.value.metadata == {"kind": "fee", "reference": "pay_7", "sum": "1"}


@pytest.mark.parametrize(("postings", "words"), [
    ((Posting(accounts.pending(M), 0), Posting(accounts.FEE_REVENUE, 0)), "amount 0"),
    ((Posting(accounts.pending(M), True), Posting(accounts.FEE_REVENUE, -1)), "amount True"),
    ((Posting(accounts.pending(M), 10**16), Posting(accounts.FEE_REVENUE, -(10**16))), "within"),
    ((Posting(accounts.pending(M), 5),), "has 1 postings"),
    ((Posting(accounts.pending("mch_2"), 5), Posting(accounts.FEE_REVENUE, -5)), "posts to merchant:mch_2:pending"),
])
def test_a_malformed_entry_is_refused_naming_it(postings: tuple[Posting, ...], words: str) -> None:
    with pytest.raises(ledger.InvalidEntry) as raised:
        JournalEntry(EntryKind.FEE, "pay_7", M, postings)
    assert "fee entry 'pay_7'" in raised.value.message
    assert words in raised.value.message


@pytest.mark.parametrize("reference", ["", "x" * 129, "pay\n1"])
def test_an_entry_needs_a_printable_bounded_reference(reference: str) -> None:
    with pytest.raises(ledger.InvalidEntry, match="reference"):
        ledger.fee(M, reference, 5)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, 10**16])
def test_builders_refuse_an_amount_that_is_not_positive_whole_fen(amount: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        ledger.payment_succeeded(M, "pay_1", amount)
    assert raised.value.violations[0].field == "amount"


def test_a_payment_is_booked_gross_then_its_fee_and_a_zero_fee_books_no_fee_entry() -> None:
    entries = ledger.book_payment(M, "pay_1", 1_250, 8)
    assert [e.kind for e in entries] == [EntryKind.PAYMENT_SUCCEEDED, EntryKind.FEE]
    raw = ledger.balances(entries)
    assert ledger.read_balance(raw, accounts.pending(M)) == 1_242
    assert ledger.read_balance(raw, accounts.FEE_REVENUE) == 8
    assert ledger.read_balance(raw, accounts.CHANNEL_CLEARING) == 1_250
    assert [e.kind for e in ledger.book_payment(M, "pay_2", 8, 0)] == [EntryKind.PAYMENT_SUCCEEDED]
    with pytest.raises(InvalidArgument) as raised:
        ledger.book_payment(M, "pay_3", 8, 9)
    assert raised.value.violations[0].field == "fee"


def test_a_refund_after_release_comes_out_of_available_and_may_make_it_negative() -> None:
    entries = [*ledger.book_payment(M, "pay_1", 1_000, 6), ledger.funds_released(M, "pay_1", 994),
               ledger.payout_sent(M, "po_1_001", 994), ledger.payout_confirmed(M, "po_1_001", 994),
               *ledger.book_refund(M, "ref_1", 1_000, 6, released=True)]
    raw = ledger.balances(entries)
    assert ledger.read_balance(raw, accounts.available(M)) == -994
    assert ledger.read_balance(raw, accounts.pending(M)) == 0
    assert ledger.read_balance(raw, accounts.FEE_REVENUE) == 0
    assert ledger.read_balance(raw, accounts.CHANNEL_CLEARING) == -994
    assert sum(raw.values()) == 0


def test_a_replay_is_accepted_and_a_conflicting_one_refused() -> None:
    stored = ledger.payment_succeeded(M, "pay_1", 1_000)
    ledger.check_replay(stored, ledger.payment_succeeded(M, "pay_1", 1_000))
    with pytest.raises(ledger.ConflictingReplay, match="payment_succeeded entry 'pay_1' is already booked"):
        ledger.check_replay(stored, ledger.payment_succeeded(M, "pay_1", 1_001))


def test_account_keys_round_trip_and_junk_is_refused() -> None:
    for kind in AccountKind:
        account = Account(kind, M if kind.per_merchant else "")
        assert Account.from_key(account.key) == account
    for junk in ["merchant::pending", "platform:pending", "merchant:m:fee_revenue", "ledger:x", "platform:nope"]:
        with pytest.raises(InvalidArgument) as raised:
            Account.from_key(junk)
        assert raised.value.violations[0].field == "account"
    with pytest.raises(InvalidArgument):
        Account(AccountKind.SUSPENSE, M)
    with pytest.raises(InvalidArgument):
        Account(AccountKind.MERCHANT_PENDING, "a:b")


def test_a_release_of_a_negative_net_moves_it_back_so_pending_ends_at_zero() -> None:
    # Fee kept, payment refunded in full before its release: its pending share is minus the fee.
    entries = [*ledger.book_payment(M, "pay_1", 9, 1), ledger.refund_succeeded(M, "ref_1", 9, released=False)]
    assert ledger.read_balance(ledger.balances(entries), accounts.pending(M)) == -1
    entries.append(ledger.funds_released(M, "pay_1", -1))
    raw = ledger.balances(entries)
    assert ledger.read_balance(raw, accounts.pending(M)) == 0
    assert ledger.read_balance(raw, accounts.available(M)) == -1
    with pytest.raises(InvalidArgument):
        ledger.funds_released(M, "pay_1", 0)
