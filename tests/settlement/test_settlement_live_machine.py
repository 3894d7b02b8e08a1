"""The ledger's invariants over the live settlement paths, on SQLite and PostgreSQL (issue 18, "Done when", first
bullet): a hypothesis state machine whose rules are the product's own operations (tests/settlement/
live_support.py): payments paid by the Alipay sandbox's signed notification through the notification path's
service call, partial and full refunds through the refund service and the sandbox, deposits recorded and
released and plans changed through onboarding, settlement runs through the function `cashier settle run`
calls, paid through the sandbox in certificate mode told per run to pay, refuse, answer too late or with a
system error (UNKNOWN, settled by a later run's query) or refuse for the platform's quota or balance;
reconciliations of a day with Alipay's trade and account bills (the sandbox's, on the simulated clock),
replayed; replays of an operation under the same key, and rejected operations. After every step the stored
ledger, the balance cache, suspense and the sandbox's own record of transfers must agree (the invariants
below).

Bounded for `make test` (a few examples of up to STEPS steps per database); `--hypothesis-profile=long
--timeout 0` runs 10,000 examples."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from channels.contract.actions import AppPay
from channels.contract.statements import StatementKind, StatementNotReady
from gateway.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from gateway.domain.merchants import SettlementPlan
from gateway.domain.refunds import NewRefund, RefundState
from gateway.service.payments import CreatePayment
from gateway.service.refunds import RefundPayment
from settlement.domain import reconciliation as rec
from settlement.domain.calendar import plan_in_effect, settlement_day
from settlement.domain.fees import RefundFeePolicy, fee_for, fee_returned
from settlement.domain.payouts import ALIPAY_MIN_TRANSFER as MIN_TRANSFER
from settlement.domain.reconciliation import Bucket
from settlement.service.ledger import backfill, recompute_balances
from tests.settlement.live_support import (
    ALIPAY_FEE_BPS,
    DEPOSIT_REQUIRED,
    FAULTS,
    FEE_BPS,
    OPERATOR,
    LiveAlipay,
    LiveGateway,
    database,
)
from tests.support import PG_URL_ENV

EXAMPLES, STEPS = 5, 18
CLEARING, REVENUE = "platform:channel_clearing", "platform:fee_revenue"
VERIFICATION = "platform:verification_transfers"
ALIPAY_FEES, SUSPENSE = "platform:alipay_service_fees", "platform:suspense"
AMOUNTS = st.one_of(st.integers(1, 60_000), st.sampled_from([1, 9, 10, 166, 50_000]))
Entries = dict[tuple[str, str], tuple[str, date, dict[str, int]]]
PAYMENTS = st.lists(st.tuples(st.integers(0, 1), AMOUNTS), min_size=1, max_size=3)


@dataclass
class Paid:
    merchant_id: str
    amount: int
    fee: int
    body: bytes
    refunded: int = 0
    refunds: list[tuple[str, int, str]] = field(default_factory=list)  # (out_refund_no, amount, refund id)
    # Per refund id, whether the payment's day had been released when it succeeded: then it comes out of
    # available (netted from the next payout), else out of pending.
    released_before: dict[str, bool] = field(default_factory=dict)


def _account(merchant_id: str, kind: str) -> str:
    return f"merchant:{merchant_id}:{kind}"


class LiveSettlementMachine(RuleBasedStateMachine):
    """Set up per example by `live_machine` below (the sandbox and the database kind come from fixtures)."""

    alipay: LiveAlipay
    database_kind: str
    folder: Path

    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        url = self.stack.enter_context(database(self.database_kind, self.folder))
        self.alipay.reset()
        self.live: LiveGateway = self.stack.enter_context(LiveGateway.open(self.alipay, url))
        self.merchants = [s.merchant_id for s in self.live.shops]
        self.payments: dict[str, Paid] = {}
        self.deposits: dict[str, tuple[str, int, str]] = {}  # deposit id -> (merchant, amount, reference)
        self.last_run: date | None = None
        self.serial = 0

    def teardown(self) -> None:
        self.stack.close()

    # --- helpers -------------------------------------------------------------------------------------------

    def next_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def snapshot(self) -> tuple[Any, ...]:
        """Everything an operation could change: the ledger, payments, refunds, deposits, plans, payouts, events."""
        live = self.live
        return (live.entries(), live.query("SELECT payment_id, state, refunded_amount, refund_reserved, fee_bps "
                                           "FROM payments ORDER BY payment_id"),
                live.query("SELECT refund_id, state, amount FROM refunds ORDER BY refund_id"),
                live.query("SELECT deposit_id, state, amount FROM deposits ORDER BY deposit_id"),
                live.query("SELECT merchant_id, effective_on, plan FROM settlement_plans "
                           "ORDER BY merchant_id, effective_on"),
                live.payout_rows(), live.query("SELECT COUNT(*) FROM events"),
                sorted((t["out_biz_no"], t["status"]) for t in self.alipay.transfers()))

    def raw(self, account: str) -> int:
        return int(self.live.query("SELECT COALESCE(SUM(amount), 0) FROM ledger_postings WHERE account = :a",
                                   a=account)[0][0])

    def available(self, merchant_id: str) -> int:
        return -self.raw(_account(merchant_id, "available"))

    def open_payments(self) -> list[str]:
        return sorted(p for p, paid in self.payments.items() if paid.refunded < paid.amount)

    # --- payments ------------------------------------------------------------------------------------------

    @initialize(payments=PAYMENTS)
    def some_payments_succeed(self, payments: list[tuple[int, int]]) -> None:
        self.payments_succeed(payments)

    @rule(payments=PAYMENTS)
    def payments_succeed(self, payments: list[tuple[int, int]]) -> None:
        for shop, amount in payments:
            self.a_payment_succeeds(shop, amount)

    def a_payment_succeeds(self, shop: int, amount: int) -> None:
        merchant_id = self.merchants[shop]
        live = self.live
        payment = live.gateway.payments.create(CreatePayment(live.principal, live.new_payment(merchant_id, amount)))
        assert isinstance(payment.action, AppPay)  # the mobile channel: the app SDK's order string
        self.alipay.pay(payment.action.order_string)
        body = self.alipay.notification_body(payment.id)
        paid = live.notify(payment.id, body)
        assert paid.state.value == "SUCCEEDED" and paid.fee_bps == FEE_BPS
        self.payments[payment.id] = Paid(merchant_id, amount, fee_for(amount, FEE_BPS), body)

    @precondition(lambda self: bool(self.payments))
    @rule(data=st.data(), what=st.sampled_from(["notification", "refund", "deposit"]))
    def a_replayed_operation_changes_nothing(self, data: st.DataObject, what: str) -> None:
        """The same notification again (Alipay resends it), the same refund under its out_refund_no, the same
        deposit under its bank reference: the answer of the first, and nothing stored changes."""
        if what == "refund" and not any(p.refunds for p in self.payments.values()):
            what = "notification"
        if what == "deposit" and not self.deposits:
            what = "notification"
        event(f"replayed: {what}")
        live = self.live
        before = self.snapshot()
        if what == "notification":
            payment_id = data.draw(st.sampled_from(sorted(self.payments)))
            live.notify(payment_id, self.payments[payment_id].body)
        elif what == "refund":
            payment_id = data.draw(st.sampled_from(sorted(p for p, paid in self.payments.items() if paid.refunds)))
            paid = self.payments[payment_id]
            out_refund_no, amount, refund_id = data.draw(st.sampled_from(paid.refunds))
            again = live.gateway.refunds.refund(RefundPayment(live.principal, NewRefund(
                paid.merchant_id, payment_id, out_refund_no, amount)))
            assert again.id == refund_id
        else:
            deposit_id = data.draw(st.sampled_from(sorted(self.deposits)))
            merchant_id, amount, reference = self.deposits[deposit_id]
            assert live.gateway.onboarding.record_deposit(OPERATOR, merchant_id, amount, reference).id == deposit_id
        assert self.snapshot() == before

    # --- refunds -------------------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.open_payments()))
    @rule(data=st.data())
    def a_refund_succeeds(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(self.open_payments()))
        paid = self.payments[payment_id]
        left = paid.amount - paid.refunded
        amount = data.draw(st.one_of(st.just(left), st.integers(1, left)), label="refund")
        out_refund_no = self.next_key("R")
        entries = self.live.entries()
        day = entries[("payment_succeeded", payment_id)][1]
        released = any(kind == "funds_released" and merchant == paid.merchant_id and on == day
                       for (kind, _), (merchant, on, _) in entries.items())
        done = self.live.gateway.refunds.refund(RefundPayment(self.live.principal, NewRefund(
            paid.merchant_id, payment_id, out_refund_no, amount)))
        assert done.state is RefundState.SUCCEEDED, done
        paid.refunded += amount
        paid.refunds.append((out_refund_no, amount, done.id))
        paid.released_before[done.id] = released
        event("full refund" if paid.refunded == paid.amount else "partial refund")

    @precondition(lambda self: bool(self.payments))
    @rule(data=st.data(), how=st.sampled_from(["too_much", "key_reused", "bad_deposit", "t0_without_deposit"]))
    def a_rejected_operation_changes_nothing(self, data: st.DataObject, how: str) -> None:
        payment_id = data.draw(st.sampled_from(sorted(self.payments)))
        paid = self.payments[payment_id]
        live = self.live
        before = self.snapshot()
        if how == "key_reused" and not paid.refunds:
            how = "too_much"
        if how == "t0_without_deposit" and self.held(paid.merchant_id) >= DEPOSIT_REQUIRED:
            how = "bad_deposit"
        event(f"rejected: {how}")
        if how == "too_much":
            with pytest.raises((FailedPrecondition, InvalidArgument)):
                live.gateway.refunds.refund(RefundPayment(live.principal, NewRefund(
                    paid.merchant_id, payment_id, self.next_key("R"), paid.amount - paid.refunded + 1)))
        elif how == "key_reused":
            out_refund_no, amount, _ = paid.refunds[0]
            with pytest.raises(AlreadyExists):
                live.gateway.refunds.refund(RefundPayment(live.principal, NewRefund(
                    paid.merchant_id, payment_id, out_refund_no, amount + 1)))
        elif how == "bad_deposit":
            with pytest.raises(InvalidArgument):
                live.gateway.onboarding.record_deposit(OPERATOR, paid.merchant_id, 0, self.next_key("bank"))
        else:
            with pytest.raises(FailedPrecondition):
                live.gateway.onboarding.set_plan(OPERATOR, paid.merchant_id, SettlementPlan.T0)
        assert self.snapshot() == before

    # --- deposits and plans --------------------------------------------------------------------------------

    def held(self, merchant_id: str) -> int:
        return sum(d.amount for d in self.live.gateway.onboarding.list_deposits(merchant_id)
                   if d.state.value == "HELD")

    @rule(shop=st.integers(0, 1), amount=st.sampled_from([DEPOSIT_REQUIRED, DEPOSIT_REQUIRED, 5_000]))
    def a_deposit_is_recorded(self, shop: int, amount: int) -> None:
        merchant_id = self.merchants[shop]
        reference = self.next_key("bank")
        deposit = self.live.gateway.onboarding.record_deposit(OPERATOR, merchant_id, amount, reference)
        assert self.live.entries()[("deposit_recorded", deposit.id)][2] == {
            CLEARING: amount, _account(merchant_id, "deposit"): -amount}  # booked in the deposit's transaction
        # The operator's `cashier settle backfill` finds everything booked already, as it would have booked it.
        report = backfill(self.live.uow, now=self.live.clock)
        assert (report.payments, report.fees, report.refunds, report.fees_returned, report.deposits) == (0, 0, 0, 0, 0)
        self.deposits[deposit.id] = (merchant_id, amount, reference)

    @precondition(lambda self: bool(self.deposits))
    @rule(data=st.data())
    def a_deposit_is_released(self, data: st.DataObject) -> None:
        deposit_id = data.draw(st.sampled_from(sorted(self.deposits)))
        merchant_id = self.deposits[deposit_id][0]
        try:
            released, _ = self.live.gateway.onboarding.release_deposit(OPERATOR, merchant_id, deposit_id)
        except FailedPrecondition:
            event("deposit release refused: not held")
            return
        event(f"deposit {released.state.value.lower()}")

    @rule(shop=st.integers(0, 1), plan=st.sampled_from(SettlementPlan))
    def a_plan_is_chosen(self, shop: int, plan: SettlementPlan) -> None:
        merchant_id = self.merchants[shop]
        if plan is SettlementPlan.T0 and self.held(merchant_id) < DEPOSIT_REQUIRED:
            return  # a_rejected_operation_changes_nothing covers the refusal
        schedule = self.live.gateway.onboarding.set_plan(OPERATOR, merchant_id, plan)
        assert (schedule.next_plan or schedule.plan) is plan
        event(f"plan {plan.value}")

    # --- settlement runs -----------------------------------------------------------------------------------

    @rule(skip=st.one_of(st.just(0), st.integers(0, 16)), mode=st.sampled_from(sorted(FAULTS)))
    def a_settlement_run(self, skip: int, mode: str) -> None:
        live = self.live
        live.clock.to_day(live.clock.today + timedelta(days=1 + skip))
        run_date = live.clock.today - timedelta(days=1)
        self.settle(run_date, mode)

    @precondition(lambda self: self.last_run is not None)
    @rule()
    def a_second_run_for_the_same_date_pays_nothing_new(self) -> None:
        assert self.last_run is not None
        payouts_before = {r.payout_id for r in self.live.payout_rows()[0]}
        self.settle(self.last_run, "succeed")
        payouts_after = self.live.payout_rows()[0]
        # A second run resumes what is open; it creates a payout only for a merchant the first left unpaid.
        for row in payouts_after:
            if row.payout_id not in payouts_before:
                assert row.run_date == self.last_run
        assert len({(r.merchant_id, r.run_date) for r in payouts_after}) == len(payouts_after)

    def settle(self, run_date: date, mode: str) -> None:
        live = self.live
        entries_before = live.entries()
        payouts_before = {r.payout_id for r in live.payout_rows()[0]}
        available_before = {m: self.available(m) for m in self.merchants}
        self.alipay.set_faults(mode)
        try:
            report = live.settle(run_date)
        finally:
            self.alipay.set_faults("succeed")
        self.last_run = run_date
        assert all(m.state != "ERROR" for m in report.merchants + report.resumed), report
        for m in report.merchants + report.resumed:
            event(f"run {mode}: {m.state}")
        entries = live.entries()
        new = {k: v for k, v in entries.items() if k not in entries_before}
        payout_rows, part_rows = live.payout_rows()
        for payout in payout_rows:
            if payout.payout_id in payouts_before:
                continue
            merchant_id = payout.merchant_id
            # Released by this run, given by the deposit, or given back by an earlier payout this run settled.
            released = sum(-lines.get(_account(merchant_id, "available"), 0) for (kind, ref), (m, _, lines)
                           in new.items() if m == merchant_id and (kind in ("funds_released", "deposit_applied") or (
                               kind == "payout_failed" and not ref.startswith(payout.payout_id))))
            # A payout is what the merchant had available once the run released what was due: the negative of
            # a refund is netted before anything is paid, and nothing more is paid than is available.
            assert payout.amount == available_before[merchant_id] + released >= MIN_TRANSFER, payout
            parts = [p for p in part_rows if p.payout_id == payout.payout_id]
            assert sum(p.amount for p in parts) == payout.amount
            returned = sum(p.amount for p in parts if p.state in ("FAILED", "REFUSED_FOR_NOW"))
            # A failed or refused part gives exactly its amount back to available; the rest left it.
            assert self.available(merchant_id) == returned, (payout, parts)
        for m in report.merchants:
            if m.state in ("NEGATIVE", "NOTHING_DUE", "BELOW_MINIMUM"):
                assert self.available(m.merchant_id) < MIN_TRANSFER

    # --- reconciliation with Alipay's bills -------------------------------------------------------------------

    @precondition(lambda self: bool(self.payments))
    @rule(data=st.data())
    def a_reconciliation(self, data: st.DataObject) -> None:
        """A day with payments reconciled against Alipay's trade bill, then its account bill (the sandbox's,
        on the simulated clock), then both again: the second time books nothing. Today's waits for the next
        morning (the clock moves there), when Alipay has made its bills."""
        live = self.live
        # The days on which money moved at Alipay: payments, and transfers (a run's are on the day after its
        # date). The latest is drawn half the time, so that a run's transfers, UNKNOWN ones too, are reconciled.
        moved = {day for (kind, _), (_, day, _) in live.entries().items() if kind == "payment_succeeded"}
        moved |= {settlement_day(part.updated_at) for part in live.payout_rows()[1]}
        days = sorted(moved)
        if days[-1] >= live.clock.today:
            live.clock.to_day(live.clock.today + timedelta(days=1))
        day = data.draw(st.one_of(st.just(days[-1]), st.sampled_from(days)), label="day")
        reports = []
        for kind in (StatementKind.TRADES, StatementKind.ACCOUNT):
            try:
                reports.append(live.reconcile(day, kind))
            except StatementNotReady:  # Alipay makes no bill for a day on which nothing moved
                event(f"reconcile {kind.value}: no bill")
                return
        trades, account = reports
        # Every payment and refund went through Alipay and was told to the gateway: the trade bill agrees,
        # and Alipay's fee on each trade is the contracted one (else FEE_DIFFERENCE), booked once as a cost.
        assert trades.clean, trades.differences
        entries = live.entries()
        for (kind, payment_id), (_, paid_on, _) in entries.items():
            if kind == "payment_succeeded" and paid_on == day:
                fee = rec.expected_fee(self.payments[payment_id].amount, ALIPAY_FEE_BPS)
                booked_fee = entries.get(("alipay_service_fee", payment_id), ("", day, {}))[2].get(ALIPAY_FEES, 0)
                assert booked_fee == fee, (payment_id, booked_fee, fee)
        # The account bill may show a transfer Alipay made whose answer the ledger is still waiting for
        # (UNKNOWN until a later run asks): missing on our side, and only such a transfer.
        paid = {p.out_biz_no for p in live.payout_rows()[1] if p.state == "PAID"}
        for item in account.differences:
            assert (item.bucket, item.kind) == (Bucket.MISSING_OURS, rec.TRANSFER), item
            assert item.channel_reference not in paid and item.reference not in paid, item
        event(f"reconcile: account bill {'clean' if account.clean else 'with a transfer not yet confirmed'}")
        booked = entries  # nothing was booked since they were read
        again = [live.reconcile(day, kind) for kind in (StatementKind.TRADES, StatementKind.ACCOUNT)]
        assert [(r.totals, r.unexplained) for r in again] == [(r.totals, r.unexplained) for r in reports]
        assert live.entries() == booked

    # --- invariants ----------------------------------------------------------------------------------------

    @invariant()
    def the_ledger_the_cache_and_alipay_agree(self) -> None:
        """Read once per step (the ledger, the sandbox's transfers), checked four ways."""
        entries, transfers = self.live.entries(), self.alipay.transfers()
        self.the_ledger_balances_and_the_cache_agrees()
        self.money_in_equals_money_out_plus_balances(entries, transfers)
        self.each_fen_of_a_payment_is_net_fee_or_refund(entries)
        self.nothing_is_paid_twice_or_before_it_is_available(entries, transfers)
        self.suspense_holds_what_reconciliation_could_not_place()

    def suspense_holds_what_reconciliation_could_not_place(self) -> None:
        unexplained = self.live.query("SELECT COALESCE(SUM(unexplained), 0) FROM reconciliations "
                                      "WHERE finished_at IS NOT NULL")[0][0]
        assert self.raw(SUSPENSE) == int(unexplained)

    def the_ledger_balances_and_the_cache_agrees(self) -> None:
        assert self.live.query("SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING SUM(amount) <> 0") == []
        check = recompute_balances(self.live.uow)  # what `cashier settle balances --check` runs
        assert check.ok, check

    def money_in_equals_money_out_plus_balances(self, entries: Entries, transfers: list[dict[str, Any]]) -> None:
        paid_in = sum(p.amount for p in self.payments.values())
        refunded = sum(p.refunded for p in self.payments.values())
        # Deposits received and given back, and the account-verification transfers onboarding sent (each checked
        # against Alipay's record).
        deposits = sum(lines.get(CLEARING, 0) for (kind, _), (_, _, lines) in entries.items()
                       if kind in ("deposit_recorded", "deposit_released"))
        verified = -sum(lines.get(CLEARING, 0) for (kind, _), (_, _, lines) in entries.items()
                        if kind == "verification_transfer")
        assert verified == sum(t["fen"] for t in transfers if t["status"] == "SUCCESS" and t["out_biz_no"].startswith("vat_"))
        # Paid out: what Alipay paid for the parts the ledger has confirmed (a part Alipay paid whose answer is
        # still UNKNOWN is in transit, owed to no one else: nothing_is_paid_twice checks it).
        paid_parts = {p.out_biz_no for p in self.live.payout_rows()[1] if p.state == "PAID"}
        transferred = sum(t["fen"] for t in transfers if t["status"] == "SUCCESS" and t["out_biz_no"] in paid_parts)
        # Reconciliation takes Alipay's service fees (net of those given back) and what it could not place out
        # of clearing.
        reconciled = self.raw(ALIPAY_FEES) + self.raw(SUSPENSE)
        assert self.raw(CLEARING) == paid_in - refunded + deposits - transferred - verified - reconciled
        owed = sum(-self.raw(_account(m, k)) for m in self.merchants
                   for k in ("pending", "available", "deposit", "payouts_in_transit"))
        assert self.raw(CLEARING) == owed - self.raw(REVENUE) - self.raw(VERIFICATION) - reconciled

    def each_fen_of_a_payment_is_net_fee_or_refund(self, entries: Entries) -> None:
        for payment_id, paid in self.payments.items():
            pending = _account(paid.merchant_id, "pending")
            assert entries[("payment_succeeded", payment_id)][2] == {CLEARING: paid.amount, pending: -paid.amount}
            fee = entries.get(("fee", payment_id), ("", None, {}))[2].get(REVENUE, 0) * -1
            assert fee == paid.fee
            back = refunded = 0
            before = 0
            for _, amount, refund_id in paid.refunds:
                side = _account(paid.merchant_id, "available") if paid.released_before[refund_id] else pending
                assert entries[("refund_succeeded", refund_id)][2] == {side: amount, CLEARING: -amount}
                share = entries.get(("fee_returned", refund_id), ("", None, {}))[2].get(REVENUE, 0)
                assert share == fee_returned(RefundFeePolicy.PRO_RATA, payment_amount=paid.amount, fee=paid.fee,
                                             refunded_before=before, refund_amount=amount)
                before += amount
                back += share
                refunded += amount
            net = paid.amount - (paid.fee - back) - refunded
            assert refunded == paid.refunded and 0 <= back <= paid.fee and net >= 0
            if refunded == paid.amount:
                assert (net, back) == (0, paid.fee)

    def nothing_is_paid_twice_or_before_it_is_available(self, entries: Entries, transfers: list[dict[str, Any]]
                                                        ) -> None:
        live = self.live
        payout_rows, part_rows = live.payout_rows()
        owner = {p.payout_id: p.merchant_id for p in payout_rows}
        at_alipay = {t["out_biz_no"]: t for t in transfers}
        for merchant_id in self.merchants:
            parts = [p for p in part_rows if owner[p.payout_id] == merchant_id]
            paid_at_alipay = sum(at_alipay[p.out_biz_no]["fen"] for p in parts if p.out_biz_no in at_alipay
                                 and at_alipay[p.out_biz_no]["status"] == "SUCCESS")
            confirmed = sum(lines.get(CLEARING, 0) * -1 for (kind, _), (m, _, lines) in entries.items()
                            if kind == "payout_confirmed" and m == merchant_id)
            in_transit = sum(p.amount for p in parts if p.state in ("SENT", "UNKNOWN"))
            paid_unanswered = sum(p.amount for p in parts if p.state in ("SENT", "UNKNOWN")
                                  and at_alipay.get(p.out_biz_no, {}).get("status") == "SUCCESS")
            assert paid_at_alipay == confirmed + paid_unanswered
            assert -self.raw(_account(merchant_id, "payouts_in_transit")) == in_transit
        for part in part_rows:
            sent = entries[("payout_sent", part.out_biz_no)][2]
            assert sent == {_account(owner[part.payout_id], "available"): part.amount,
                            _account(owner[part.payout_id], "payouts_in_transit"): -part.amount}
            failed = entries.get(("payout_failed", part.out_biz_no))
            booked = entries.get(("payout_confirmed", part.out_biz_no))
            alipay = at_alipay.get(part.out_biz_no)
            if part.state == "PAID":
                assert booked is not None and failed is None and alipay is not None and alipay["status"] == "SUCCESS"
            elif part.state in ("FAILED", "REFUSED_FOR_NOW"):
                # Exactly its amount back, and Alipay paid nothing under this out_biz_no.
                assert failed is not None and booked is None
                assert failed[2][_account(owner[part.payout_id], "available")] == -part.amount
                assert alipay is None or alipay["status"] != "SUCCESS"
            else:
                assert failed is None and booked is None
        # A day's money is released only on or after its available date under the plan in effect on that day.
        calendar = live.gateway.settings.settlement.calendar()
        with live.uow() as tx:
            changes = {m: tx.plans.changes(m) for m in self.merchants}
        for (kind, reference), (merchant_id, day, _) in entries.items():
            if kind == "funds_released":
                run_date = date.fromisoformat(reference.rsplit("@", 1)[1])
                assert calendar.available_on(day, plan_in_effect(changes[merchant_id], day)) <= run_date, reference


@pytest.fixture(scope="module")
def alipay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAlipay]:
    with LiveAlipay.start(tmp_path_factory.mktemp("alipay")) as started:
        yield started


@pytest.mark.parametrize("database_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_settlement_live_machine(alipay: LiveAlipay, database_kind: str, tmp_path: Path) -> None:
    if database_kind == "postgresql" and not __import__("os").environ.get(PG_URL_ENV):
        pytest.skip(f"PostgreSQL not configured: set {PG_URL_ENV}")
    LiveSettlementMachine.alipay = alipay
    LiveSettlementMachine.database_kind = database_kind
    LiveSettlementMachine.folder = tmp_path
    run_machine = LiveSettlementMachine.TestCase
    # The ci profile's count would take minutes here: a few examples, unless a bigger profile (long) is loaded.
    loaded = settings()  # the profile loaded (tests/conftest.py: ci, or long on the command line)
    bounded = loaded.max_examples <= settings.get_profile("ci").max_examples
    run_machine.settings = settings(loaded, max_examples=EXAMPLES if bounded else loaded.max_examples,
                                    stateful_step_count=STEPS, deadline=None, database=None,
                                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                                    # No shrinking: an example costs a database and a gateway, shrinking took
                                    # minutes; the failing steps are printed as they ran.
                                    phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_machine().runTest()
