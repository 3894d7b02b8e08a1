"""Delivering outbox events to the trading apps as signed webhooks.

Events are written by the use cases in the transaction of the change they report (`uow.events.add`).
The dispatcher, a housekeeping loop of `cashier serve` (every `[webhooks] every_seconds`):

1. claims a batch of due PENDING events of apps that registered a webhook URL (an app's events wait,
   unattempted, until it registers one, then arrive oldest first) in a short transaction, pushing their
   next attempt `lease`
   ahead (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite serialises writers), so that two gateway processes
   never send the same event at once, and a process that dies mid-batch leaves its events to be claimed
   again once the lease has passed;
2. sends to up to `concurrency` apps at once (a slow app never delays another's events), each app's events
   one at a time in the order they were written (the storage's sequence number, which the body carries
   as `sequence`). An attempt lasts at most the sender's timeout, and starts only if it ends well inside the claim's lease, so another dispatcher never
   claims an event while it is being sent; an app starts no new attempt after `app_budget` of the batch
   (a slow app cannot hold the batch). Events left unattempted are given back, due at once, unchanged;
3. POSTs each event's JSON body to its app's webhook URL, signed (gateway/webhook_signing.py) with
   `Cashier-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` and `Cashier-Event-Id`,
   only where the target policy allows (gateway/webhook_targets.py: no loopback, private or metadata
   addresses unless the operator allows them);
4. records the outcome: any 2xx → DELIVERED; anything else → retried after base × 2^(n-1) (capped),
   and PARKED with its last error after `max_attempts` (by default 20 attempts over about 21 hours).
   A failed event is retried on its own schedule and does not hold back the app's later events.
   `cashier events redeliver EVENT_ID` moves a PARKED event back to PENDING.

Delivery is at least once: an app de-duplicates on the event id (the same on every retry), and orders by
the body's `sequence`.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.domain.errors import FailedPrecondition, NotFound, Violations
from gateway.domain.events import Event, EventState
from gateway.domain.ids import utcnow
from gateway.jobs import run_until_done
from gateway.service.ports import UnitOfWorkFactory, WebhookEndpoint
from gateway.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign_webhook
from gateway.webhook_targets import RefusedTarget, TargetPolicy

log = logging.getLogger(__name__)

DELIVERED, RETRY, PARKED, RELEASED = "delivered", "retry", "parked", "released"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    detail: str = ""  # e.g. "HTTP 500" or "ConnectError: ..."


class WebhookSender(Protocol):
    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        """POST `body`; ok only on a 2xx answer; done within the sender's timeout. Never raises for network
        trouble, and never puts the answer's body in `detail`."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=2)
    max_attempts: int = 20

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return min(self.base * (1 << min(max(attempts - 1, 0), 30)), self.cap)


@dataclass
class DispatchReport:
    claimed: list[str] = field(default_factory=list)
    delivered: int = 0
    retried: int = 0
    parked: int = 0
    released: int = 0  # claimed but not attempted (app budget or lease): due again at once


class WebhookRenderer(Protocol):
    def render(self, event: Event) -> tuple[str, Mapping[str, Any]]:
        """The body's `api_version` and `data` for `event`, in the API's own shape (the adapter knows it;
        gateway/api/webhook_bodies.py), from what the event stored. Raises for an event it cannot render."""


class _NoRenderer:
    def render(self, event: Event) -> tuple[str, Mapping[str, Any]]:
        raise LookupError("this dispatcher was made without a webhook renderer")


def body_of(event: Event, renderer: WebhookRenderer) -> bytes:
    """The webhook body: {"id", "type", "api_version", "created_at", "merchant_id", "app_id", "sequence",
    "data"}: the event's stored envelope, `data` rendered now by `renderer`, and the storage's sequence
    number for the event."""
    api_version, data = renderer.render(event)
    body = {**event.payload, "api_version": api_version, "data": data}
    if event.sequence is not None:
        body["sequence"] = event.sequence
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _ignore(_result: str) -> None:
    return None


def sequence_of(event: Event) -> tuple[int, str]:
    """An app's events are sent in the storage's order (every stored event has its number), then by id."""
    return event.sequence or 0, event.id


@dataclass
class _AppTurn:
    """One app's share of a claimed batch, being delivered on the pool."""

    app_id: str
    events: list[Event]
    future: Future[list[str]] | None = None

    def result(self) -> list[str]:
        assert self.future is not None
        return self.future.result()

    def add_done_callback(self, callback: Callable[[_AppTurn], None]) -> None:
        assert self.future is not None
        self.future.add_done_callback(lambda _f: callback(self))


class WebhookDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        sender: WebhookSender,
        clock: Callable[[], datetime] = utcnow,
        *,
        policy: RetryPolicy = RetryPolicy(),
        batch: int = 100,
        lease: timedelta = timedelta(seconds=60),
        attempt_timeout: timedelta = timedelta(seconds=5),
        concurrency: int = 8,
        app_budget: timedelta = timedelta(seconds=5),
        targets: TargetPolicy | None = None,
        observe: Callable[[str], None] = _ignore,
        renderer: WebhookRenderer | None = None,  # without one, events cannot be sent (operator use only)
    ):
        self.uow = uow
        self.renderer = renderer or _NoRenderer()
        self.sender = sender
        self.clock = clock
        self.policy = policy
        self.batch = batch
        self.lease = lease
        self.attempt_timeout = attempt_timeout.total_seconds()
        self.concurrency = concurrency
        self.app_budget = app_budget.total_seconds()
        self.targets = targets or TargetPolicy()
        self.observe = observe
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # apps with a turn under way: not claimed for until it ends
        self._pool: ThreadPoolExecutor | None = None  # `concurrency` threads, started on first use
        self._closing = False

    def run(self) -> DispatchReport:
        """Claim one batch of due events (of apps not being sent to right now), deliver it, apps side by
        side, and wait for it: the synchronous form, for tests and tools."""
        report = DispatchReport()
        for turn in self._start_batch():
            report.claimed += [e.id for e in turn.events]
            self._tally(report, turn.result())
        return report

    def pump(self) -> int:
        """Claim due events of apps not being sent to right now and hand each app's share to the pool,
        without waiting: an app whose endpoint is slow keeps its thread, and the next call (every
        `every_seconds`) already serves the other apps' new events. Returns how many events it claimed."""
        with self._lock:
            if len(self._busy) >= self.concurrency:
                return 0
        turns = self._start_batch()
        for turn in turns:
            turn.add_done_callback(self._log_turn)
        return sum(len(turn.events) for turn in turns)

    def close(self) -> None:
        """Stop: no new attempt starts (unattempted events are given back); waits for the ones under way."""
        self._closing = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _start_batch(self) -> list[_AppTurn]:
        with self._lock:
            busy = frozenset(self._busy)
        started = time.monotonic()  # taken before the claim: the lease runs out no earlier than this + lease
        now = self.clock()
        with self.uow(write=True) as uow:
            claimed = uow.events.claim_due(now, now + self.lease, self.batch, exclude_apps=busy)
            endpoints = {app_id: uow.access.get_webhook(app_id) for app_id in {e.app_id for e in claimed}}
            uow.commit()
        if not claimed:
            return []
        # An attempt must have ended (and its outcome been recorded) before the lease runs out.
        lease = self.lease.total_seconds()
        send_by = started + lease - min(lease * 0.1, 2.0)
        by_app: dict[str, list[Event]] = {}
        for event in claimed:
            by_app.setdefault(event.app_id, []).append(event)
        with self._lock:
            self._busy.update(by_app)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhooks")
            pool = self._pool
        turns = []
        for app_id, app_events in by_app.items():
            turn = _AppTurn(app_id, app_events)
            try:
                future = pool.submit(self._app_turn, app_events, endpoints.get(app_id), send_by)
            except RuntimeError:  # closed meanwhile: the lease brings the events back
                self._done(app_id)
                continue
            turn.future = future
            turns.append(turn)
        return turns

    def _app_turn(self, events: list[Event], endpoint: WebhookEndpoint | None, send_by: float) -> list[str]:
        try:
            return self._deliver_app(events, endpoint, send_by)
        finally:
            self._done(events[0].app_id)

    def _done(self, app_id: str) -> None:
        with self._lock:
            self._busy.discard(app_id)

    @staticmethod
    def _tally(report: DispatchReport, outcomes: list[str]) -> None:
        for result in outcomes:
            if result == DELIVERED:
                report.delivered += 1
            elif result == PARKED:
                report.parked += 1
            elif result == RELEASED:
                report.released += 1
            else:
                report.retried += 1

    def _log_turn(self, turn: _AppTurn) -> None:
        try:
            outcomes = turn.result()
        except Exception:
            log.exception("delivering webhooks failed; will try again", extra={"app": turn.app_id})
            return
        report = DispatchReport(claimed=[e.id for e in turn.events])
        self._tally(report, outcomes)
        log.info("dispatched webhooks", extra={
            "app": turn.app_id, "claimed": len(report.claimed), "delivered": report.delivered,
            "retried": report.retried, "parked": report.parked, "released": report.released})

    def _deliver_app(self, events: list[Event], endpoint: WebhookEndpoint | None, send_by: float) -> list[str]:
        """One app's share of a batch, in sequence order; what cannot start in time is given back."""
        results: list[str] = []
        budget_ends = time.monotonic() + self.app_budget
        for event in sorted(events, key=sequence_of):
            now = time.monotonic()
            if self._closing or now >= budget_ends or now + self.attempt_timeout > send_by:
                results.append(self._release(event))
                continue
            result = self._deliver(event, endpoint)
            self.observe(result)
            results.append(result)
        return results

    def _release(self, event: Event) -> str:
        with self.uow(write=True) as uow:
            uow.events.release(event, self.clock())
            uow.commit()
        return RELEASED

    def run_until_done(self, max_batches: int = 100) -> DispatchReport:
        return run_until_done(self.run, lambda report: len(report.claimed) >= self.batch, max_batches)

    def _deliver(self, event: Event, endpoint: WebhookEndpoint | None) -> str:
        if endpoint is None:  # removed since the claim: retried on the usual schedule
            outcome = DeliveryResult(False, f"app {event.app_id} has no webhook URL (cashier apps set-webhook)")
        else:
            try:
                body = body_of(event, self.renderer)
            except Exception as exc:  # an event without a renderer is not sent in some other shape
                log.exception("webhook body cannot be rendered", extra={"event": event.id, "type": event.type})
                outcome = DeliveryResult(False, f"cannot render the body: {type(exc).__name__}: {exc}")
            else:
                headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event.id,
                           SIGNATURE_HEADER: sign_webhook(endpoint.secret, body, int(self.clock().timestamp()))}
                try:
                    outcome = self.sender.send(endpoint.url, body, headers)
                except Exception as exc:  # a sender should not raise; never let one event stop the batch
                    log.exception("webhook sender failed", extra={"event": event.id, "app": event.app_id})
                    outcome = DeliveryResult(False, f"{type(exc).__name__}: {exc}")
        now = self.clock()
        with self.uow(write=True) as uow:
            if outcome.ok:
                uow.events.mark_delivered(event, now)
                uow.commit()
                return DELIVERED
            attempts = event.attempts + 1
            park = attempts >= self.policy.max_attempts
            uow.events.mark_failed(event, park=park, retry_at=now + self.policy.delay(attempts),
                                   error=outcome.detail)
            uow.commit()
        if park:
            log.error("webhook undeliverable; parked for an operator (cashier events redeliver)",
                      extra={"event": event.id, "app": event.app_id, "type": event.type,
                             "attempts": attempts, "detail": outcome.detail})
            return PARKED
        log.log(logging.WARNING if endpoint is not None else logging.INFO, "webhook delivery failed; will retry",
                extra={"event": event.id, "app": event.app_id, "attempts": attempts, "detail": outcome.detail})
        return RETRY

    # --- operators ----------------------------------------------------------------------------------

    def list_events(self, state: EventState | None = None, limit: int = 100) -> list[Event]:
        with self.uow() as uow:
            return uow.events.list(state, limit)

    def redeliver(self, event_id: str) -> Event:
        """A PARKED event back to PENDING, due now, with its attempts counted afresh."""
        with self.uow(write=True) as uow:
            event = uow.events.get(event_id)
            if event is None:
                raise NotFound(f"event {event_id} does not exist", reason="EVENT_NOT_FOUND")
            if not uow.events.redeliver(event_id, self.clock()):
                raise FailedPrecondition(f"event {event_id} is {event.state.value}, not PARKED",
                                         reason="EVENT_NOT_PARKED", metadata={"event": event_id})
            again = uow.events.get(event_id)
            uow.commit()
        assert again is not None
        return again

    def set_webhook(self, app_id: str, url: str) -> str:
        """Register (or replace) the app's webhook URL with a new secret, returned once. The URL must be one
        the target policy allows (https, a public host name; see gateway/webhook_targets.py)."""
        v = Violations()
        try:
            self.targets.check_url(url)
        except RefusedTarget as exc:
            v.add("url", str(exc))
        v.raise_if_any()
        secret = new_webhook_secret()
        with self.uow(write=True) as uow:
            if not uow.access.set_webhook(app_id, WebhookEndpoint(url, secret)):
                raise NotFound(f"app {app_id} does not exist", reason="APP_NOT_FOUND")
            uow.commit()
        return secret
