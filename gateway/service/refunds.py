"""Refund use cases: refund a paid payment (idempotent by the merchant's refund number), read, list, and
settle the refunds whose channel answer was unknown.

A refund takes three steps, so that no transaction is held open across a call to the channel:
1. one transaction holds the amount against the payment (a conditional UPDATE: concurrent refunds can
   never exceed what was paid) and stores the refund PENDING;
2. the channel is asked to refund, outside any transaction, with the refund id as its request number;
3. one transaction records the answer: SUCCEEDED (the payment's refunded amount grows, its state moves to
   PARTIALLY_REFUNDED or REFUNDED) or FAILED (the hold is released). An unknown answer leaves the refund
   PENDING; a query to the channel settles it, at once if it can, else in `resolve_pending_refunds()`.

Steps 1 and 3 lock the payment's row before they touch a refund (the lock order in gateway/storage): a
retried refund (the same out_refund_no arriving while the first is being recorded) then waits for the
payment and finds the refund, where it used to deadlock on PostgreSQL against the recording transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from channels.contract.protocol import REFUND_NOT_FOUND, ChannelResult, Outcome, Refunder
from channels.contract.views import PaymentView, RefundView
from gateway.domain.errors import AlreadyExists, FailedPrecondition, NotFound
from gateway.domain.events import refund_event
from gateway.domain.ids import new_refund_id, utcnow
from gateway.domain.merchants import Principal
from gateway.domain.payments import Payment
from gateway.domain.refunds import NewRefund, Refund, RefundState
from gateway.service import idempotency, paging
from gateway.service.channel_directory import ChannelDirectory
from gateway.service.channel_views import payment_view, refund_view
from gateway.service.payments import _require_access
from gateway.service.ports import RefundQuery, UnitOfWork, UnitOfWorkFactory
from settlement.domain.calendar import DEFAULT_CUTOFF, settlement_day
from settlement.domain.fees import RefundFeePolicy, fee_for, fee_returned
from settlement.domain.ledger import book_refund

log = logging.getLogger(__name__)

# The smallest step of a stored time (microseconds on both databases).
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RefundPayment:
    principal: Principal
    refund: NewRefund


@dataclass(frozen=True, slots=True)
class ListRefunds:
    principal: Principal
    merchant_id: str
    payment_id: str
    state: RefundState | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass
class ResolveSummary:
    """What one `resolve_pending_refunds()` pass did."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


