"""The settlement run for a date: release what is due, then one payout per merchant through the payout rail.

1. **Release** (`release_due`): per batch of merchants, one transaction: the releases due on the run date
   are summed in SQL and booked as `funds released` entries (settlement/storage/release.py), idempotent on
   their reference.
2. **Payouts** (`pay_merchant`), per merchant, in three steps so that no transaction is open while the rail
   is called (as refunds do):
   a. one transaction: lock the merchant's row, find this run's payout (a second run, or a restarted one,
      resumes it) or decide one from the available balance (`payouts.decide`: netting, deposit, minimum,
      splitting, parking) and create it with its parts and their `payout sent` entries (available → in
      transit);
   b. outside any transaction: each part not yet answered goes to the rail under its out_biz_no (a part
      found SENT by a resumed run, or UNKNOWN, is first asked about with `query`: sent again only when the
      rail has no record of it, which the rail's own de-duplication on out_biz_no makes safe anyway);
   c. one transaction per answer: the part's state changes only from SENT or UNKNOWN (a conditional
      UPDATE), and only the run that changed it books `payout confirmed` (in transit → out, against channel
      clearing) or `payout failed` (exactly the part's amount back to available). UNKNOWN books nothing:
      the next run asks the rail again, never guesses.
   When every part has an outcome, `payouts.after_transfers` sets the merchant's failure count and parks
   its payouts after `max_failures` failed runs.
Idempotent and resumable: the payout is unique per (merchant, run date), its creation serialised per
merchant by the merchant's row lock, and each part's out_biz_no is one Alipay refuses to pay twice.
Up to `rules.payout_concurrency` merchants are paid at once (`[settlement] payout_concurrency`, `_pay_all`),
each merchant's payouts one after another on one thread (`_chains`); the report keeps its order and
`on_progress` is called in the calling thread.

In step a's transaction, with the `deposit applied` entry: a T+0 merchant whose deposit falls below the
requirement drops to T+15 from the next settlement day (plan change, merchant's plan, an audit row by the
system, a `merchant.settlement_plan_changed` event per authorised app); the date the balance first went
negative is kept (table `negative_balances`) and NEGATIVE_BALANCE flagged after `negative_days`. In step
c's, with the payout's outcome: `payout.paid` or `payout.failed` per authorised app. Working days that
cannot be counted (a year past the holiday library with no holiday file) stop the release, never the
payouts of money already available: HOLIDAYS_UNKNOWN is flagged and the report says why.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from channels.contract.payouts import (
    TRANSFER_NOT_FOUND,
    PayoutRail,
    RefusalReason,
    TransferAnswer,
    TransferOutcome,
    TransferPurpose,
    TransferRequest,
)
from gateway.domain.events import MERCHANT_SETTLEMENT_PLAN_CHANGED, PAYOUT_FAILED, PAYOUT_PAID, Event
from gateway.domain.flags import Flag, FlagKind
from gateway.domain.merchants import SettlementPlan
from gateway.domain.onboarding.audit import Actor, ActorKind, AuditEvent
from gateway.domain.onboarding.settlement import DepositState, PlanChange, next_settlement_day
from settlement.domain import accounts, ledger
from settlement.domain import payouts as rules_
from settlement.domain.calendar import Calendar, WorkingDaysUnknown, plan_in_effect
from settlement.domain.ledger import EntryKind
from settlement.domain.payouts import PayoutRules, Position
from settlement.domain.payouts import TransferOutcome as PartOutcome
from settlement.service.ledger import refresh_balances
from settlement.service.payout_ports import DueDays, Payout, PayoutPart
from settlement.service.ports import SettlementUnitOfWork, SettlementUnitOfWorkFactory

log = logging.getLogger(__name__)
BATCH = 500  # merchants per release transaction
OPEN = ("SENT", "UNKNOWN")
_PART_OUTCOME = {"PAID": PartOutcome.SUCCEEDED, "FAILED": PartOutcome.FAILED,
                 "REFUSED_FOR_NOW": PartOutcome.REFUSED_FOR_NOW, "UNKNOWN": PartOutcome.UNKNOWN,
                 "SENT": PartOutcome.UNKNOWN}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def new_payout_id() -> str:
    return "po_" + secrets.token_hex(12)  # 27 characters: fits transfer_reference's 56 with room


@dataclass
class MerchantResult:
    merchant_id: str
    payout_id: str = ""
    amount: int = 0  # fen sent (or resumed) in this run
    state: str = ""  # the payout's state after the run, or why nothing was paid (a payouts.Wait, NO_ACCOUNT)
    parts: int = 0


@dataclass
class RunReport:
    run_date: date
    released_entries: int = 0
    released_amount: int = 0  # net fen moved from pending to available
    merchants: list[MerchantResult] = field(default_factory=list)
    resumed: list[MerchantResult] = field(default_factory=list)  # earlier runs' payouts settled by this one
    # Why nothing was released (working days unknown for the run's dates), "" when the release ran.
    release_skipped: str = ""
    deposits_released: int = 0  # fen of deposits given back to available (released on or before the run date)

    def total(self, state: str) -> int:
        return sum(m.amount for m in self.merchants if m.state == state)


# --- 1. release ------------------------------------------------------------------------------------------

def due_days(calendar: Calendar, run_date: date) -> DueDays:
    return DueDays(run_date, calendar.last_day_due(run_date, SettlementPlan.T0),
                   calendar.last_day_due(run_date, SettlementPlan.T15))


def release_due(uow: SettlementUnitOfWorkFactory, run_date: date, *, now: Callable[[], datetime] = _utc_now,
                batch: int = BATCH, calendar: Calendar | None = None) -> tuple[int, int]:
    """Release what is due on `run_date` for every merchant, a batch of merchants per transaction; returns
    (entries booked or replayed, net fen released). Calendar days unless `calendar` says otherwise."""
    due = due_days(calendar or Calendar(), run_date)
    entries = amount = 0
    after = ""
    while True:
        with uow() as tx:
            merchant_ids = tx.ledger_release.merchants_due(due, after, batch)
        if not merchant_ids:
            return entries, amount
        with uow(write=True) as tx:
            booked = tx.ledger_release.release(due, merchant_ids, now())
            tx.commit()
        entries += len(booked)
        amount += sum(e.amount_on(accounts.available(e.merchant_id)) * -1 for e in booked)
        after = merchant_ids[-1]


# --- 2. payouts ------------------------------------------------------------------------------------------

def _position(tx: SettlementUnitOfWork, merchant_id: str, run_date: date) -> tuple[Position, int]:
    raw = tx.ledger.balances(merchant_id)
    available = accounts.available(merchant_id)
    deposit = accounts.deposit(merchant_id)
    latest = tx.settlement_payouts.latest(merchant_id, run_date)
    plan = plan_in_effect(tx.plans.changes(merchant_id), run_date)
    since = tx.settlement_payouts.negative_since(merchant_id)
    position = Position(merchant_id, available.balance(raw.get(available, 0)), deposit.balance(raw.get(deposit, 0)),
                        plan, parked=latest is not None and latest.state == "PARKED",
                        # A run for an earlier date than the one that stored it counts from its own date.
                        negative_since=since if since is not None and since <= run_date else None)
    return position, latest.failures if latest is not None else 0


def rail_account(rail: PayoutRail) -> str:
    """Which account of which rail pays: `name:account` when the rail says (channels/contract/payouts.py:
    Alipay's app id), else the rail's name."""
    account = getattr(rail, "account", "")
    return f"{rail.name}:{account}"[:100] if account else rail.name


def open_payout(uow: SettlementUnitOfWorkFactory, merchant_id: str, run_date: date, rules: PayoutRules,
                now: Callable[[], datetime], account: str = "") -> tuple[Payout | None, str]:
    """Step a: this run's payout of the merchant, found (with its state) or created ("CREATED") to be sent
    from `account` (`rail_account`), or None with why nothing is paid."""
    with uow(write=True) as tx:
        if not tx.settlement_payouts.lock_merchant(merchant_id):
            return None, "NO_MERCHANT"
        existing = tx.settlement_payouts.get(merchant_id, run_date)
        if existing is not None:
            return existing, existing.state
        position, failures = _position(tx, merchant_id, run_date)
        decision = rules_.decide(position, rules, run_date)
        at = now()
        # A second application the same day (a refund after the first run) finds T+15 scheduled already.
        drop = decision.drop_to_t15 and plan_in_effect(tx.plans.changes(merchant_id),
                                                       next_settlement_day(at)) is not SettlementPlan.T15
        if drop:  # level 1 (the merchant's rows) before the ledger's level 5
            _drop_to_t15(tx, merchant_id, position, decision, rules, at)
        if decision.deposit_applied:
            tx.ledger.append([ledger.deposit_applied(merchant_id, _deposit_reference(tx, merchant_id, run_date),
                                                     decision.deposit_applied)], settlement_day=run_date, at=at)
        tx.settlement_payouts.set_negative_since(merchant_id, decision.negative_since, at)
        if drop:
            for app_id in tx.merchant_setup.authorized_apps(merchant_id):
                tx.events.add(_plan_event(merchant_id, app_id, position, decision, at))
        if decision.flag_negative and decision.negative_since is not None:
            since = decision.negative_since
            tx.flags.raise_flag(Flag.raise_(
                FlagKind.NEGATIVE_BALANCE, merchant_id=merchant_id, payment_id=f"neg_{since.isoformat()}",
                channel="", now=at, detail=(
                    f"the available balance of {merchant_id} has been negative since {since.isoformat()} "
                    f"({(run_date - since).days} days; {decision.available_after} fen on "
                    f"{run_date.isoformat()}) and no deposit is left to cover it")))
        if not decision.parts:
            tx.commit()
            return None, decision.wait.value if decision.wait else "NOTHING_DUE"
        payee = tx.settlement_payouts.payee(merchant_id)
        if payee is None:
            tx.commit()
            return None, "NO_ACCOUNT"
        payout = Payout(new_payout_id(), merchant_id, run_date, decision.amount, "SENT", failures, *payee, account)
        parts = [PayoutPart(payout.payout_id, n, rules_.transfer_reference(payout.payout_id, n), amount, "SENT")
                 for n, amount in enumerate(decision.parts, start=1)]
        tx.ledger.append([ledger.payout_sent(merchant_id, p.out_biz_no, p.amount) for p in parts],
                         settlement_day=run_date, at=at)
        tx.settlement_payouts.add(payout, parts, at)
        tx.commit()
        return payout, "CREATED"


def _drop_to_t15(tx: SettlementUnitOfWork, merchant_id: str, position: Position, decision: rules_.Decision,
                 rules: PayoutRules, at: datetime) -> None:
    """A T+0 merchant's deposit paid a negative balance and is now below `deposit_required`: from the next
    settlement day its money comes on T+15 (never retroactively: money taken before keeps T+0), recorded as
    onboarding records a plan change (settlement_plans, the merchant's plan, an audit row by the system)."""
    effective_on = next_settlement_day(at)
    tx.plans.put(PlanChange(merchant_id, SettlementPlan.T15, effective_on, at))
    tx.merchant_setup.set_plan(merchant_id, SettlementPlan.T15)
    tx.audit.add(AuditEvent.create(
        actor=Actor(ActorKind.SYSTEM, "settlement"), action="merchant.settlement_plan_dropped", now=at,
        subject=f"merchants/{merchant_id}/settlementSchedule", merchant_id=merchant_id,
        before={"plan": position.plan.value, "deposit_held": position.deposit_held},
        after={"plan": SettlementPlan.T15.value, "effective_on": effective_on.isoformat(),
               "deposit_held": position.deposit_held - decision.deposit_applied,
               "deposit_applied": decision.deposit_applied, "deposit_required": rules.deposit_required}))


def _plan_event(merchant_id: str, app_id: str, position: Position, decision: rules_.Decision,
                at: datetime) -> Event:
    return Event.create(type=MERCHANT_SETTLEMENT_PLAN_CHANGED, merchant_id=merchant_id, app_id=app_id, now=at, data={
        "settlement_schedule": {
            "name": f"merchants/{merchant_id}/settlementSchedule", "plan": SettlementPlan.T15.value,
            "previous_plan": position.plan.value, "effective_on": next_settlement_day(at).isoformat(),
            "reason": "DEPOSIT_APPLIED", "deposit_applied": decision.deposit_applied,
            "deposit_held": position.deposit_held - decision.deposit_applied}})


def _deposit_reference(tx: SettlementUnitOfWork, merchant_id: str, run_date: date) -> str:
    """A new reference for the merchant's next deposit application on `run_date`: numbered, so that a second
    application the same day (a refund after the first run) is a new entry, never mistaken for a replay.
    Called under the merchant's lock, so no other run numbers it at the same time."""
    for n in range(1, 1000):
        reference = f"{merchant_id}@{run_date.isoformat()}#{n}"
        if tx.ledger.get(EntryKind.DEPOSIT_APPLIED, reference) is None:
            return reference
    raise RuntimeError(f"deposit of {merchant_id} applied 999 times on {run_date.isoformat()}")


def _ask(rail: PayoutRail, payout: Payout, part: PayoutPart, fresh: bool) -> TransferAnswer:
    """Step b for one part: send it (a part this run created), or ask first and send only if the rail never
    saw it. A rail that raises is UNKNOWN (channels/contract/payouts.py)."""
    request = TransferRequest(part.out_biz_no, part.amount, payout.payee_logon_id, payout.payee_name,
                              TransferPurpose.PAYOUT, title=f"Payout {payout.run_date.isoformat()}")
    try:
        if not fresh:
            answer = rail.query(part.out_biz_no)
            if not (answer.outcome is TransferOutcome.UNKNOWN and answer.detail == TRANSFER_NOT_FOUND):
                return answer
        return rail.transfer(request)
    except Exception as exc:  # noqa: BLE001 - the contract: an exception is UNKNOWN, never an outcome
        log.warning("payout rail raised for %s: %s", part.out_biz_no, type(exc).__name__)
        return TransferAnswer.unknown(part.out_biz_no, type(exc).__name__)


def _refused_state(answer: TransferAnswer) -> str:
    refusal = answer.refusal
    assert refusal is not None
    # The platform's own limits: not the merchant's failure (payouts.after_transfers).
    if refusal.reason is RefusalReason.INSUFFICIENT_BALANCE or refusal.rail_code.startswith("EXCEED_LIMIT"):
        return "REFUSED_FOR_NOW"
    return "FAILED"


def record_answer(uow: SettlementUnitOfWorkFactory, payout: Payout, part: PayoutPart, answer: TransferAnswer,
                  rules: PayoutRules, now: Callable[[], datetime], rail_name: str = "") -> str:
    """Step c: book the part's outcome once, and the payout's when every part has one; returns its state."""
    merchant_id, at = payout.merchant_id, now()
    with uow(write=True) as tx:
        tx.settlement_payouts.lock_merchant(merchant_id)
        store = tx.settlement_payouts
        if answer.outcome is TransferOutcome.SUCCEEDED:
            if store.settle_part(part.out_biz_no, OPEN, "PAID", answer.reference, "", at):
                tx.ledger.append([ledger.payout_confirmed(merchant_id, part.out_biz_no, part.amount)],
                                 settlement_day=payout.run_date, at=at)
        elif answer.outcome is TransferOutcome.REFUSED:
            assert answer.refusal is not None
            reason = f"{answer.refusal.reason.value}: {answer.refusal.rail_code}"
            if store.settle_part(part.out_biz_no, OPEN, _refused_state(answer), answer.reference, reason, at):
                tx.ledger.append([ledger.payout_failed(merchant_id, part.out_biz_no, part.amount)],
                                 settlement_day=payout.run_date, at=at)
        else:
            store.settle_part(part.out_biz_no, ("SENT",), "UNKNOWN", "", answer.detail, at)
        parts = store.parts(payout.payout_id)
        state = _payout_state(parts, payout, rules)
        if state is not None:
            outcome, failures = state
            if store.finish(payout.payout_id, OPEN, outcome, failures, at):
                for app_id in tx.merchant_setup.authorized_apps(merchant_id):
                    tx.events.add(_payout_event(payout, parts, outcome, failures, app_id, at))
                _flag(tx, payout, parts, outcome, rail_name, at)
        current = store.by_id(payout.payout_id)
        tx.commit()
    return current.state if current is not None else "SENT"


def _payout_event(payout: Payout, parts: list[PayoutPart], outcome: str, failures: int, app_id: str,
                  at: datetime) -> Event:
    """payout.paid (every part paid) or payout.failed (a part failed or was refused: its money is available
    again; `retried` says whether the next run pays it, false once the merchant's payouts are parked)."""
    paid = outcome == "PAID"
    return Event.create(type=PAYOUT_PAID if paid else PAYOUT_FAILED, merchant_id=payout.merchant_id,
                        app_id=app_id, now=at, data={
        "payout": {
            "name": f"merchants/{payout.merchant_id}/payouts/{payout.payout_id}",
            "payout_id": payout.payout_id,
            "run_date": payout.run_date.isoformat(),
            "amount": payout.amount,
            "paid_amount": sum(p.amount for p in parts if p.state == "PAID"),
            "currency": "CNY",
            "state": outcome,
            "retried": outcome != "PARKED" and not paid,
            "failures": failures,
            "parts": [{"part": p.part, "out_biz_no": p.out_biz_no, "amount": p.amount, "state": p.state}
                      for p in parts],
            "updated_at": at.isoformat(),
        }})


def _flag(tx: SettlementUnitOfWork, payout: Payout, parts: list[PayoutPart], outcome: str, rail_name: str,
          at: datetime) -> None:
    """Tell an operator (last in the transaction: the lock order's flags level) what a run cannot settle on
    its own: parked payouts, and transfers refused for the platform's own quota or balance."""
    if outcome == "PARKED":
        kind, detail = FlagKind.PAYOUT_PARKED, (
            f"payouts of {payout.merchant_id} failed {payout.failures + 1} runs and are parked; the last "
            f"({payout.payout_id}, {payout.run_date.isoformat()}) returned {payout.amount} fen to available")
    elif any(p.state == "REFUSED_FOR_NOW" for p in parts):
        kind, detail = FlagKind.PAYOUT_REFUSED, (
            f"payout {payout.payout_id} of {payout.merchant_id} was refused for the platform's quota or "
            f"balance; its money is available again and the next run pays it")
    else:
        return
    tx.flags.raise_flag(Flag.raise_(kind, merchant_id=payout.merchant_id, payment_id=payout.payout_id,
                                    channel=rail_name, detail=detail, now=at))


def _payout_state(parts: list[PayoutPart], payout: Payout, rules: PayoutRules) -> tuple[str, int] | None:
    outcomes = [_PART_OUTCOME[p.state] for p in parts]
    if any(p.state == "SENT" for p in parts):
        return None  # another part is still being sent by this run
    # The failure count before this payout: the payout row keeps it until the payout is decided.
    after = rules_.after_transfers(outcomes, payout.failures, rules)
    if after.undecided:
        return "UNKNOWN", payout.failures
    if after.park:
        return "PARKED", after.failures
    if all(o is PartOutcome.SUCCEEDED for o in outcomes):
        return "PAID", after.failures
    return "FAILED", after.failures


def settle_payout(uow: SettlementUnitOfWorkFactory, rail: PayoutRail, payout: Payout, rules: PayoutRules,
                  now: Callable[[], datetime], *, fresh: bool) -> str:
    """Steps b and c for every open part of `payout`; returns the payout's state after. Parts sent from
    another account than the rail's now are left as they are, and flagged: that account alone knows them."""
    with uow() as tx:
        parts = [p for p in tx.settlement_payouts.parts(payout.payout_id) if p.state in OPEN]
        current = tx.settlement_payouts.by_id(payout.payout_id)
    state = current.state if current is not None else payout.state
    account = rail_account(rail)
    if parts and payout.rail_account and payout.rail_account != account:
        _flag_rail_changed(uow, payout, account, now())
        return state
    for part in parts:
        answer = _ask(rail, payout, part, fresh=fresh and part.state == "SENT")
        state = record_answer(uow, payout, part, answer, rules, now, rail.name)
    return state


def _flag_rail_changed(uow: SettlementUnitOfWorkFactory, payout: Payout, account: str, at: datetime) -> None:
    with uow(write=True) as tx:
        tx.flags.raise_flag(Flag.raise_(
            FlagKind.PAYOUT_RAIL_CHANGED, merchant_id=payout.merchant_id, payment_id=payout.payout_id, channel="",
            now=at, detail=(f"payout {payout.payout_id} was sent from {payout.rail_account} and its answer is not "
                            f"known; the payout rail now pays from {account}, which cannot know that transfer, so "
                            f"it is neither asked about nor sent again: configure {payout.rail_account} again to "
                            "settle it, or ask Alipay about its out_biz_no")))
        tx.commit()


def pay_merchant(uow: SettlementUnitOfWorkFactory, rail: PayoutRail, merchant_id: str, run_date: date,
                 rules: PayoutRules, *, now: Callable[[], datetime] = _utc_now) -> MerchantResult:
    payout, why = open_payout(uow, merchant_id, run_date, rules, now, rail_account(rail))
    if payout is None:
        return MerchantResult(merchant_id, state=why)
    # A payout found rather than created may have been sent by a run that crashed: ask before sending.
    state = settle_payout(uow, rail, payout, rules, now, fresh=why == "CREATED")
    return MerchantResult(merchant_id, payout.payout_id, payout.amount, state, len(_parts(uow, payout)))


def release_deposits(uow: SettlementUnitOfWorkFactory, run_date: date, now: Callable[[], datetime]) -> int:
    """Deposits whose release was scheduled (RELEASING: the merchant left T+0, and T+15 is in effect by
    `release_on`) and is due by the run date go back to the merchant: deposit → available, paid out with the
    rest by this run. One transaction per deposit, its merchant's row locked first (the lock order); a
    deposit another run released meanwhile is skipped (a conditional UPDATE). Returns the fen released."""
    released = 0
    while True:
        with uow() as tx:
            due = tx.deposits.releasing_due(run_date, BATCH)
        if not due:
            return released
        for deposit in due:
            with uow(write=True) as tx:
                at = now()
                tx.settlement_payouts.lock_merchant(deposit.merchant_id)
                done = replace(deposit, state=DepositState.RELEASED, released_at=at)
                if tx.deposits.save(done, DepositState.RELEASING):
                    tx.ledger.append([ledger.deposit_released(deposit.merchant_id, deposit.id, deposit.amount)],
                                     settlement_day=run_date, at=at)
                    tx.audit.add(AuditEvent.create(
                        actor=Actor(ActorKind.SYSTEM, "settlement"), action="deposit.released", now=at,
                        subject=f"merchants/{deposit.merchant_id}/deposits/{deposit.id}",
                        merchant_id=deposit.merchant_id, before={"state": deposit.state.value},
                        after={"state": done.state.value, "amount": deposit.amount}))
                    released += deposit.amount
                tx.commit()
        if len(due) < BATCH:
            return released


# --- the run ---------------------------------------------------------------------------------------------

def run(uow: SettlementUnitOfWorkFactory, rail: PayoutRail, run_date: date, rules: PayoutRules, *,
        now: Callable[[], datetime] = _utc_now, calendar: Calendar | None = None,
        on_merchants: Callable[[int], None] | None = None,
        on_progress: Callable[[MerchantResult], None] | None = None) -> RunReport:
    """The whole run for `run_date` (module docstring): release, settle payouts left open by earlier runs
    (UNKNOWN, or a crash), then pay each merchant with money available, and refresh the balance cache.

    One merchant's error (a conflicting entry, a database error) does not stop the others: it is logged and
    reported as ERROR, and that merchant's payout, if created, is resumed by the next run."""
    report = RunReport(run_date)
    try:
        report.released_entries, report.released_amount = release_due(uow, run_date, now=now, calendar=calendar)
    except WorkingDaysUnknown as exc:
        # The run's due days cannot be counted for any merchant: release nothing rather than guess, tell an
        # operator, and still pay out what is already available.
        report.release_skipped = str(exc)
        _flag_holidays(uow, exc, now())
    report.deposits_released = release_deposits(uow, run_date, now)
    with uow() as tx:
        left_open = tx.settlement_payouts.open_payouts(run_date)
    resumed = {p.merchant_id for p in left_open if p.run_date == run_date}
    merchants = [m for m in _every(uow, lambda tx, after: tx.ledger_release.merchants_with_available(after, BATCH))
                 if m not in resumed]
    # Merchants negative at their last run, now back to zero: visited so that their date is forgotten.
    known = set(merchants) | resumed
    merchants += [m for m in _every(uow, lambda tx, after: tx.settlement_payouts.negative_merchants(after, BATCH))
                  if m not in known]
    merchants.sort()
    if on_merchants is not None:
        on_merchants(len(left_open) + len(merchants))
    steps: list[_Step] = [(p.merchant_id, functools.partial(_resume, uow, rail, p, rules, now)) for p in left_open]
    steps += [(m, functools.partial(pay_merchant, uow, rail, m, run_date, rules, now=now)) for m in merchants]
    results: dict[int, MerchantResult] = {}

    def done(n: int, result: MerchantResult) -> None:  # called in this thread, never in the pool's
        results[n] = result
        if on_progress is not None:
            on_progress(result)  # the CLI's progress bar is not thread-safe

    _pay_all(_chains(steps), rules.payout_concurrency, done)
    # The report in the order of the steps, whatever order they finished in: left_open as listed, then the
    # merchants sorted; a restarted run's own payout is reported with the merchants', an earlier run's as
    # resumed.
    for n, payout in enumerate(left_open):
        (report.merchants if payout.run_date == run_date else report.resumed).append(results[n])
    report.merchants += [results[n] for n in range(len(left_open), len(steps))]
    refresh_balances(uow, now=now)
    return report


_Step = tuple[str, Callable[[], MerchantResult]]  # (merchant id, what settles one of its payouts)
_Chain = list[tuple[int, _Step]]  # one merchant's steps, each with its place in the report


def _chains(steps: list[_Step]) -> list[_Chain]:
    """The steps grouped per merchant, in their order, the merchants in order of their first step.

    A merchant's steps are never run at once, nor out of order: `left_open` holds earlier runs' payouts
    (run_date before this run's, left UNKNOWN or by a crash) of merchants that may also be in `merchants`
    (only this run's own open payouts are kept out of it, by `resumed`). Settled first, such a payout may
    give its amount back to available, count a failure or park the merchant, which this run's decision for
    that merchant must see, as it did when a run paid one merchant after another. So resumed payouts share
    the pool with new ones, but never ahead of their own merchant's chain. Different merchants share nothing
    a payout writes (each its own row lock; ledger entries, payout rows and events are appended per
    merchant) and may go at once."""
    chains: dict[str, _Chain] = {}
    for n, step in enumerate(steps):
        chains.setdefault(step[0], []).append((n, step))
    return list(chains.values())


def _pay_chain(chain: _Chain) -> list[tuple[int, MerchantResult]]:
    return [(n, _isolated(merchant_id, pay)) for n, (merchant_id, pay) in chain]


def _pay_all(chains: list[_Chain], workers: int, done: Callable[[int, MerchantResult], None]) -> None:
    """Run every chain, giving each result to `done` in the calling thread: with `workers` 1 one chain after
    another in this thread (merchant by merchant, as before the setting); else on at most `workers` threads of a pool, a chain on one
    thread, `done` called as chains finish. Between a payout's transactions a thread waits for the rail
    (steps a to c), which is where the time goes, so the database sees at most `workers` short
    transactions at once (SQLite: queued on the factory's write lock within a process, on busy_timeout
    across processes). If the caller stops (an exception, Ctrl-C), chains not started are cancelled and
    those started finish: the next run resumes the rest, as after a crash."""
    if workers == 1:
        for chain in chains:
            for n, result in _pay_chain(chain):
                done(n, result)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="payout")
    try:
        for future in as_completed([pool.submit(_pay_chain, chain) for chain in chains]):
            for n, result in future.result():
                done(n, result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _every(uow: SettlementUnitOfWorkFactory, page: Callable[[SettlementUnitOfWork, str], list[str]]) -> list[str]:
    """Every merchant a keyset-paged listing gives (`page(tx, after)`), a page per read transaction."""
    found: list[str] = []
    after = ""
    while batch := _page(uow, page, after):
        found += batch
        after = batch[-1]
    return found


def _page(uow: SettlementUnitOfWorkFactory, page: Callable[[SettlementUnitOfWork, str], list[str]],
          after: str) -> list[str]:
    with uow() as tx:
        return page(tx, after)


def _flag_holidays(uow: SettlementUnitOfWorkFactory, exc: WorkingDaysUnknown, at: datetime) -> None:
    year = exc.metadata.get("year", "")
    with uow(write=True) as tx:
        tx.flags.raise_flag(Flag.raise_(FlagKind.HOLIDAYS_UNKNOWN, merchant_id="", payment_id=f"holidays_{year}",
                                        channel="", detail=f"settlement released nothing: {exc}", now=at))
        tx.commit()


def _resume(uow: SettlementUnitOfWorkFactory, rail: PayoutRail, payout: Payout, rules: PayoutRules,
            now: Callable[[], datetime]) -> MerchantResult:
    state = settle_payout(uow, rail, payout, rules, now, fresh=False)
    return MerchantResult(payout.merchant_id, payout.payout_id, payout.amount, state, len(_parts(uow, payout)))


def _parts(uow: SettlementUnitOfWorkFactory, payout: Payout) -> list[PayoutPart]:
    with uow() as tx:
        return tx.settlement_payouts.parts(payout.payout_id)


def _isolated(merchant_id: str, pay: Callable[[], MerchantResult]) -> MerchantResult:
    try:
        return pay()
    except Exception:
        log.exception("settlement run: merchant %s failed; its payout, if any, is resumed by the next run",
                      merchant_id)
        return MerchantResult(merchant_id, state="ERROR")
