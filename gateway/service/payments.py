"""Payment use cases: create (idempotent), read, list, close, preview the route."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from channels.protocol import ChannelNotification, Outcome, RouteRequest
from gateway.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
)
from gateway.domain.events import PAYMENT_CLOSED, PAYMENT_SUCCEEDED, payment_event
from gateway.domain.flags import FlagKind
from gateway.domain.ids import new_checkout_token, new_payment_id, payment_id_floor, utcnow
from gateway.domain.merchants import Merchant, Principal, PrincipalKind
from gateway.domain.payments import ClientInfo, NewPayment, Payment, PaymentState, Scenario
from gateway.service import paging
from gateway.service.flags import raise_flag
from gateway.service.merchant_cache import MerchantCache
from gateway.service.ports import IdempotencyRecord, PaymentQuery, UnitOfWork, UnitOfWorkFactory
from gateway.service.routing import RouteDecision, Router

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CreatePayment:
    principal: Principal
    payment: NewPayment
    # The app's idempotency-key, if it sent one, and a digest of the whole request it came with.
    idempotency_key: str | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class ListPayments:
    principal: Principal
    merchant_id: str  # "-" for every merchant the app acts for
    state: PaymentState | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class PreviewRoute:
    principal: Principal
    merchant_id: str
    amount: int
    currency: str
    client: ClientInfo
    scenario: Scenario
    scan_to_pay: bool = False


class PaymentService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        router: Router,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[datetime], str] = new_payment_id,
        new_token: Callable[[], str] = new_checkout_token,
        merchants: MerchantCache | None = None,
    ):
        self.uow = uow
        self.router = router
        self.clock = clock
        self.new_id = new_id
        self.new_token = new_token
        # Shared with AdminService, which drops an entry when it changes the merchant.
        self.merchants = merchants if merchants is not None else MerchantCache(ttl_seconds=0)

    def create(self, cmd: CreatePayment) -> Payment:
        new = cmd.payment
        _require_access(cmd.principal, new.merchant_id)
        # One read transaction at most, and none when the merchant is cached and no idempotency-key was
        # sent: the write transaction below decides every race anyway.
        merchant = self.merchants.cached(new.merchant_id)
        if merchant is None or cmd.idempotency_key:
            with self.uow() as uow:
                if merchant is None:
                    merchant = _require_merchant(self.merchants.load(uow, new.merchant_id), new.merchant_id)
                if cmd.idempotency_key:
                    earlier = uow.idempotency.get(new.merchant_id, cmd.principal.id, cmd.idempotency_key)
                    if earlier is not None:
                        return self._replay(uow, earlier, cmd)
        merchant.check_can_collect()
        decision = self.router.route(
            RouteRequest(merchant, new.amount, new.currency, new.client, new.scenario, new.scan_to_pay))
        channel = decision.require()
        now = self.clock()
        payment = Payment.create(payment_id=self.new_id(now), app_id=cmd.principal.id, new=new,
                                 channel=channel.name, now=now, checkout_token=self.new_token())
        # The channel prepares before anything is stored: if it fails, nothing is left behind, and a
        # buyer can only act on what we return after the commit below.
        payment = payment.with_action(self.router.prepare(channel, payment))
        with self.uow(write=True) as uow:
            if cmd.idempotency_key:
                earlier = uow.idempotency.claim(IdempotencyRecord(
                    new.merchant_id, cmd.principal.id, cmd.idempotency_key, cmd.fingerprint, payment.id, now))
                if earlier is not None:
                    return self._replay(uow, earlier, cmd)
            if not uow.payments.add(payment):
                existing = uow.payments.get_by_out_trade_no(new.merchant_id, new.out_trade_no)
                raise AlreadyExists(
                    f"merchant {new.merchant_id} already has a payment with out_trade_no "
                    f"{new.out_trade_no!r}; use a new out_trade_no for a new order",
                    reason="OUT_TRADE_NO_IN_USE",
                    metadata={"out_trade_no": new.out_trade_no,
                              "payment": existing.id if existing else ""},
                )
            uow.commit()
        return payment

    def _replay(self, uow: UnitOfWork, earlier: IdempotencyRecord, cmd: CreatePayment) -> Payment:
        if earlier.fingerprint != cmd.fingerprint:
            raise FailedPrecondition(
                f"idempotency-key {earlier.key!r} was first used at {earlier.created_at.isoformat()} for a "
                "different request; send a new key for a new request",
                reason="IDEMPOTENCY_KEY_REUSED",
                metadata={"idempotency_key": earlier.key, "payment": earlier.payment_id},
            )
        payment = uow.payments.get(earlier.merchant_id, earlier.payment_id)
        if payment is None:  # the record and its payment are written in one transaction
            raise RuntimeError(f"idempotency record {earlier.key!r} points at missing payment")
        # Replay the first response exactly as it was: the payment as it stood when created.
        return replace(payment, state=PaymentState.PENDING, updated_at=payment.created_at,
                       refunded_amount=0, refund_reserved=0)

    def get(self, principal: Principal, merchant_id: str, payment_id: str) -> Payment:
        _require_access(principal, merchant_id)
        with self.uow() as uow:
            payment = uow.payments.get(merchant_id, payment_id)
        if payment is None:
            raise NotFound(f"payment merchants/{merchant_id}/payments/{payment_id} does not exist",
                           reason="PAYMENT_NOT_FOUND")
        return payment

    def for_checkout(self, token: str) -> tuple[Payment, Merchant]:
        """The payment behind a hosted checkout link, and its merchant, for the buyer's page. The token is
        the only credential the buyer has: an unknown one is NotFound, whatever merchant it might be."""
        with self.uow() as uow:
            payment = uow.payments.get_by_checkout_token(token)
            merchant = uow.merchants.get(payment.merchant_id) if payment is not None else None
        if payment is None or merchant is None:
            raise NotFound("no payment has this checkout link", reason="CHECKOUT_NOT_FOUND")
        return payment, merchant

    def list(self, cmd: ListPayments) -> tuple[list[Payment], str]:
        if cmd.merchant_id == "-":
            merchant_ids = sorted(cmd.principal.merchant_ids)
        else:
            _require_access(cmd.principal, cmd.merchant_id)
            merchant_ids = [cmd.merchant_id]
        size = paging.page_size(cmd.page_size)
        filters = (cmd.merchant_id, cmd.state, cmd.created_from, cmd.created_to)
        query = PaymentQuery(
            merchant_ids=merchant_ids,
            state=cmd.state,
            id_from=payment_id_floor(cmd.created_from) if cmd.created_from else None,
            id_before=payment_id_floor(cmd.created_to) if cmd.created_to else None,
            after_id=paging.decode_token(cmd.page_token, filters),
            limit=size + 1,
        )
        with self.uow() as uow:
            rows = uow.payments.list(query) if merchant_ids else []
        page, more = rows[:size], len(rows) > size
        return page, paging.encode_token(page[-1].id, filters) if more else ""

    def close(self, principal: Principal, merchant_id: str, payment_id: str) -> Payment:
        _require_access(principal, merchant_id)
        with self.uow(write=True) as uow:
            payment = uow.payments.get(merchant_id, payment_id)
            if payment is None:
                raise NotFound(f"payment merchants/{merchant_id}/payments/{payment_id} does not exist",
                               reason="PAYMENT_NOT_FOUND")
            closed = payment.closed(self.clock())
            if closed is not payment:
                if not uow.payments.save_state(closed, expected=payment.state):
                    raise FailedPrecondition(f"payment {payment_id} changed while closing; read it again",
                                             reason="CONCURRENT_UPDATE")
                uow.events.add(payment_event(PAYMENT_CLOSED, closed, closed.updated_at))
                uow.commit()
        return closed

    def confirm_from_channel(self, channel: str, merchant_id: str, note: ChannelNotification) -> Payment:
        """Apply a verified channel notification: PENDING (or locally CLOSED) → SUCCEEDED, exactly once.

        Duplicates and notifications that report no payment change nothing. A notification naming another
        channel or another amount is refused and flagged for an operator (the flag is committed, the
        payment is not touched): money may have moved, so it is never applied silently. A payment closed
        here and paid at the channel is recorded as paid and flagged LATE_SUCCESS in the same transaction.
        """
        now = self.clock()
        with self.uow(write=True) as uow:
            payment = uow.payments.get(merchant_id, note.payment_id)
            if payment is None:
                raise NotFound(f"payment merchants/{merchant_id}/payments/{note.payment_id} does not exist",
                               reason="PAYMENT_NOT_FOUND")
            refusal: tuple[FlagKind, FailedPrecondition] | None = None
            if payment.channel != channel:
                refusal = FlagKind.CHANNEL_MISMATCH, FailedPrecondition(
                    f"payment {payment.id} was routed to {payment.channel!r}, not {channel!r}",
                    reason="CHANNEL_MISMATCH", metadata={"payment": payment.id})
            elif note.outcome is not Outcome.SUCCEEDED:
                return payment
            elif note.amount != payment.amount:
                refusal = FlagKind.AMOUNT_MISMATCH, FailedPrecondition(
                    f"channel {channel!r} reports {note.amount} paid for payment {payment.id} of {payment.amount}",
                    reason="AMOUNT_MISMATCH", metadata={"payment": payment.id})
            if refusal is not None:
                kind, error = refusal
                raise_flag(uow, kind, merchant_id=merchant_id, payment_id=payment.id, channel=channel,
                           detail=error.message, now=now)
                uow.commit()
                raise error
            paid = payment.paid(now, note.reference, note.buyer_id)
            if paid is payment:
                return payment
            if not uow.payments.save_state(paid, expected=payment.state):
                # Another process applied a notification first (PostgreSQL); read what it wrote.
                current = uow.payments.get(merchant_id, payment.id)
                assert current is not None
                return current
            uow.events.add(payment_event(PAYMENT_SUCCEEDED, paid, paid.updated_at))
            if payment.state is PaymentState.CLOSED:
                raise_flag(uow, FlagKind.LATE_SUCCESS, merchant_id=merchant_id, payment_id=payment.id,
                           channel=channel, now=now,
                           detail=f"payment {payment.id} was closed here and then paid at {channel!r}; recorded "
                                  "as paid (refund the buyer or deliver the order)")
            uow.commit()
        return paid

    def preview(self, cmd: PreviewRoute) -> RouteDecision:
        _require_access(cmd.principal, cmd.merchant_id)
        with self.uow() as uow:
            merchant = _merchant(uow, cmd.merchant_id)
        return self.router.route(
            RouteRequest(merchant, cmd.amount, cmd.currency, cmd.client, cmd.scenario, cmd.scan_to_pay))


def _require_access(principal: Principal, merchant_id: str) -> None:
    """An app sees only merchants that authorised it; it learns nothing about any other merchant."""
    if principal.kind is not PrincipalKind.APP or not principal.acts_for(merchant_id):
        raise PermissionDenied(f"this app is not authorised to act for merchant {merchant_id!r}",
                               reason="MERCHANT_NOT_AUTHORIZED", metadata={"merchant": merchant_id})


def _merchant(uow: UnitOfWork, merchant_id: str) -> Merchant:
    return _require_merchant(uow.merchants.get(merchant_id), merchant_id)


def _require_merchant(merchant: Merchant | None, merchant_id: str) -> Merchant:
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
    return merchant
