"""Payment use cases: create, read, list, close, preview the route. Create and close claim the caller's
idempotency-key in the transaction that acts (gateway/service/idempotency.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time

from channels.contract.protocol import ChannelNotification, Outcome
from gateway.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from gateway.domain.events import PAYMENT_CLOSED, PAYMENT_SUCCEEDED, payment_event
from gateway.domain.flags import FlagKind
from gateway.domain.ids import new_checkout_token, new_payment_id, payment_id_floor, utcnow
from gateway.domain.merchants import Merchant, Principal, PrincipalKind
from gateway.domain.onboarding.collection import collection_refusal
from gateway.domain.payments import ClientInfo, NewPayment, Payment, PaymentState, Scenario
from gateway.service import idempotency, paging
from gateway.service.channel_views import route_request
from gateway.service.flags import raise_flag
from gateway.service.merchant_cache import MerchantCache, merchants_alone
from gateway.service.ports import PaymentQuery, UnitOfWorkFactory
from gateway.service.routing import RouteDecision, Router
from settlement.domain.calendar import DEFAULT_CUTOFF, settlement_day
from settlement.domain.fees import FeeSchedule, fee_for
from settlement.domain.ledger import book_payment

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CreatePayment:
    principal: Principal
    payment: NewPayment


@dataclass(frozen=True, slots=True)
class ListPayments:
    principal: Principal
    merchant_id: str  # "-" for every merchant the app acts for
    state: PaymentState | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    page_size: int = 0
    page_token: str = ""
    out_trade_no: str | None = None  # the merchant's order number: at most one payment per merchant


@dataclass(frozen=True, slots=True)
class PreviewRoute:
    """What CreatePayment would be asked, in the fields that decide the route."""

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
        individuals_open: bool = False,
        fees: FeeSchedule | None = None,
        cutoff: time = DEFAULT_CUTOFF,
    ):
        self.uow = uow
        self.router = router
        self.clock = clock
        self.new_id = new_id
        self.new_token = new_token
        # Shared with AdminService and OnboardingService, which drop an entry when they change the merchant.
        self.merchants = merchants if merchants is not None else MerchantCache(merchants_alone(uow), ttl_seconds=0)
        self.individuals_open = individuals_open  # `[onboarding] individuals`: may ordinary individuals collect
        # `[settlement.fees]` and `[settlement] cutoff`: a payment's fee rate and settlement day when it succeeds.
        # None: no fee on any channel (what bootstrap builds without `[settlement.fees]`, for every channel).
        self.fees = fees
        self.cutoff = cutoff

    def create(self, cmd: CreatePayment) -> Payment:
        new = cmd.payment
        merchant = self._collecting_merchant(cmd.principal, new.merchant_id)
        decision = self.router.route(
            route_request(merchant, new.amount, new.currency, new.client, new.scenario, new.scan_to_pay))
        channel = decision.require()
        now = self.clock()
        payment = Payment.create(payment_id=self.new_id(now), app_id=cmd.principal.id, new=new,
                                 channel=channel.name, now=now, checkout_token=self.new_token())
        # The channel prepares before anything is stored: if it fails, nothing is left behind, and a
        # buyer can only act on what we return after the commit below.
        payment = payment.with_action(self.router.prepare(channel, payment))
        with self.uow(write=True) as uow:
            # The idempotency-key (if one was sent) in the payment's transaction: a crash cannot separate them.
            idempotency.claim(uow, payment.id, now)
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

    def as_created(self, principal: Principal, merchant_id: str, payment_id: str) -> Payment:
        """The payment as CreatePayment answered it, however it has moved on since: a replay's answer when the
        stored answer is missing (the key and the payment were committed, the answer not yet)."""
        payment = self.get(principal, merchant_id, payment_id)
        return replace(payment, state=PaymentState.PENDING, updated_at=payment.created_at, paid_at=None,
                       channel_reference="", buyer_id="", refunded_amount=0, refund_reserved=0, fee_bps=None)

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
        filters: tuple[object, ...] = (cmd.merchant_id, cmd.state, cmd.created_from, cmd.created_to)
        if cmd.out_trade_no is not None:  # appended only when set: tokens issued without it stay valid
            filters += (("out_trade_no", cmd.out_trade_no),)
        query = PaymentQuery(
            merchant_ids=merchant_ids,
            state=cmd.state,
            out_trade_no=cmd.out_trade_no,
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
                idempotency.claim(uow, payment.id, closed.updated_at)
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

        The success is booked in the same transaction (issue 18): the fee rate is stored on the payment by
        the state change's own UPDATE, and the ledger's entries (the amount, then the fee) are appended after
        it and before the event, inserts only, so a busy merchant's payments never queue on a balance row.
        Only the transaction whose conditional UPDATE won appends them: a duplicate books nothing.
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
            bps = self._fee_rate(payment)
            paid = payment.paid(now, note.reference, note.buyer_id, fee_bps=bps)
            if paid is payment:
                return payment
            if not uow.payments.save_state(paid, expected=payment.state):
                # Another process applied a notification first (PostgreSQL); read what it wrote.
                current = uow.payments.get(merchant_id, payment.id)
                assert current is not None
                return current
            uow.ledger.append(book_payment(merchant_id, paid.id, paid.amount, fee_for(paid.amount, bps)),
                              settlement_day=settlement_day(now, self.cutoff), at=now)
            uow.events.add(payment_event(PAYMENT_SUCCEEDED, paid, paid.updated_at))
            if payment.state is PaymentState.CLOSED:
                raise_flag(uow, FlagKind.LATE_SUCCESS, merchant_id=merchant_id, payment_id=payment.id,
                           channel=channel, now=now,
                           detail=f"payment {payment.id} was closed here and then paid at {channel!r}; recorded "
                                  "as paid (refund the buyer or deliver the order)")
            uow.commit()
        return paid

    def _fee_rate(self, payment: Payment) -> int:
        """The channel's rate now. Start-up made sure every loaded channel has one; a payment of a channel
        no longer loaded (its plugin switched off since) is still recorded as paid, at 0 bps and logged:
        money the buyer paid is never refused over the platform's fee."""
        if self.fees is None:
            return 0
        try:
            return self.fees.rate_for(payment.channel)
        except InvalidArgument:
            log.error("no fee rate for the channel of a paid payment; booked with no fee",
                      extra={"channel": payment.channel, "payment": payment.id, "merchant": payment.merchant_id})
            return 0

    def preview(self, principal: Principal, cmd: PreviewRoute) -> RouteDecision:
        """The route CreatePayment would take, with its trace; refused exactly as CreatePayment would refuse
        the merchant (the servicer validates the fields with the same rules)."""
        merchant = self._collecting_merchant(principal, cmd.merchant_id)
        return self.router.route(
            route_request(merchant, cmd.amount, cmd.currency, cmd.client, cmd.scenario, cmd.scan_to_pay))

    def _collecting_merchant(self, principal: Principal, merchant_id: str) -> Merchant:
        """The merchant, if this app acts for it and it can collect: CreatePayment's and PreviewRoute's one
        check. Onboarding's answer first (its application approved, its payout account verified, individuals
        open), then the merchant's own row, which is all a merchant created directly by an operator has. A
        cached merchant costs no transaction; the write transaction that follows decides races."""
        _require_access(principal, merchant_id)
        found = self.merchants.get(merchant_id)
        if found is None:
            raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
        refusal = collection_refusal(merchant_id, found.application, self.individuals_open)
        if refusal is not None:
            raise refusal
        found.merchant.check_can_collect()
        return found.merchant


def _require_access(principal: Principal, merchant_id: str) -> None:
    """An app sees only merchants that authorised it; it learns nothing about any other merchant."""
    if principal.kind is not PrincipalKind.APP or not principal.acts_for(merchant_id):
        raise PermissionDenied(f"this app is not authorised to act for merchant {merchant_id!r}",
                               reason="MERCHANT_NOT_AUTHORIZED", metadata={"merchant": merchant_id})
