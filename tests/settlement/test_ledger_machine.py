"""Random sequences of payments, partial and full refunds, releases, deposits, verification transfers and
payout runs (with succeeded, failed and refused transfers), booked through the domain's entry builders and
payout rules, checked after every step against the ledger's invariants. The same machine over real storage
comes with the settlement service; this one proves the rules themselves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gateway.domain.errors import InvalidArgument
from gateway.domain.merchants import SettlementPlan
from settlement.domain import accounts, fees, ledger, payouts
from settlement.domain.accounts import Account, AccountKind
from settlement.domain.fees import RefundFeePolicy
from settlement.domain.ledger import EntryKind, JournalEntry
from settlement.domain.payouts import TransferOutcome

MERCHANTS = ("mch_a", "mch_b")
DEPOSIT_REQUIRED = 100_000  # small, so that sequences reach T+0 and drop below it


@dataclass
class Paid:
    merchant: str
    amount: int
    fee: int
    refunded: int = 0
    fee_back: int = 0
    released: bool = False
    refund_ids: tuple[str, ...] = ()

    @property
    def pending_share(self) -> int:
        return self.amount - self.fee - self.refunded + self.fee_back


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.entries: list[JournalEntry] = []
        self.by_key: dict[tuple[EntryKind, str], JournalEntry] = {}
        self.payments: dict[str, Paid] = {}
        self.deposits: dict[str, tuple[str, int]] = {}  # held deposits: id -> (merchant, amount)
        self.failures = dict.fromkeys(MERCHANTS, 0)
        self.parked: set[str] = set()
        self.negative_since: dict[str, date | None] = dict.fromkeys(MERCHANTS)
        self.money_in = 0  # payments and deposits received
        self.money_out = 0  # refunds, confirmed payouts, verification transfers
        self.serial = 0
        self.day = date(2026, 10, 1)
        self.policy = RefundFeePolicy.PRO_RATA
        self.payout_rules = payouts.PayoutRules()

    @initialize(policy=st.sampled_from(RefundFeePolicy), max_transfer=st.integers(2_000, 50_000),
                t0_merchant=st.booleans())
    def configure(self, policy: RefundFeePolicy, max_transfer: int, t0_merchant: bool) -> None:
        self.policy = policy
        self.payout_rules = payouts.PayoutRules(max_transfer=max_transfer, deposit_required=DEPOSIT_REQUIRED)
        if t0_merchant:  # a T+0 merchant from the start, so that deposits are applied and T+0 is dropped
            self.record_deposit(MERCHANTS[0], DEPOSIT_REQUIRED)

    # --- helpers ----------------------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}_{self.serial}"

    def book(self, entries: Iterable[JournalEntry]) -> None:
        for entry in entries:
            assert entry.key not in self.by_key, f"{entry.key} booked twice"
            self.by_key[entry.key] = entry
            self.entries.append(entry)

    def read(self, account: Account) -> int:
        return account.balance(sum(e.amount_on(account) for e in self.entries))

    # --- operations -------------------------------------------------------------------------------------

    @rule(merchant=st.sampled_from(MERCHANTS), amount=st.integers(1, 20_000), bps=st.sampled_from([0, 38, 60, 600]))
    def pay(self, merchant: str, amount: int, bps: int) -> None:
        payment_id = self.next_id("pay")
        fee = fees.fee_for(amount, bps)
        self.book(ledger.book_payment(merchant, payment_id, amount, fee))
        self.payments[payment_id] = Paid(merchant, amount, fee)
        self.money_in += amount

    @precondition(lambda self: any(p.refunded < p.amount for p in self.payments.values()))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        open_ = sorted(k for k, p in self.payments.items() if p.refunded < p.amount)
        # Refunds of money already released (and often paid out) are the ones that make balances negative.
        released = [k for k in open_ if self.payments[k].released]
        prefer_released = bool(released) and data.draw(st.booleans())
        payment_id = data.draw(st.sampled_from(released if prefer_released else open_))
        paid = self.payments[payment_id]
        left = paid.amount - paid.refunded
        amount = data.draw(st.one_of(st.just(left), st.integers(1, left)))
        share = fees.fee_returned(self.policy, payment_amount=paid.amount, fee=paid.fee,
                                  refunded_before=paid.refunded, refund_amount=amount)
        refund_id = self.next_id("ref")
        self.book(ledger.book_refund(paid.merchant, refund_id, amount, share, released=paid.released))
        event("refund after release" if paid.released else "refund before release")
        paid.refunded += amount
        paid.fee_back += share
        paid.refund_ids += (refund_id,)
        self.money_out += amount

    @precondition(lambda self: any(p.refunded < p.amount for p in self.payments.values()))
    @rule(data=st.data())
    def an_over_refund_is_refused_and_changes_nothing(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(sorted(self.payments)))
        paid = self.payments[payment_id]
        before = len(self.entries)
        with pytest.raises(InvalidArgument):
            fees.fee_returned(self.policy, payment_amount=paid.amount, fee=paid.fee, refunded_before=paid.refunded,
                              refund_amount=paid.amount - paid.refunded + 1)
        assert len(self.entries) == before

    @precondition(lambda self: any(not p.released for p in self.payments.values()))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(sorted(k for k, p in self.payments.items() if not p.released)))
        paid = self.payments[payment_id]
        if paid.pending_share < 0:
            event("release of a negative net")
        if paid.pending_share:
            self.book([ledger.funds_released(paid.merchant, payment_id, paid.pending_share)])
        paid.released = True

    @rule(merchant=st.sampled_from(MERCHANTS), amount=st.one_of(st.just(DEPOSIT_REQUIRED), st.integers(1, 5_000)))
    def record_deposit(self, merchant: str, amount: int) -> None:
        deposit_id = self.next_id("dep")
        self.book([ledger.deposit_recorded(merchant, deposit_id, amount)])
        self.deposits[deposit_id] = (merchant, amount)
        self.money_in += amount

    @precondition(lambda self: bool(self.deposits))
    @rule(data=st.data())
    def release_deposit(self, data: st.DataObject) -> None:
        deposit_id = data.draw(st.sampled_from(sorted(self.deposits)))
        merchant, amount = self.deposits[deposit_id]
        held = self.read(accounts.deposit(merchant))
        if held >= amount:  # part of it may have been applied to a negative balance already
            self.book([ledger.deposit_released(merchant, deposit_id, amount)])
            del self.deposits[deposit_id]

    @rule(merchant=st.sampled_from(MERCHANTS), amount=st.integers(1, 100))
    def verify_account(self, merchant: str, amount: int) -> None:
        self.book([ledger.verification_transfer(merchant, self.next_id("ver"), amount)])
        self.money_out += amount

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data())
    def a_replay_changes_nothing(self, data: st.DataObject) -> None:
        stored = data.draw(st.sampled_from(self.entries))
        replay = JournalEntry(stored.kind, stored.reference, stored.merchant_id, tuple(reversed(stored.postings)))
        ledger.check_replay(self.by_key[replay.key], replay)

    @rule(merchant=st.sampled_from(MERCHANTS),
          outcomes=st.lists(st.sampled_from([TransferOutcome.SUCCEEDED, TransferOutcome.FAILED, TransferOutcome.FAILED,
                                             TransferOutcome.REFUSED_FOR_NOW]), min_size=1, max_size=6),
          release_all=st.booleans())
    def payout_run(self, merchant: str, outcomes: list[TransferOutcome], release_all: bool) -> None:
        self.day += timedelta(days=1)
        # A run first releases what is due (here, at times: everything of this merchant not yet released),
        # so that refunds after payout, negative balances and deposit use come up often.
        for payment_id, paid in sorted(self.payments.items()):
            if release_all and paid.merchant == merchant and not paid.released:
                if paid.pending_share:
                    self.book([ledger.funds_released(merchant, payment_id, paid.pending_share)])
                paid.released = True
        deposit_held = self.read(accounts.deposit(merchant))
        plan = SettlementPlan.T0 if deposit_held >= DEPOSIT_REQUIRED else SettlementPlan.T15
        position = payouts.Position(merchant, self.read(accounts.available(merchant)), deposit_held, plan,
                                    merchant in self.parked, self.negative_since[merchant])
        decision = payouts.decide(position, self.payout_rules, self.day)
        if decision.deposit_applied:
            self.book([ledger.deposit_applied(merchant, f"run_{self.day}_{merchant}", decision.deposit_applied)])
            # Deposits are consumed oldest first, so that a later release returns only what is left.
            need = decision.deposit_applied
            for deposit_id, (owner, amount) in sorted(self.deposits.items()):
                if owner == merchant and need:
                    taken = min(amount, need)
                    need -= taken
                    if taken == amount:
                        del self.deposits[deposit_id]
                    else:
                        self.deposits[deposit_id] = (owner, amount - taken)
        if decision.deposit_applied:
            event("deposit applied to a negative balance")
        if decision.drop_to_t15:
            event("T+0 merchant dropped to T+15")
            assert plan is SettlementPlan.T0 and self.read(accounts.deposit(merchant)) < DEPOSIT_REQUIRED
        self.negative_since[merchant] = decision.negative_since
        if decision.wait is not None:
            event(f"payout waits: {decision.wait.value}")
        elif len(decision.parts) > 1:
            event("payout split into parts")
        if not decision.parts:
            assert self.read(accounts.available(merchant)) == decision.available_after
            return
        payout_id = self.next_id("po")
        seen = []
        returned = 0
        for number, part in enumerate(decision.parts, start=1):
            reference = payouts.transfer_reference(payout_id, number)
            self.book([ledger.payout_sent(merchant, reference, part)])
            outcome = outcomes[(number - 1) % len(outcomes)]
            seen.append(outcome)
            if outcome is TransferOutcome.SUCCEEDED:
                self.book([ledger.payout_confirmed(merchant, reference, part)])
                self.money_out += part
            else:
                before = self.read(accounts.available(merchant))
                self.book([ledger.payout_failed(merchant, reference, part)])
                assert self.read(accounts.available(merchant)) == before + part  # exactly its amount back
                returned += part
        assert self.read(accounts.available(merchant)) == decision.available_after + returned == returned
        after = payouts.after_transfers(seen, self.failures[merchant], self.payout_rules)
        self.failures[merchant] = after.failures
        if after.park:
            event("merchant parked after repeated failures")
            self.parked.add(merchant)

    @precondition(lambda self: bool(self.parked))
    @rule(data=st.data())
    def operator_unparks(self, data: st.DataObject) -> None:
        merchant = data.draw(st.sampled_from(sorted(self.parked)))
        self.parked.discard(merchant)
        self.failures[merchant] = 0

    # --- invariants -------------------------------------------------------------------------------------

    @invariant()
    def every_entry_and_the_ledger_sum_to_zero(self) -> None:
        assert all(sum(p.amount for p in e.postings) == 0 for e in self.entries)
        assert sum(ledger.balances(self.entries).values()) == 0

    @invariant()
    def money_in_equals_money_out_plus_balances(self) -> None:
        raw = ledger.balances(self.entries)
        held = self.money_in - self.money_out
        assert ledger.read_balance(raw, accounts.CHANNEL_CLEARING) == held
        owed = sum(ledger.read_balance(raw, a) for a in raw if a.kind.per_merchant)
        earned = ledger.read_balance(raw, accounts.FEE_REVENUE)
        spent = ledger.read_balance(raw, accounts.VERIFICATION_TRANSFERS)
        assert held == owed + earned - spent

    @invariant()
    def each_fen_of_a_payment_is_net_fee_or_refund(self) -> None:
        for payment_id, paid in self.payments.items():
            entries = [self.by_key[(EntryKind.PAYMENT_SUCCEEDED, payment_id)]]
            entries += [self.by_key[k] for k in [(EntryKind.FEE, payment_id)] if k in self.by_key]
            for refund_id in paid.refund_ids:
                entries += [self.by_key[k] for k in [(EntryKind.REFUND_SUCCEEDED, refund_id),
                                                     (EntryKind.FEE_RETURNED, refund_id)] if k in self.by_key]
            collected = sum(e.amount_on(accounts.CHANNEL_CLEARING) for e in entries if e.kind is EntryKind.PAYMENT_SUCCEEDED)
            refunded = -sum(e.amount_on(accounts.CHANNEL_CLEARING) for e in entries if e.kind is EntryKind.REFUND_SUCCEEDED)
            fee_kept = -sum(e.amount_on(accounts.FEE_REVENUE) for e in entries)
            net = -sum(p.amount for e in entries for p in e.postings if p.account.kind.per_merchant)
            assert collected == paid.amount
            assert collected == net + fee_kept + refunded
            assert 0 <= fee_kept <= paid.fee and 0 <= refunded <= paid.amount
            if self.policy is RefundFeePolicy.PRO_RATA:
                assert net >= 0
                if paid.refunded == paid.amount:
                    assert (net, fee_kept) == (0, 0)
            else:
                # A kept fee is the merchant's to bear: refunding the whole payment costs it the fee.
                assert fee_kept == paid.fee and net >= -paid.fee
                if paid.refunded == paid.amount:
                    assert net == -paid.fee

    @invariant()
    def pending_is_what_is_not_yet_released_and_nothing_stays_in_transit(self) -> None:
        for merchant in MERCHANTS:
            unreleased = sum(p.pending_share for p in self.payments.values() if p.merchant == merchant and not p.released)
            assert self.read(accounts.pending(merchant)) == unreleased
            assert self.read(Account(AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT, merchant)) == 0
            assert self.read(accounts.deposit(merchant)) == sum(
                amount for owner, amount in self.deposits.values() if owner == merchant)


LedgerMachine.TestCase.settings = settings(deadline=None, database=None, derandomize=True, stateful_step_count=40)
test_ledger_machine = LedgerMachine.TestCase
