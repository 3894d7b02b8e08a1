"""Watching a payment for a client that waits on a page: the payment as it stands, then the payment again
after each change of its state or refunded amount, until it can no longer change in a way the watcher
waits for, the watch has lasted its maximum, the watcher leaves, or the process shuts down.

A change may be made by any gateway process sharing the database (the channel's notification may reach
another worker), so a watch reads its payment again, by primary key, every `poll_seconds`: that read is
what makes a watch correct, and it costs one indexed lookup. Each watch holds a server thread while it
lasts, so one process serves at most `max_streams` of them at once and refuses more at once, leaving the
other threads to the calls that create and pay payments.

No transport here: the caller iterates, and hands in an event its transport sets when the watcher leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.domain.errors import ResourceExhausted
from gateway.domain.merchants import Principal
from gateway.domain.payments import Payment, PaymentState
from gateway.service.payments import PaymentService

# States after which nothing a watcher waits for can happen any more. A payment closed here and paid at its
# channel afterwards is recorded as SUCCEEDED and flagged for an operator; the app learns of that through
# its webhook, not through a watch that already ended.
FINAL_STATES = frozenset({PaymentState.CLOSED, PaymentState.FAILED, PaymentState.REFUNDED})


@dataclass(frozen=True, slots=True)
class WatchPayment:
    principal: Principal
    merchant_id: str
    payment_id: str
    # Keep watching a paid payment through its refunds until it is REFUNDED.
    follow_refunds: bool = False


def watch_ends(state: PaymentState, follow_refunds: bool) -> bool:
    """Whether a watch ends once its payment is in `state`: when the payment left PENDING, or, following
    refunds, when it is CLOSED, FAILED or REFUNDED."""
    return state in FINAL_STATES or (not follow_refunds and state is not PaymentState.PENDING)


def _observed(payment: Payment) -> tuple[PaymentState, int]:
    """What a watcher is told about: a change of either is one message."""
    return payment.state, payment.refunded_amount


class WatchService:
    def __init__(self, payments: PaymentService, *, poll_seconds: float = 0.25, max_seconds: float = 300.0,
                 max_streams: int = 8, clock: Callable[[], float] = time.monotonic):
        self.payments = payments
        self.poll_seconds = poll_seconds
        self.max_seconds = max_seconds
        self.max_streams = max_streams
        self.clock = clock
        self._lock = threading.Lock()
        self._active: set[threading.Event] = set()
        self._closing = False

    @property
    def active(self) -> int:
        """How many watches this process serves now."""
        with self._lock:
            return len(self._active)

    def watch(self, cmd: WatchPayment, stop: threading.Event | None = None) -> Iterator[Payment]:
        """Yield the payment at once, then after each change, until the watch ends (see the module).

        Tenancy and errors are GetPayment's: PermissionDenied for a merchant the app does not act for,
        NotFound for a payment that does not exist. Beyond `max_streams` watches, ResourceExhausted. Setting
        `stop` ends the watch within a moment, wherever it waits.
        """
        current = self.payments.get(cmd.principal, cmd.merchant_id, cmd.payment_id)
        stop = stop if stop is not None else threading.Event()
        self._enter(stop)
        try:
            yield current
            deadline = self.clock() + self.max_seconds
            while not watch_ends(current.state, cmd.follow_refunds):
                remaining = deadline - self.clock()
                if remaining <= 0 or stop.wait(min(self.poll_seconds, remaining)):
                    return
                latest = self.payments.get(cmd.principal, cmd.merchant_id, cmd.payment_id)
                if _observed(latest) != _observed(current):
                    current = latest
                    yield current
        finally:
            self._leave(stop)

    def close(self) -> None:
        """End every watch now and every later one after its first message (the process is stopping):
        their clients call again and reach a process that stays."""
        with self._lock:
            self._closing = True
            for stop in self._active:
                stop.set()

    def _enter(self, stop: threading.Event) -> None:
        with self._lock:
            if len(self._active) >= self.max_streams:
                raise ResourceExhausted(
                    f"this gateway process already serves its limit of {self.max_streams} WatchPayment "
                    "streams; call again after a moment (with back-off), or read the payment with GetPayment",
                    reason="TOO_MANY_WATCHES", metadata={"limit": str(self.max_streams)})
            self._active.add(stop)
            if self._closing:
                stop.set()

    def _leave(self, stop: threading.Event) -> None:
        with self._lock:
            self._active.discard(stop)
