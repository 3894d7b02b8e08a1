"""Delivering outbox events to the trading apps as signed webhooks.

Events are written by the use cases in the transaction of the change they report (`uow.events.add`).
The dispatcher, a housekeeping loop of `cashier serve` (every `[webhooks] every_seconds`):

1. claims a batch of due PENDING events of apps that registered a webhook URL (an app's events wait,
   unattempted, until it registers one, then arrive oldest first) in a short transaction, pushing their
   next attempt `lease`
   ahead (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite serialises writers), so that two gateway processes
   never send the same event at once, and a process that dies mid-batch leaves its events to be claimed
   again once the lease has passed;
2. POSTs each event's JSON body to its app's webhook URL, signed (gateway/webhook_signing.py) with
   `Cashier-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` and `Cashier-Event-Id`;
3. records the outcome: any 2xx → DELIVERED; anything else → retried after base × 2^(n-1) (capped),
   and PARKED with its last error after `max_attempts` (by default 20 attempts over about 21 hours).
   `cashier events redeliver EVENT_ID` moves a PARKED event back to PENDING.

Delivery is at least once: an app de-duplicates on the event id (the same on every retry).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from gateway.domain.errors import FailedPrecondition, NotFound, Violations
from gateway.domain.events import Event, EventState
from gateway.domain.ids import utcnow
from gateway.service.ports import UnitOfWorkFactory, WebhookEndpoint
from gateway.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign_webhook

log = logging.getLogger(__name__)

DELIVERED, RETRY, PARKED = "delivered", "retry", "parked"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    detail: str = ""  # e.g. "HTTP 500" or "ConnectError: ..."


class WebhookSender(Protocol):
    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        """POST `body`; ok only on a 2xx answer. Never raises for network trouble."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=2)
    max_attempts: int = 20

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return min(self.base * (2 ** min(max(attempts - 1, 0), 30)), self.cap)


@dataclass
class DispatchReport:
    claimed: list[str] = field(default_factory=list)
    delivered: int = 0
    retried: int = 0
    parked: int = 0


def body_of(event: Event) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _ignore(_result: str) -> None:
    return None


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
        observe: Callable[[str], None] = _ignore,
    ):
        self.uow = uow
        self.sender = sender
        self.clock = clock
        self.policy = policy
        self.batch = batch
        self.lease = lease
        self.observe = observe

    def run(self) -> DispatchReport:
        """Claim one batch of due events and try to deliver each once."""
        report = DispatchReport()
        now = self.clock()
        with self.uow(write=True) as uow:
            claimed = uow.events.claim_due(now, now + self.lease, self.batch)
            endpoints = {app_id: uow.access.get_webhook(app_id) for app_id in {e.app_id for e in claimed}}
            uow.commit()
        for event in claimed:
            report.claimed.append(event.id)
            result = self._deliver(event, endpoints.get(event.app_id))
            self.observe(result)
            if result == DELIVERED:
                report.delivered += 1
            elif result == PARKED:
                report.parked += 1
            else:
                report.retried += 1
        return report

    def run_until_done(self, max_batches: int = 100) -> DispatchReport:
        total = DispatchReport()
        for _ in range(max_batches):
            report = self.run()
            total.claimed += report.claimed
            total.delivered += report.delivered
            total.retried += report.retried
            total.parked += report.parked
            if len(report.claimed) < self.batch:
                break
        return total

    def _deliver(self, event: Event, endpoint: WebhookEndpoint | None) -> str:
        if endpoint is None:  # removed since the claim: retried on the usual schedule
            outcome = DeliveryResult(False, f"app {event.app_id} has no webhook URL (cashier apps set-webhook)")
        else:
            body = body_of(event)
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
        """Register (or replace) the app's webhook URL with a new secret, returned once."""
        v = Violations()
        if not (url.startswith("https://") or url.startswith("http://")) or len(url) > 2048:
            v.add("url", "an http:// or https:// URL of at most 2048 characters")
        v.raise_if_any()
        secret = new_webhook_secret()
        with self.uow(write=True) as uow:
            if not uow.access.set_webhook(app_id, WebhookEndpoint(url, secret)):
                raise NotFound(f"app {app_id} does not exist", reason="APP_NOT_FOUND")
            uow.commit()
        return secret
