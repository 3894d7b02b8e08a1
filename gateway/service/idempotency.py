"""Idempotency-keys for every RPC that changes something, on the use cases' side (the adapter's side, which
reads the header and stores answers, is gateway/api/idempotency.py).

As Stripe does: a key is scoped to the caller (its principal id) and to the merchant the request names ("" when
it names none); the request is identified by the RPC's full name and a digest of its bytes. A retry gets the
first answer again exactly, a different request under the same key is refused (IDEMPOTENCY_KEY_REUSED).

An answer is stored only once the call began to act. A use case marks that moment by calling `claim()` in the
transaction that acts, before anything else it writes (the lock order in gateway/storage): the key is then
stored in the same transaction as what it guards, so that a crash between the two cannot turn a retry into a
second action, and a concurrent copy of the call finds the key (PostgreSQL: waits for it) and acts not at
all. Refused input, an auth failure or a conflict raised in that transaction roll the claim back with
everything else: nothing is stored. The answer itself is added once the call returns; a record claimed but
never completed (the process died in between, or the call is still running) is replayed from its
`resource_id` by the RPC's own rebuild, or answered "in progress".
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.errors import FailedPrecondition, PermissionDenied
from gateway.domain.ids import utcnow
from gateway.domain.merchants import Principal, PrincipalKind
from gateway.service.ports import IdempotencyRecord, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdempotentCall:
    """A call that came with an idempotency-key."""

    principal: Principal
    merchant_id: str  # the merchant the request names; "" when it names none
    key: str
    method: str  # the RPC's full name
    fingerprint: str  # SHA-256 of the request's deterministic encoding

    def record(self, resource_id: str | None, now: datetime, response: bytes | None = None) -> IdempotencyRecord:
        return IdempotencyRecord(self.merchant_id, self.principal.id, self.key, self.method, self.fingerprint,
                                 resource_id, now, response)

    def same_request(self, record: IdempotencyRecord) -> bool:
        return (record.method, record.fingerprint) == (self.method, self.fingerprint)


class ClaimedBefore(Exception):  # noqa: N818 - not an error: the call's answer is the earlier one
    """Raised by `claim()` inside the acting transaction (which it rolls back): the key was claimed first by
    another call, whose record this carries. The adapter that set the call answers from it."""

    def __init__(self, record: IdempotencyRecord):
        super().__init__(record.key)
        self.record = record


_current: contextvars.ContextVar[IdempotentCall | None] = contextvars.ContextVar("idempotent_call", default=None)


@contextmanager
def calling(call: IdempotentCall) -> Iterator[None]:
    """Run a use case as `call`: its `claim()` stores the key."""
    token = _current.set(call)
    try:
        yield
    finally:
        _current.reset(token)


def claim(uow: UnitOfWork, resource_id: str, now: datetime) -> None:
    """Claim the current call's idempotency-key in the transaction `uow` that acts on `resource_id` (a payment
    or refund id: what a replay is rebuilt from if the answer is never stored). Call it first in that
    transaction, before any other write. No key sent: nothing to do. Raises ClaimedBefore when the key is
    taken; the transaction must then be left without commit (raising does that)."""
    call = _current.get()
    if call is None:
        return
    earlier = uow.idempotency.claim(call.record(resource_id, now))
    if earlier is not None:
        raise ClaimedBefore(earlier)


def key_reused(call: IdempotentCall, earlier: IdempotencyRecord) -> FailedPrecondition:
    return FailedPrecondition(
        f"idempotency-key {earlier.key!r} was first used at {earlier.created_at.isoformat()} for a different "
        f"request ({earlier.method}); send a new key for a new request",
        reason="IDEMPOTENCY_KEY_REUSED", metadata={"idempotency_key": earlier.key, "method": earlier.method})


def in_progress(earlier: IdempotencyRecord) -> FailedPrecondition:
    return FailedPrecondition(
        f"a call with idempotency-key {earlier.key!r} is still in progress; retry in a moment for its answer",
        reason="IDEMPOTENCY_KEY_IN_PROGRESS", metadata={"idempotency_key": earlier.key})


class IdempotencyService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime] = utcnow):
        self.uow = uow
        self.clock = clock

    def earlier(self, call: IdempotentCall) -> IdempotencyRecord | None:
        """The record of an earlier call with the same key, if that call was the same request; raises
        IDEMPOTENCY_KEY_REUSED if it was another. A replay is an answer about the merchant: an app that no
        longer acts for it is refused as the RPC itself would refuse it."""
        with self.uow() as uow:
            record = uow.idempotency.get(call.merchant_id, call.principal.id, call.key)
        if record is not None:
            self.check(call, record)
        return record

    def check(self, call: IdempotentCall, record: IdempotencyRecord) -> None:
        if not call.same_request(record):
            raise key_reused(call, record)
        principal = call.principal
        if call.merchant_id and principal.kind is PrincipalKind.APP and not principal.acts_for(call.merchant_id):
            raise PermissionDenied(f"this app is not authorised to act for merchant {call.merchant_id!r}",
                                   reason="MERCHANT_NOT_AUTHORIZED", metadata={"merchant": call.merchant_id})

    def store(self, call: IdempotentCall, response: bytes) -> None:
        """Keep the answer the call gave: on the record its use case claimed, or on a new one (a call that
        changed nothing this time, e.g. closing a closed payment, or a use case that claims nothing). The
        call has acted: if this fails, the caller still gets its answer, and a retry rebuilds it."""
        try:
            with self.uow(write=True) as uow:
                earlier = uow.idempotency.claim(call.record(None, self.clock(), response))
                if earlier is not None and earlier.response is None and call.same_request(earlier):
                    uow.idempotency.complete(earlier, response)
                uow.commit()
        except Exception:
            log.exception("could not store the answer of %s under its idempotency-key", call.method,
                          extra={"method": call.method, "merchant": call.merchant_id})
