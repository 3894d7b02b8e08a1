"""Watching a payment for a client that waits on a page: the payment as it stands, then the payment again
after each change of its state or refunded amount, until it can no longer change in a way the watcher
waits for, the watch has lasted its maximum, the watcher leaves, its credentials no longer allow it, or
the process shuts down.

The stream is driven by the outbox, not by reading the payment: every change of a payment's state or
refunded amount writes an event carrying the payment as the change left it (gateway/domain/events.py), in
the change's transaction, whichever gateway process made it. A watch remembers the sequence number of the
last event it read and, every `poll_seconds`, reads the payment's later events by index, in order, so two
changes that land between two reads are still two messages.

A watch holds a server thread while it lasts, so one process serves at most `max_streams` of them at once
and one app at most `max_streams_per_app` of those, so that one app cannot take every place; beyond either
limit a watch is refused at once. The app's API key is resolved again, past the key cache, every
`recheck_seconds` (the `[auth] cache_seconds` that bounds how long any call may act on a withdrawn
authorisation): a revoked or expired key, a disabled app or a merchant's withdrawn authorisation ends the
stream with PERMISSION_DENIED within that time.

No transport here: the caller iterates, and hands in an event its transport sets when the watcher leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from gateway.domain.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from gateway.domain.events import Event, payment_from_snapshot
from gateway.domain.merchants import Principal
from gateway.domain.payments import Payment, PaymentState
from gateway.service.auth import Authenticator
from gateway.service.payments import PaymentService
from gateway.service.ports import UnitOfWorkFactory

# States after which nothing a watcher waits for can happen any more. A payment closed here and paid at its
# channel afterwards is recorded as SUCCEEDED and flagged for an operator; the app learns of that through
# its webhook, not through a watch that already ended.
FINAL_STATES = frozenset({PaymentState.CLOSED, PaymentState.FAILED, PaymentState.REFUNDED})

# Events read per query; a payment with more new events than this is read again at once.
READ_BATCH = 100


@dataclass(frozen=True, slots=True)
class WatchPayment:
    principal: Principal
    merchant_id: str
    payment_id: str
    # Keep watching a paid payment through its refunds until it is REFUNDED.
    follow_refunds: bool = False
    # The API key the watch was opened with, resolved again every `recheck_seconds`. Never shown.
    credentials: str = field(default="", repr=False)


def watch_ends(state: PaymentState, follow_refunds: bool) -> bool:
    """Whether a watch ends once its payment is in `state`: when the payment left PENDING, or, following
    refunds, when it is CLOSED, FAILED or REFUNDED."""
    return state in FINAL_STATES or (not follow_refunds and state is not PaymentState.PENDING)


def _observed(payment: Payment) -> tuple[PaymentState, int]:
    """What a watcher is told about: a change of either is one message."""
    return payment.state, payment.refunded_amount


class WatchService:
    def __init__(self, uow: UnitOfWorkFactory, payments: PaymentService, authenticator: Authenticator, *,
                 poll_seconds: float = 0.25, max_seconds: float = 300.0, max_streams: int = 8,
                 max_streams_per_app: int = 4, recheck_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.uow = uow
        self.payments = payments
        self.authenticator = authenticator
        self.poll_seconds = poll_seconds
        self.max_seconds = max_seconds
        self.max_streams = max_streams
        self.max_streams_per_app = max_streams_per_app
        # With no key cache (0), the key is resolved again at every poll.
        self.recheck_seconds = recheck_seconds if recheck_seconds > 0 else poll_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._active: dict[threading.Event, str] = {}  # each open watch's stop event → its app
        self._per_app: dict[str, int] = {}
        self._closing = False

    @property
    def active(self) -> int:
        """How many watches this process serves now."""
        with self._lock:
            return len(self._active)

    def watch(self, cmd: WatchPayment, stop: threading.Event | None = None) -> Iterator[Payment]:
        """Yield the payment at once, then after each change, until the watch ends (see the module).

        Tenancy and errors are GetPayment's: PermissionDenied for a merchant the app does not act for,
        NotFound for a payment that does not exist. Beyond either limit, ResourceExhausted. Setting `stop`
        ends the watch within a moment, wherever it waits.
        """
        # The cursor before the read: a change committed in between is then both in the payment read and
        # among the events after the cursor, and its message is not repeated (same state and amount).
        cursor = self._last_sequence(cmd)
        current = self.payments.get(cmd.principal, cmd.merchant_id, cmd.payment_id)
        stop = stop if stop is not None else threading.Event()
        self._enter(stop, cmd.principal.id)
        try:
            yield current
            deadline = self.clock() + self.max_seconds
            recheck_at = self.clock() + self.recheck_seconds
            while not watch_ends(current.state, cmd.follow_refunds):
                now = self.clock()
                if now >= deadline:
                    return
                if stop.wait(max(0.0, min(self.poll_seconds, deadline - now, recheck_at - now))):
                    return
                if self.clock() >= recheck_at:
                    self._recheck(cmd)
                    recheck_at = self.clock() + self.recheck_seconds
                for event in self._events_after(cmd, cursor):
                    assert event.sequence is not None
                    cursor = event.sequence
                    if event.payment is None:  # written before events carried the payment
                        continue
                    # The snapshot leaves out the buyer action, which a payment keeps from its creation.
                    latest = replace(payment_from_snapshot(event.payment), action=current.action,
                                     checkout_token=current.checkout_token)
                    if _observed(latest) != _observed(current):
                        current = latest
                        yield current
                        if watch_ends(current.state, cmd.follow_refunds):
                            break
        finally:
            self._leave(stop, cmd.principal.id)

    def close(self) -> None:
        """End every watch now and every later one after its first message (the process is stopping):
        their clients call again and reach a process that stays."""
        with self._lock:
            self._closing = True
            for stop in self._active:
                stop.set()

    def _last_sequence(self, cmd: WatchPayment) -> int:
        with self.uow() as uow:
            return uow.events.last_of_payment(cmd.merchant_id, cmd.payment_id)

    def _events_after(self, cmd: WatchPayment, cursor: int) -> Iterator[Event]:
        while True:
            with self.uow() as uow:
                batch = uow.events.of_payment(cmd.merchant_id, cmd.payment_id, cursor, READ_BATCH)
            yield from batch
            if len(batch) < READ_BATCH:
                return
            assert batch[-1].sequence is not None
            cursor = batch[-1].sequence

    def _recheck(self, cmd: WatchPayment) -> None:
        """Resolve the watch's key again, past the cache, and check tenancy again as GetPayment does."""
        try:
            principal = self.authenticator.authenticate(cmd.credentials, fresh=True)
        except Unauthenticated:
            raise PermissionDenied(
                "the API key this watch was opened with is no longer valid (revoked, expired, or its app "
                "disabled)", reason="CREDENTIALS_WITHDRAWN") from None
        if principal.kind is not cmd.principal.kind or principal.id != cmd.principal.id:
            raise PermissionDenied("the API key this watch was opened with now belongs to someone else",
                                   reason="CREDENTIALS_WITHDRAWN")
        self.payments.get(principal, cmd.merchant_id, cmd.payment_id)

    def _enter(self, stop: threading.Event, app_id: str) -> None:
        with self._lock:
            if len(self._active) >= self.max_streams:
                raise ResourceExhausted(
                    f"this gateway process already serves its limit of {self.max_streams} WatchPayment "
                    "streams ([server] watch_max_streams); call again after a moment (with back-off), or read "
                    "the payment with GetPayment",
                    reason="TOO_MANY_WATCHES",
                    metadata={"limit": str(self.max_streams), "setting": "server.watch_max_streams"})
            if self._per_app.get(app_id, 0) >= self.max_streams_per_app:
                raise ResourceExhausted(
                    f"this app already holds its limit of {self.max_streams_per_app} WatchPayment streams on "
                    "this gateway process ([server] watch_max_streams_per_app); end one, or call again after "
                    "a moment (with back-off)",
                    reason="TOO_MANY_WATCHES_FOR_APP",
                    metadata={"limit": str(self.max_streams_per_app),
                              "setting": "server.watch_max_streams_per_app"})
            self._active[stop] = app_id
            self._per_app[app_id] = self._per_app.get(app_id, 0) + 1
            if self._closing:
                stop.set()

    def _leave(self, stop: threading.Event, app_id: str) -> None:
        with self._lock:
            if self._active.pop(stop, None) is not None:
                left = self._per_app[app_id] - 1
                if left:
                    self._per_app[app_id] = left
                else:
                    del self._per_app[app_id]