class RefundService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        channels: ChannelDirectory,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[datetime], str] = new_refund_id,
        refund_fee: RefundFeePolicy = RefundFeePolicy.PRO_RATA,
        cutoff: time = DEFAULT_CUTOFF,
    ):
        self.uow = uow
        self.channels = channels
        self.clock = clock
        self.new_id = new_id
        # `[settlement] refund_fee` and `cutoff`: what a succeeded refund gives back of the platform's fee, and
        # the settlement day it is booked on.
        self.refund_fee = refund_fee
        self.cutoff = cutoff

    # --- refund ----------------------------------------------------------------------------------------

    def refund(self, cmd: RefundPayment) -> Refund:
        new = cmd.refund
        _require_access(cmd.principal, new.merchant_id)
        with self.uow(write=True) as uow:
            now = self.clock()
            refund_id = self.new_id(now)
            # The caller's idempotency-key, if any, before the payment's lock (the lock order in gateway/storage):
            # a copy of this call sent with the same key waits here, then answers from the key, not acting.
            idempotency.claim(uow, refund_id, now)
            # The payment's lock first: every other refund of this payment is now committed or waits, so the
            # look-up below sees a copy of this request that came first (it is never half-written).
            payment = _payment(uow, new.merchant_id, new.payment_id, lock=True)
            earlier = uow.refunds.get_by_out_refund_no(new.merchant_id, new.payment_id, new.out_refund_no)
            if earlier is not None:
                return self._replay(payment, earlier, new)
            payment.check_refundable(new.amount)
            refunder = self._refunder(payment)
            refund = Refund.create(refund_id=refund_id, app_id=cmd.principal.id, new=new,
                                   currency=payment.currency, now=now)
            if not uow.payments.reserve_refund(payment.merchant_id, payment.id, new.amount):
                # Another refund took the rest first: read what it left, and say so.
                current = _payment(uow, new.merchant_id, new.payment_id)
                current.check_refundable(new.amount)
                raise FailedPrecondition(f"payment {payment.id} changed while refunding; try again",
                                         reason="CONCURRENT_UPDATE", metadata={"payment": payment.id})
            clash = not uow.refunds.add(refund)
            if not clash:
                uow.commit()
        if clash:  # the same out_refund_no was stored meanwhile (not on PostgreSQL: the lock orders it)
            with self.uow() as uow:
                earlier = uow.refunds.get_by_out_refund_no(new.merchant_id, new.payment_id, new.out_refund_no)
            assert earlier is not None
            return self._replay(payment, earlier, new)
        result = _ask(refunder.refund, payment, refund, "refund")
        return self._settle(payment, refund, refunder, result, query_if_unknown=True)

    def _replay(self, payment: Payment, earlier: Refund, new: NewRefund) -> Refund:
        if earlier.amount != new.amount:
            raise AlreadyExists(
                f"payment {payment.id} already has refund {earlier.id} with out_refund_no {new.out_refund_no!r} "
                f"for {earlier.amount}, not {new.amount}; use a new out_refund_no for a new refund",
                reason="OUT_REFUND_NO_IN_USE",
                metadata={"out_refund_no": new.out_refund_no, "refund": earlier.id,
                          "amount": str(earlier.amount)})
        return earlier

    def _refunder(self, payment: Payment) -> Refunder:
        # A runtime-checkable Protocol, for isinstance; mypy wants a concrete class (python/mypy#4717).
        channel = self.channels.capable(payment.channel, Refunder)  # type: ignore[type-abstract]
        if channel is None:
            raise FailedPrecondition(
                f"channel {payment.channel!r} of payment {payment.id} cannot refund",
                reason="CHANNEL_CANNOT_REFUND", metadata={"payment": payment.id, "channel": payment.channel})
        return channel

    def _settle(self, payment: Payment, refund: Refund, refunder: Refunder, result: ChannelResult,
                *, query_if_unknown: bool) -> Refund:
        if result.outcome in (Outcome.UNKNOWN, Outcome.PENDING) and query_if_unknown:
            # One immediate query: most unknowns (a lost answer) are settled at once.
            result = _ask(refunder.refund_status, payment, refund, "refund_status")
        if result.outcome is Outcome.SUCCEEDED:
            return self._record(refund, refund.succeeded(self.clock(), result.data.get("reference", "")))
        if result.outcome is Outcome.FAILED:
            return self._record(refund, refund.failed(self.clock(), result.detail or "refused by the channel"))
        log.warning("refund answer unknown; left PENDING until a query settles it",
                    extra={"refund": refund.id, "payment": payment.id, "merchant": payment.merchant_id,
                           "channel": payment.channel, "detail": result.detail})
        return refund

    def _record(self, pending: Refund, settled: Refund) -> Refund:
        with self.uow(write=True) as uow:
            # The payment's lock before the refund's row, as in refund() above: the other order deadlocked.
            payment = _payment(uow, pending.merchant_id, pending.payment_id, lock=True)
            # Stamped under the payment's lock, later than the payment's last change (which a succeeded refund
            # sets to its own time): the payment's refunds then succeed in the order of their times, the order
            # in which the fee share below reads `refunded_amount`, and `cashier settle backfill` orders them
            # by (settlement/storage/backfill.py), so that it finds exactly what was booked here.
            settled = replace(settled, updated_at=max(self.clock(), payment.updated_at + _TICK))
            if not uow.refunds.save_state(settled, expected=RefundState.PENDING):
                current = uow.refunds.get(pending.merchant_id, pending.id)  # settled by someone else
                assert current is not None
                return current
            if settled.state is RefundState.SUCCEEDED:
                moved = uow.payments.settle_refund(pending.merchant_id, pending.payment_id, pending.amount,
                                                   settled.updated_at)
            else:
                moved = uow.payments.release_refund(pending.merchant_id, pending.payment_id, pending.amount)
            if not moved:
                raise RuntimeError(f"payment {pending.payment_id} does not hold refund {pending.id}")
            if settled.state is RefundState.SUCCEEDED:
                self._book(uow, payment, settled)
            # The payment as the change left it, for the event's snapshot (WatchPayment replays it).
            after = _payment(uow, pending.merchant_id, pending.payment_id)
            uow.events.add(refund_event(settled, after, settled.updated_at))
            uow.commit()
        if settled.state is RefundState.FAILED:
            log.warning("refund refused by the channel", extra={
                "refund": pending.id, "payment": pending.payment_id, "merchant": pending.merchant_id,
                "detail": settled.failure_reason})
        return settled

    def _book(self, uow: UnitOfWork, payment: Payment, refund: Refund) -> None:
        """Append the refund's entries in its own transaction, after the payment's and refund's rows and
        before its event (the lock order in gateway/storage): the amount back to the buyer, then the fee's
        share (fees.fee_returned, on the cumulative amount refunded: `payment` was read under its lock,
        before this refund counted). A payment that succeeded before settlement existed has no rate stored
        and gave no fee, so it gives none back. A refund of money a settlement run has released comes out of
        available (netted from the next payout, or from the deposit); otherwise out of pending, with the
        payment's money still there."""
        fee = fee_for(payment.amount, payment.fee_bps or 0)
        share = fee_returned(self.refund_fee, payment_amount=payment.amount, fee=fee,
                             refunded_before=payment.refunded_amount, refund_amount=refund.amount)
        released = uow.ledger.released(refund.merchant_id, payment.id)
        uow.ledger.append(book_refund(refund.merchant_id, refund.id, refund.amount, share, released=released),
                          settlement_day=settlement_day(refund.updated_at, self.cutoff), at=refund.updated_at)

    # --- settle what is pending ------------------------------------------------------------------------

    def resolve_pending_refunds(self, batch: int = 100, min_age: timedelta = timedelta(0)) -> ResolveSummary:
        """Ask the channel about every PENDING refund at least `min_age` old and record what it says. A
        refund the rail has no record of is sent again under the same request number (the rail
        de-duplicates it). Safe to run from several processes at once: every state change is conditional.
        `cashier serve` runs it with the reconciler, with `min_age` keeping it off refunds in flight."""
        summary = ResolveSummary()
        cutoff = self.clock() - min_age
        after: str | None = None
        while True:
            with self.uow() as uow:
                pending = uow.refunds.list(RefundQuery(state=RefundState.PENDING, after_id=after, limit=batch))
            for refund in pending:
                if refund.created_at > cutoff:
                    summary.pending.append(refund.id)
                    continue
                settled = self._resolve(refund)
                {RefundState.SUCCEEDED: summary.succeeded, RefundState.FAILED: summary.failed,
                 RefundState.PENDING: summary.pending}[settled.state].append(refund.id)
            if len(pending) < batch:
                return summary
            after = pending[-1].id

    def _resolve(self, refund: Refund) -> Refund:
        with self.uow() as uow:
            payment = uow.payments.get(refund.merchant_id, refund.payment_id)
        if payment is None:
            raise RuntimeError(f"refund {refund.id} points at missing payment {refund.payment_id}")
        try:
            refunder = self._refunder(payment)
        except FailedPrecondition:
            log.error("pending refund's channel cannot refund (not installed?)",
                      extra={"refund": refund.id, "channel": payment.channel})
            return refund
        result = _ask(refunder.refund_status, payment, refund, "refund_status")
        if result.outcome is Outcome.UNKNOWN and result.detail == REFUND_NOT_FOUND:
            result = _ask(refunder.refund, payment, refund, "refund")
        return self._settle(payment, refund, refunder, result, query_if_unknown=False)

    # --- read ------------------------------------------------------------------------------------------

    def get(self, principal: Principal, merchant_id: str, payment_id: str, refund_id: str) -> Refund:
        _require_access(principal, merchant_id)
        with self.uow() as uow:
            refund = uow.refunds.get(merchant_id, refund_id)
        if refund is None or refund.payment_id != payment_id:
            raise NotFound(f"refund merchants/{merchant_id}/payments/{payment_id}/refunds/{refund_id} "
                           "does not exist", reason="REFUND_NOT_FOUND")
        return refund

    def list(self, cmd: ListRefunds) -> tuple[list[Refund], str]:
        _require_access(cmd.principal, cmd.merchant_id)
        size = paging.page_size(cmd.page_size)
        filters = ("refunds", cmd.merchant_id, cmd.payment_id, cmd.state)
        query = RefundQuery(merchant_id=cmd.merchant_id, payment_id=cmd.payment_id, state=cmd.state,
                            after_id=paging.decode_token(cmd.page_token, filters), limit=size + 1)
        with self.uow() as uow:
            _payment(uow, cmd.merchant_id, cmd.payment_id)
            rows = uow.refunds.list(query)
        page, more = rows[:size], len(rows) > size
        return page, paging.encode_token(page[-1].id, filters) if more else ""


def _payment(uow: UnitOfWork, merchant_id: str, payment_id: str, *, lock: bool = False) -> Payment:
    payment = (uow.payments.lock if lock else uow.payments.get)(merchant_id, payment_id)
    if payment is None:
        raise NotFound(f"payment merchants/{merchant_id}/payments/{payment_id} does not exist",
                       reason="PAYMENT_NOT_FOUND")
    return payment


def _ask(call: Callable[[PaymentView, RefundView], ChannelResult], payment: Payment, refund: Refund,
         what: str) -> ChannelResult:
    """A channel that raises has told us nothing: the request may have reached the rail, so UNKNOWN."""
    try:
        return call(payment_view(payment), refund_view(refund))
    except Exception as exc:
        log.exception("channel %s failed in %s", payment.channel, what,
                      extra={"channel": payment.channel, "refund": refund.id, "payment": payment.id})
        return ChannelResult(Outcome.UNKNOWN, f"channel error: {type(exc).__name__}")
