"""Recovery of payments: ask the channels about payments whose outcome never reached us (a lost
notification). Not reconciliation: that word is settlement's, for matching Alipay's statements.


* A PENDING payment older than `pending_age` is queried at its channel: paid there → SUCCEEDED, through
  the very transition a notification takes (`PaymentService.confirm_from_channel`: amount checked,
  exactly once); closed there → CLOSED; still payable or no usable answer → left for the next round.
* A PENDING payment past its expiry, and a payment closed here that the channel has not confirmed closed,
  is closed at the channel, then here. If the channel refuses because the buyer paid after all, the
  payment is recorded as paid (flagged LATE_SUCCESS when it was closed here): money taken is never dropped.

Several gateway processes may recover payments at once: each run first claims its batch in a short transaction
(`claim_for_reconcile` moves the rows' next look `revisit` ahead; on PostgreSQL under FOR UPDATE SKIP
LOCKED), so no two processes ask a channel about the same payment at the same time. A process that dies
mid-batch leaves its rows to be claimed again once `revisit` has passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channels.contract.protocol import (
    NOT_CREATED,
    Channel,
    ChannelNotification,
    ChannelResult,
    Outcome,
    StatusQuerier,
)
from channels.contract.views import PaymentView
from gateway.domain.errors import CashierError
from gateway.domain.events import PAYMENT_CLOSED, payment_event
from gateway.domain.ids import utcnow
from gateway.domain.payments import Payment, PaymentState
from gateway.jobs import run_until_done
from gateway.service.channel_views import payment_view
from gateway.service.payments import PaymentService
from gateway.service.ports import ReconcileClaim, UnitOfWorkFactory
from gateway.service.routing import Router

log = logging.getLogger(__name__)

#: How long a payment flagged for an operator (e.g. an amount mismatch) rests before it is asked again.
FLAGGED_REVISIT = timedelta(hours=1)

#: What happened to one payment (the `result` label of cashier_recovered_total).
PAID, LATE_SUCCESS, CLOSED, PENDING, UNKNOWN, FLAGGED, ERROR = (
    "paid", "late_success", "closed", "pending", "unknown", "flagged", "error")


@dataclass
class RecoveryReport:
    """One run: the payments it claimed, the queries it sent, and what became of the payments."""

    claimed: list[str] = field(default_factory=list)
    queried: int = 0
    paid: int = 0
    closed: int = 0
    pending: int = 0  # left as they were: still payable, no usable answer yet, or a channel error
    flagged: int = 0  # left for an operator (amount mismatch)

    def summary(self) -> str:
        return (f"claimed {len(self.claimed)}, queried {self.queried}, paid {self.paid}, closed {self.closed}, "
                f"still pending {self.pending}, flagged {self.flagged}")


def _ignore(*_args: object) -> None:
    return None


class PaymentRecovery:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        channels: Sequence[Channel],
        clock: Callable[[], datetime] = utcnow,
        pending_age: timedelta = timedelta(seconds=60),
        batch: int = 100,
        *,
        revisit: timedelta = timedelta(seconds=60),
        payments: PaymentService | None = None,
        observe_channel: Callable[[str, str, str, float], None] = _ignore,
        observe_result: Callable[[str, str], None] = _ignore,
    ):
        self.uow = uow
        # Only channels that can be asked; payments of other channels are never claimed.
        self.channels: dict[str, StatusQuerier] = {
            c.name: c for c in channels if isinstance(c, StatusQuerier)}
        self.clock = clock
        self.pending_age = pending_age
        self.batch = batch
        self.revisit = revisit
        self.payments = payments or PaymentService(uow, Router(channels), clock)
        self.observe_channel = observe_channel
        self.observe_result = observe_result

    def run(self) -> RecoveryReport:
        """Claim one batch of due payments and settle what the channels can tell."""
        report = RecoveryReport()
        if not self.channels:
            return report
        now = self.clock()
        with self.uow(write=True) as uow:
            claimed = uow.payments.claim_for_reconcile(ReconcileClaim(
                now=now, pending_before=now - self.pending_age, until=now + self.revisit,
                channels=sorted(self.channels), limit=self.batch))
            uow.commit()
        for payment in claimed:
            report.claimed.append(payment.id)
            try:
                result = self._recover(payment, now, report)
            except Exception:
                log.exception("recovering a payment failed; it is claimed again later",
                              extra={"payment": payment.id, "merchant": payment.merchant_id,
                                     "channel": payment.channel})
                result = ERROR
            self.observe_result(payment.channel, result)
            if result in (PAID, LATE_SUCCESS):
                report.paid += 1
            elif result == CLOSED:
                report.closed += 1
            elif result == FLAGGED:
                report.flagged += 1
            else:
                report.pending += 1
        return report

    def run_until_done(self, max_batches: int = 1000) -> RecoveryReport:
        """Batches until one comes back short (`cashier recover payments`). Each payment is claimed at
        most once per `revisit`, so this ends."""
        return run_until_done(self.run, lambda report: len(report.claimed) >= self.batch, max_batches)

    # --- one payment --------------------------------------------------------------------------------

    def _recover(self, payment: Payment, now: datetime, report: RecoveryReport) -> str:
        channel = self.channels[payment.channel]
        if payment.state is PaymentState.PENDING and not payment.is_expired(now):
            answer = self._query(channel, payment, report)
            return self._settle(payment, answer, now)
        # Expired, or closed here: close it at the channel so that the buyer can no longer pay.
        closing = self._call(payment, "close", channel.close_payment)
        if closing.outcome is Outcome.SUCCEEDED:
            if closing.detail == NOT_CREATED and now < payment.expires_at:
                # Closed here before expiry, never opened at the channel: the buyer could still open it
                # there. Close it again once it has expired.
                return PENDING
            return self._close_here(payment, now)
        if closing.outcome is Outcome.FAILED:
            # Refused: paid after all, or closed there already. Only a query tells which.
            return self._settle(payment, self._query(channel, payment, report), now)
        return UNKNOWN

    def _query(self, channel: StatusQuerier, payment: Payment, report: RecoveryReport) -> ChannelResult:
        report.queried += 1
        return self._call(payment, "query", channel.query)

    def _call(self, payment: Payment, operation: str, call: Callable[[PaymentView], ChannelResult]) -> ChannelResult:
        started = time.perf_counter()
        try:
            answer = call(payment_view(payment))
        except Exception:
            log.exception("channel failed to answer recovery's query; treated as UNKNOWN",
                          extra={"channel": payment.channel, "payment": payment.id, "operation": operation})
            answer = ChannelResult(Outcome.UNKNOWN, "channel error")
        self.observe_channel(payment.channel, operation, answer.outcome.value, time.perf_counter() - started)
        return answer

    def _settle(self, payment: Payment, answer: ChannelResult, now: datetime) -> str:
        if answer.outcome is Outcome.SUCCEEDED:
            return self._paid(payment, answer, now)
        if answer.outcome is Outcome.FAILED:
            return self._close_here(payment, now)
        return PENDING if answer.outcome is Outcome.PENDING else UNKNOWN

    def _paid(self, payment: Payment, answer: ChannelResult, now: datetime) -> str:
        try:
            amount = int(answer.data["amount"])
        except (KeyError, ValueError):
            log.error("channel reported a payment paid without a usable amount; asking again later",
                      extra={"channel": payment.channel, "payment": payment.id})
            return UNKNOWN
        note = ChannelNotification(payment.id, Outcome.SUCCEEDED, amount, answer.data.get("reference", ""),
                                   buyer_id=answer.data.get("buyer_id", ""))
        try:
            self.payments.confirm_from_channel(payment.channel, payment.merchant_id, note)
        except CashierError as exc:
            # An amount that differs (or a payment that cannot take it) is money to look at, not to apply;
            # confirm_from_channel has flagged it.
            log.error("channel reports a payment the gateway cannot apply; left for an operator",
                      extra={"channel": payment.channel, "payment": payment.id, "merchant": payment.merchant_id,
                             "flag": exc.reason, "detail": exc.message})
            with self.uow(write=True) as uow:
                uow.payments.reconcile_later(payment.merchant_id, payment.id, now + FLAGGED_REVISIT)
                uow.commit()
            return FLAGGED
        # confirm_from_channel flags LATE_SUCCESS itself when the payment was closed here.
        return LATE_SUCCESS if payment.state is PaymentState.CLOSED else PAID

    def _close_here(self, payment: Payment, now: datetime) -> str:
        """The channel says it can no longer be paid: PENDING → CLOSED (conditional), remembered as closed
        at the channel. A payment that moved meanwhile (a notification made it paid) is left as it is."""
        with self.uow(write=True) as uow:
            current = uow.payments.get(payment.merchant_id, payment.id)
            if current is None:
                return ERROR
            if current.state is PaymentState.PENDING:
                closed = current.closed(now)
                if not uow.payments.save_state(closed, expected=PaymentState.PENDING):
                    return PENDING
                uow.events.add(payment_event(PAYMENT_CLOSED, closed, now))
            elif current.state is not PaymentState.CLOSED:
                return PAID if current.state is PaymentState.SUCCEEDED else UNKNOWN
            uow.payments.mark_channel_closed(payment.merchant_id, payment.id)
            uow.commit()
        return CLOSED
