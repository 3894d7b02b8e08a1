"""Un-parking a merchant's payouts (`cashier settle unpark`): after `max_payout_failures` failed runs a run
parks them and flags PAYOUT_PARKED (settlement/service/run.py); once an operator has fixed the cause (the payout
account, most often), this re-arms them so that the next run pays again, with an audit row naming the operator,
and resolves the merchant's open PAYOUT_PARKED flags.

Lock order (gateway/storage/__init__.py): the merchant's row (level 1), as a run takes it, then the payout
(level 5), the audit row, and the flags last."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gateway.domain.errors import FailedPrecondition, NotFound
from gateway.domain.flags import FlagKind
from gateway.domain.onboarding.audit import Actor, AuditEvent
from settlement.service.payout_ports import Payout
from settlement.service.ports import SettlementUnitOfWorkFactory


def _utc_now() -> datetime:
    return datetime.now(UTC)


def unpark(uow: SettlementUnitOfWorkFactory, merchant_id: str, actor: Actor,
           now: Callable[[], datetime] = _utc_now) -> Payout:
    """Reset the failure count of `merchant_id`'s parked payouts; returns the parked payout as it was. Raises
    NotFound for no such merchant and FailedPrecondition (PAYOUTS_NOT_PARKED) when its payouts are not parked;
    nothing is changed then."""
    with uow(write=True) as tx:
        if not tx.settlement_payouts.lock_merchant(merchant_id):
            raise NotFound(f"no merchant {merchant_id}")
        at = now()
        parked = tx.settlement_payouts.unpark(merchant_id, at)
        if parked is None:
            raise FailedPrecondition(f"the payouts of {merchant_id} are not parked: nothing to un-park",
                                     reason="PAYOUTS_NOT_PARKED")
        tx.audit.add(AuditEvent.create(
            actor=actor, action="merchant.payouts_unparked", now=at, merchant_id=merchant_id,
            subject=f"merchants/{merchant_id}/payouts/{parked.payout_id}",
            before={"state": "PARKED", "failures": parked.failures},
            after={"state": "FAILED", "failures": 0}))
        # What the PAYOUT_PARKED flag asked an operator to do is done: it leaves the open flags (last: the lock
        # order's flags level).
        tx.flags.resolve_kind(merchant_id, FlagKind.PAYOUT_PARKED, at,
                              f"payouts un-parked by {actor.id} (cashier settle unpark)")
        tx.commit()
    return parked
