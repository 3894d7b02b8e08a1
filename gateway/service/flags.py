"""Flags for operators: raised where money moved in a way the gateway will not apply silently, listed and
resolved by operators (`cashier flags list`, `cashier flags resolve`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.domain.errors import FailedPrecondition, NotFound, Violations
from gateway.domain.flags import Flag, FlagKind
from gateway.domain.ids import utcnow
from gateway.service.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("cashier.flags")


def raise_flag(uow: UnitOfWork, kind: FlagKind, *, merchant_id: str, payment_id: str, channel: str, detail: str,
               now: datetime) -> Flag:
    """Record the flag in the caller's transaction and log it (the log is not the record: the row is)."""
    flag = uow.flags.raise_flag(Flag.raise_(kind, merchant_id=merchant_id, payment_id=payment_id,
                                            channel=channel, detail=detail, now=now))
    log.error("flagged for an operator: %s", detail, extra={
        "flag": kind.value, "flag_id": flag.id, "merchant": merchant_id, "payment": payment_id,
        "channel": channel, "occurrences": flag.occurrences})
    return flag


class FlagService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime] = utcnow):
        self.uow = uow
        self.clock = clock

    def raise_flag(self, kind: FlagKind, *, merchant_id: str, payment_id: str, channel: str, detail: str) -> Flag:
        """In a transaction of its own: for what is refused, whose own transaction is rolled back."""
        with self.uow(write=True) as uow:
            flag = raise_flag(uow, kind, merchant_id=merchant_id, payment_id=payment_id, channel=channel,
                              detail=detail, now=self.clock())
            uow.commit()
        return flag

    def list(self, *, include_resolved: bool = False, limit: int = 100) -> list[Flag]:
        with self.uow() as uow:
            return uow.flags.list(not include_resolved, limit)

    def resolve(self, flag_id: str, resolution: str) -> Flag:
        v = Violations()
        if not resolution.strip():
            v.add("resolution", "say what was done (e.g. 'refunded the buyer, ticket 123')")
        v.raise_if_any()
        with self.uow(write=True) as uow:
            flag = uow.flags.get(flag_id)
            if flag is None:
                raise NotFound(f"flag {flag_id} does not exist", reason="FLAG_NOT_FOUND")
            if not uow.flags.resolve(flag_id, self.clock(), resolution.strip()):
                raise FailedPrecondition(f"flag {flag_id} is resolved already", reason="FLAG_NOT_OPEN",
                                         metadata={"flag": flag_id})
            resolved = uow.flags.get(flag_id)
            uow.commit()
        assert resolved is not None
        return resolved
