"""Repositories over one SQLAlchemy Connection (owned by the unit of work). SQLAlchemy Core, not the ORM:
the hot path maps rows to frozen domain objects directly, with statements compiled once and cached."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, and_, bindparam, case, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.domain.actions import action_from_dict, action_to_dict
from gateway.domain.events import Event, EventState
from gateway.domain.hooks import HookRunState
from gateway.domain.merchants import App, Merchant, MerchantState, Principal, PrincipalKind, SettlementPlan
from gateway.domain.payments import (
    REFUNDABLE_STATES,
    ClientInfo,
    LineItem,
    Payment,
    PaymentState,
    Platform,
    Scenario,
)
from gateway.domain.refunds import Refund, RefundState
from gateway.service.keys import ApiKey
from gateway.service.ports import (
    IdempotencyRecord,
    PaymentQuery,
    ReconcileClaim,
    RefundQuery,
    WebhookEndpoint,
)
from gateway.storage.tables import (
    api_keys,
    app_merchants,
    apps,
    events,
    hook_runs,
    idempotency_keys,
    merchants,
    operators,
    payments,
    refunds,
)

_INSERT_IGNORE: dict[tuple[str, str], Insert] = {}


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was written. The database decides races."""
    name = conn.dialect.name
    stmt = _INSERT_IGNORE.get((name, table.name))
    if stmt is None:  # built once per dialect and table: no construct or cache key to build per call
        dialect = postgresql if name == "postgresql" else sqlite
        # RETURNING, not rowcount: drivers disagree on rowcount for a skipped row (psycopg reports -1).
        stmt = dialect.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
        _INSERT_IGNORE[(name, table.name)] = stmt
    return conn.execute(stmt, values).first() is not None


# --- payments ------------------------------------------------------------------------------------------


def _payment_values(p: Payment) -> dict[str, Any]:
    return {
        "merchant_id": p.merchant_id,
        "payment_id": p.id,
        "out_trade_no": p.out_trade_no,
        "app_id": p.app_id,
        "amount": p.amount,
        "currency": p.currency,
        "subject": p.subject,
        "line_items": [[i.sku, i.name, i.quantity, i.unit_price] for i in p.line_items],
        "client": {"platform": p.client.platform.value, "app_name": p.client.app_name,
                   "app_version": p.client.app_version, "user_agent": p.client.user_agent},
        "scenario": p.scenario.value,
        "channel": p.channel,
        "action": action_to_dict(p.action) if p.action else None,
        "return_url": p.return_url,
        "metadata": dict(p.metadata),
        "state": p.state.value,
        "scan_to_pay": p.scan_to_pay,
        "paid_at": p.paid_at,
        "channel_reference": p.channel_reference,
        "checkout_token": p.checkout_token or None,
        "refunded_amount": p.refunded_amount,
        "refund_reserved": p.refund_reserved,
        "buyer_id": p.buyer_id,
        "version": 1,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "expires_at": p.expires_at,
    }


def _payment(row: Any) -> Payment:
    c = row.client
    return Payment(
        id=row.payment_id,
        merchant_id=row.merchant_id,
        app_id=row.app_id,
        out_trade_no=row.out_trade_no,
        amount=row.amount,
        currency=row.currency,
        subject=row.subject,
        client=ClientInfo(Platform(c["platform"]), c["app_name"], c["app_version"], c["user_agent"]),
        scenario=Scenario(row.scenario),
        channel=row.channel,
        action=action_from_dict(row.action),
        state=PaymentState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        line_items=tuple(LineItem(*item) for item in row.line_items),
        return_url=row.return_url,
        metadata=row.metadata,
        scan_to_pay=row.scan_to_pay,
        paid_at=row.paid_at,
        channel_reference=row.channel_reference,
        checkout_token=row.checkout_token or "",
        refunded_amount=row.refunded_amount,
        refund_reserved=row.refund_reserved,
        buyer_id=row.buyer_id,
    )


# Built once: the hot path's reads execute a ready statement (no construct, no cache key per call).
# The notification path's conditional state change, built once (statement construction showed in the profile).
_SAVE_PAYMENT_STATE = (
    update(payments)
    .where(payments.c.merchant_id == bindparam("key_merchant_id"), payments.c.payment_id == bindparam("key_payment_id"),
           payments.c.state == bindparam("expected"))
    .values(state=bindparam("new_state"), updated_at=bindparam("new_updated_at"), paid_at=bindparam("new_paid_at"),
            channel_reference=bindparam("new_channel_reference"), buyer_id=bindparam("new_buyer_id"),
            version=payments.c.version + 1)
)
_GET_PAYMENT = select(payments).where(payments.c.merchant_id == bindparam("merchant_id"),
                                      payments.c.payment_id == bindparam("payment_id"))
# The payment row's lock, taken first by every transaction that writes the payment and a row that hangs
# off it (a refund, an event): the lock order in gateway/storage/__init__.py. SQLite renders no FOR UPDATE
# and needs none: BEGIN IMMEDIATE made the transaction the only writer.
_LOCK_PAYMENT = _GET_PAYMENT.with_for_update()


class SqlPaymentRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, payment: Payment) -> bool:
        return _insert_ignore(self.conn, payments, _payment_values(payment))

    def get(self, merchant_id: str, payment_id: str) -> Payment | None:
        row = self.conn.execute(_GET_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).first()
        return _payment(row) if row else None

    def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        row = self.conn.execute(_LOCK_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).first()
        return _payment(row) if row else None

    def get_by_out_trade_no(self, merchant_id: str, out_trade_no: str) -> Payment | None:
        row = self.conn.execute(
            select(payments).where(payments.c.merchant_id == merchant_id, payments.c.out_trade_no == out_trade_no)
        ).first()
        return _payment(row) if row else None

    def get_by_checkout_token(self, token: str) -> Payment | None:
        if not token:
            return None
        row = self.conn.execute(select(payments).where(payments.c.checkout_token == token)).first()
        return _payment(row) if row else None

    def list(self, query: PaymentQuery) -> list[Payment]:
        stmt = select(payments).where(payments.c.merchant_id.in_(query.merchant_ids))
        if query.state is not None:
            stmt = stmt.where(payments.c.state == query.state.value)
        if query.out_trade_no is not None:  # the unique (merchant_id, out_trade_no) index serves it
            stmt = stmt.where(payments.c.out_trade_no == query.out_trade_no)
        if query.id_from is not None:
            stmt = stmt.where(payments.c.payment_id >= query.id_from)
        if query.id_before is not None:
            stmt = stmt.where(payments.c.payment_id < query.id_before)
        if query.after_id is not None:
            stmt = stmt.where(payments.c.payment_id < query.after_id)
        stmt = stmt.order_by(payments.c.payment_id.desc()).limit(query.limit)
        return [_payment(row) for row in self.conn.execute(stmt)]

    def save_state(self, payment: Payment, expected: PaymentState) -> bool:
        result = self.conn.execute(_SAVE_PAYMENT_STATE, {
            "key_merchant_id": payment.merchant_id, "key_payment_id": payment.id, "expected": expected.value,
            "new_state": payment.state.value, "new_updated_at": payment.updated_at, "new_paid_at": payment.paid_at,
            "new_channel_reference": payment.channel_reference, "new_buyer_id": payment.buyer_id})
        return result.rowcount == 1

    def claim_for_reconcile(self, claim: ReconcileClaim) -> list[Payment]:
        c = payments.c
        due = and_(
            c.channel.in_(list(claim.channels)),
            or_(
                and_(c.state == PaymentState.PENDING.value,
                     or_(c.created_at <= claim.pending_before, c.expires_at <= claim.now)),
                and_(c.state == PaymentState.CLOSED.value, c.channel_closed.is_(False)),
            ),
            or_(c.reconcile_after.is_(None), c.reconcile_after <= claim.now),
        )
        stmt = select(payments).where(due).order_by(c.reconcile_after, c.payment_id).limit(claim.limit)
        if self.conn.dialect.name == "postgresql":
            # Rows another process is claiming right now are skipped, not waited for; once it commits,
            # their reconcile_after lies in the future and the condition above excludes them.
            stmt = stmt.with_for_update(of=payments, skip_locked=True)
        claimed = [_payment(row) for row in self.conn.execute(stmt)]
        for p in claimed:
            self.reconcile_later(p.merchant_id, p.id, claim.until)
        return claimed

    def reconcile_later(self, merchant_id: str, payment_id: str, at: datetime) -> None:
        self.conn.execute(update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
        ).values(reconcile_after=at))

    def mark_channel_closed(self, merchant_id: str, payment_id: str) -> bool:
        return self.conn.execute(update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
            payments.c.state == PaymentState.CLOSED.value,
        ).values(channel_closed=True)).rowcount == 1

    def _refund_update(self, merchant_id: str, payment_id: str) -> Any:
        return update(payments).where(
            payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
            payments.c.state.in_([state.value for state in REFUNDABLE_STATES]))

    def reserve_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        # One conditional UPDATE: the row lock and the re-checked WHERE decide concurrent refunds.
        result = self.conn.execute(
            self._refund_update(merchant_id, payment_id)
            .where(payments.c.refund_reserved + amount <= payments.c.amount)
            .values(refund_reserved=payments.c.refund_reserved + amount, version=payments.c.version + 1))
        return result.rowcount == 1

    def release_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        result = self.conn.execute(
            update(payments)
            .where(payments.c.merchant_id == merchant_id, payments.c.payment_id == payment_id,
                   payments.c.refund_reserved >= amount)
            .values(refund_reserved=payments.c.refund_reserved - amount, version=payments.c.version + 1))
        return result.rowcount == 1

    def settle_refund(self, merchant_id: str, payment_id: str, amount: int, now: datetime) -> bool:
        refunded = payments.c.refunded_amount + amount
        result = self.conn.execute(
            self._refund_update(merchant_id, payment_id)
            .where(refunded <= payments.c.refund_reserved)
            .values(refunded_amount=refunded,
                    state=case((refunded >= payments.c.amount, PaymentState.REFUNDED.value),
                               else_=PaymentState.PARTIALLY_REFUNDED.value),
                    updated_at=now, version=payments.c.version + 1))
        return result.rowcount == 1


# --- refunds -------------------------------------------------------------------------------------------


def _refund(row: Any) -> Refund:
    return Refund(
        id=row.refund_id, merchant_id=row.merchant_id, payment_id=row.payment_id, app_id=row.app_id,
        out_refund_no=row.out_refund_no, amount=row.amount, currency=row.currency, reason=row.reason,
        state=RefundState(row.state), created_at=row.created_at, updated_at=row.updated_at,
        failure_reason=row.failure_reason, channel_reference=row.channel_reference,
    )


class SqlRefundRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, refund: Refund) -> bool:
        return _insert_ignore(self.conn, refunds, {
            "merchant_id": refund.merchant_id, "refund_id": refund.id, "payment_id": refund.payment_id,
            "out_refund_no": refund.out_refund_no, "app_id": refund.app_id, "amount": refund.amount,
            "currency": refund.currency, "reason": refund.reason, "state": refund.state.value,
            "failure_reason": refund.failure_reason, "created_at": refund.created_at,
            "updated_at": refund.updated_at, "channel_reference": refund.channel_reference,
        })

    def get(self, merchant_id: str, refund_id: str) -> Refund | None:
        row = self.conn.execute(
            select(refunds).where(refunds.c.merchant_id == merchant_id, refunds.c.refund_id == refund_id)
        ).first()
        return _refund(row) if row else None

    def get_by_out_refund_no(self, merchant_id: str, payment_id: str, out_refund_no: str) -> Refund | None:
        row = self.conn.execute(select(refunds).where(
            refunds.c.merchant_id == merchant_id, refunds.c.payment_id == payment_id,
            refunds.c.out_refund_no == out_refund_no)).first()
        return _refund(row) if row else None

    def list(self, query: RefundQuery) -> list[Refund]:
        stmt = select(refunds)
        if query.merchant_id is not None:
            stmt = stmt.where(refunds.c.merchant_id == query.merchant_id)
        if query.payment_id is not None:
            stmt = stmt.where(refunds.c.payment_id == query.payment_id)
        if query.state is not None:
            stmt = stmt.where(refunds.c.state == query.state.value)
        if query.after_id is not None:
            stmt = stmt.where(refunds.c.refund_id < query.after_id)
        stmt = stmt.order_by(refunds.c.refund_id.desc()).limit(query.limit)
        return [_refund(row) for row in self.conn.execute(stmt)]

    def save_state(self, refund: Refund, expected: RefundState) -> bool:
        result = self.conn.execute(
            update(refunds)
            .where(refunds.c.merchant_id == refund.merchant_id, refunds.c.refund_id == refund.id,
                   refunds.c.state == expected.value)
            .values(state=refund.state.value, updated_at=refund.updated_at, failure_reason=refund.failure_reason,
                    channel_reference=refund.channel_reference)
        )
        return result.rowcount == 1


# --- events (the outbox) -------------------------------------------------------------------------------


def _event(row: Any) -> Event:
    return Event(id=row.event_id, merchant_id=row.merchant_id, app_id=row.app_id, type=row.type,
                 payload=row.payload, created_at=row.created_at, state=EventState(row.state),
                 attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                 payment_id=row.payment_id, payment=row.payment_snapshot, sequence=row.sequence)


# PostgreSQL numbers an event from events_sequence_seq (the column's default); SQLite, which has one writer
# at a time (BEGIN IMMEDIATE), from the largest number so far, found through the unique index.
_INSERT_EVENT = events.insert()
_INSERT_EVENT_NUMBERED = events.insert().values(
    sequence=select(func.coalesce(func.max(events.c.sequence), 0) + 1).scalar_subquery())
_EVENTS_OF_PAYMENT = (
    select(events)
    .where(events.c.merchant_id == bindparam("merchant_id"), events.c.payment_id == bindparam("payment_id"),
           events.c.sequence > bindparam("after"))
    .order_by(events.c.sequence).limit(bindparam("limit")))
_LAST_OF_PAYMENT = select(func.max(events.c.sequence)).where(
    events.c.merchant_id == bindparam("merchant_id"), events.c.payment_id == bindparam("payment_id"))


class SqlEventRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, event: Event) -> None:
        insert = _INSERT_EVENT if self.conn.dialect.name == "postgresql" else _INSERT_EVENT_NUMBERED
        self.conn.execute(insert, {
            "merchant_id": event.merchant_id, "event_id": event.id, "app_id": event.app_id, "type": event.type,
            "payload": dict(event.payload), "created_at": event.created_at, "state": event.state.value,
            "attempts": event.attempts, "next_attempt_at": event.next_attempt_at or event.created_at,
            "last_error": event.last_error, "hooks_pending": True, "payment_id": event.payment_id,
            "payment_snapshot": dict(event.payment) if event.payment is not None else None})

    def of_payment(self, merchant_id: str, payment_id: str, after: int, limit: int) -> list[Event]:
        return [_event(row) for row in self.conn.execute(_EVENTS_OF_PAYMENT, {
            "merchant_id": merchant_id, "payment_id": payment_id, "after": after, "limit": limit})]

    def last_of_payment(self, merchant_id: str, payment_id: str) -> int:
        last = self.conn.execute(_LAST_OF_PAYMENT, {"merchant_id": merchant_id, "payment_id": payment_id}).scalar()
        return int(last) if last is not None else 0

    def get(self, event_id: str) -> Event | None:
        row = self.conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return _event(row) if row else None

    def list(self, state: EventState | None, limit: int) -> list[Event]:
        stmt = select(events).order_by(events.c.event_id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(events.c.state == state.value)
        return [_event(row) for row in self.conn.execute(stmt)]

    def claim_due(self, now: datetime, until: datetime, limit: int,
                  exclude_apps: Collection[str] = ()) -> list[Event]:
        c = events.c
        # Only events of apps that registered a webhook URL: the others wait, unattempted, until they do.
        stmt = (select(events).join(apps, apps.c.app_id == c.app_id)
                .where(c.state == EventState.PENDING.value, c.next_attempt_at <= now, apps.c.webhook_url.is_not(None))
                .order_by(c.next_attempt_at, c.event_id).limit(limit))
        if exclude_apps:  # apps this dispatcher is sending to right now: their events wait for that to end
            stmt = stmt.where(c.app_id.not_in(sorted(exclude_apps)))
        if self.conn.dialect.name == "postgresql":
            # Rows another dispatcher is claiming are skipped; once it commits they are due only at `until`.
            stmt = stmt.with_for_update(of=events, skip_locked=True)
        claimed = [_event(row) for row in self.conn.execute(stmt)]
        if claimed:
            self.conn.execute(update(events).where(tuple_(c.merchant_id, c.event_id).in_(
                [(e.merchant_id, e.id) for e in claimed])).values(next_attempt_at=until))
        return claimed

    def _current(self, event: Event) -> Any:
        c = events.c
        return update(events).where(c.merchant_id == event.merchant_id, c.event_id == event.id,
                                    c.state == EventState.PENDING.value, c.attempts == event.attempts)

    def mark_delivered(self, event: Event, at: datetime) -> bool:
        return self.conn.execute(self._current(event).values(
            state=EventState.DELIVERED.value, attempts=event.attempts + 1, next_attempt_at=at,
            last_error="")).rowcount == 1

    def mark_failed(self, event: Event, *, park: bool, retry_at: datetime, error: str) -> bool:
        state = EventState.PARKED if park else EventState.PENDING
        return self.conn.execute(self._current(event).values(
            state=state.value, attempts=event.attempts + 1, next_attempt_at=retry_at,
            last_error=error[:1000])).rowcount == 1

    def release(self, event: Event, at: datetime) -> bool:
        c = events.c
        return self.conn.execute(update(events).where(
            c.merchant_id == event.merchant_id, c.event_id == event.id, c.state == EventState.PENDING.value,
            c.attempts == event.attempts).values(next_attempt_at=at)).rowcount == 1

    def redeliver(self, event_id: str, at: datetime) -> bool:
        return self.conn.execute(update(events).where(
            events.c.event_id == event_id, events.c.state == EventState.PARKED.value,
        ).values(state=EventState.PENDING.value, attempts=0, next_attempt_at=at)).rowcount == 1

    def purge_delivered(self, delivered_before: datetime, limit: int) -> int:
        c, h = events.c, hook_runs.c
        unfinished = select(h.event_id).where(h.merchant_id == c.merchant_id, h.event_id == c.event_id,
                                              h.state != HookRunState.DONE.value).exists()
        # A delivered event's next_attempt_at is when it was delivered (mark_delivered).
        keys = [tuple(row) for row in self.conn.execute(
            select(c.merchant_id, c.event_id)
            .where(c.state == EventState.DELIVERED.value, c.next_attempt_at < delivered_before,
                   c.hooks_pending.is_(False), ~unfinished)
            .order_by(c.next_attempt_at).limit(limit))]
        if not keys:
            return 0
        # The events' rows before their hook runs': the lock order of gateway/storage/__init__.py.
        purged = int(self.conn.execute(delete(events).where(tuple_(c.merchant_id, c.event_id).in_(keys))).rowcount)
        self.conn.execute(delete(hook_runs).where(tuple_(h.merchant_id, h.event_id).in_(keys)))
        return purged


# --- idempotency ------------------------------------------------------------------------------------


def _record(row: Any) -> IdempotencyRecord:
    return IdempotencyRecord(row.merchant_id, row.app_id, row.idempotency_key, row.method, row.fingerprint,
                             row.resource_id, row.created_at, row.response)


def _key_of(record: IdempotencyRecord) -> Any:
    c = idempotency_keys.c
    return and_(c.merchant_id == record.merchant_id, c.app_id == record.principal_id,
                c.idempotency_key == record.key)


class SqlIdempotencyRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, merchant_id: str, principal_id: str, key: str) -> IdempotencyRecord | None:
        row = self.conn.execute(select(idempotency_keys).where(
            idempotency_keys.c.merchant_id == merchant_id,
            idempotency_keys.c.app_id == principal_id,
            idempotency_keys.c.idempotency_key == key,
        )).first()
        return _record(row) if row else None

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        written = _insert_ignore(self.conn, idempotency_keys, {
            "merchant_id": record.merchant_id, "app_id": record.principal_id, "idempotency_key": record.key,
            "method": record.method, "fingerprint": record.fingerprint, "resource_id": record.resource_id,
            "response": record.response, "created_at": record.created_at,
        })
        if written:
            return None
        return self.get(record.merchant_id, record.principal_id, record.key)

    def complete(self, record: IdempotencyRecord, response: bytes) -> bool:
        c = idempotency_keys.c
        return self.conn.execute(update(idempotency_keys).where(_key_of(record), c.response.is_(None))
                                 .values(response=response)).rowcount == 1

    def purge(self, older_than: datetime) -> int:
        return self.conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than)).rowcount


# --- merchants, apps, operators --------------------------------------------------------------------


def _merchant(row: Any) -> Merchant:
    return Merchant(
        id=row.merchant_id, display_name=row.display_name, state=MerchantState(row.state),
        settlement_account_verified=row.settlement_account_verified,
        business_category=row.business_category, settlement_plan=SettlementPlan(row.settlement_plan),
        created_at=row.created_at,
    )


class SqlMerchantRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, merchant_id: str) -> Merchant | None:
        row = self.conn.execute(select(merchants).where(merchants.c.merchant_id == merchant_id)).first()
        return _merchant(row) if row else None

    def add(self, merchant: Merchant) -> bool:
        return _insert_ignore(self.conn, merchants, {
            "merchant_id": merchant.id, "display_name": merchant.display_name, "state": merchant.state.value,
            "settlement_account_verified": merchant.settlement_account_verified,
            "business_category": merchant.business_category,
            "settlement_plan": merchant.settlement_plan.value, "created_at": merchant.created_at,
        })

    def update(self, merchant: Merchant) -> None:
        self.conn.execute(update(merchants).where(merchants.c.merchant_id == merchant.id).values(
            display_name=merchant.display_name, state=merchant.state.value,
            settlement_account_verified=merchant.settlement_account_verified,
            business_category=merchant.business_category, settlement_plan=merchant.settlement_plan.value,
        ))

    def list(self, after_id: str | None, limit: int) -> list[Merchant]:
        stmt = select(merchants).order_by(merchants.c.merchant_id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(merchants.c.merchant_id > after_id)
        return [_merchant(row) for row in self.conn.execute(stmt)]


def _api_key(row: Any) -> ApiKey:
    return ApiKey(id=row.key_id, principal_kind=PrincipalKind(row.principal_kind), principal_id=row.principal_id,
                  prefix=row.key_prefix, created_at=row.created_at, expires_at=row.expires_at,
                  revoked_at=row.revoked_at)


# What App.key_prefix shows: the prefix of the app's newest key.
_NEWEST_APP_KEY_PREFIX = (
    select(api_keys.c.key_prefix)
    .where(api_keys.c.principal_kind == PrincipalKind.APP.value, api_keys.c.principal_id == apps.c.app_id)
    .order_by(api_keys.c.created_at.desc(), api_keys.c.key_id).limit(1)
    .scalar_subquery().label("key_prefix")
)
_APP_ROWS = select(apps.c.app_id, apps.c.display_name, apps.c.created_at, apps.c.disabled, _NEWEST_APP_KEY_PREFIX)
# The key lookup behind every authentication (once per key per `[auth] cache_seconds`): the key's holder
# if the key is live, and whether that holder is a disabled app, in one statement.
_LIVE_KEY = (
    select(api_keys.c.principal_kind, api_keys.c.principal_id, api_keys.c.expires_at, apps.c.disabled)
    .select_from(api_keys.outerjoin(apps, and_(api_keys.c.principal_kind == PrincipalKind.APP.value,
                                               apps.c.app_id == api_keys.c.principal_id)))
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None),
           or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > bindparam("now")))
)


def _app(row: Any) -> App:
    return App(row.app_id, row.display_name, row.key_prefix or "", row.created_at, row.disabled)


class SqlAccessRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def add_app(self, app: App) -> bool:
        return _insert_ignore(self.conn, apps, {
            "app_id": app.id, "display_name": app.display_name, "disabled": app.disabled,
            "created_at": app.created_at,
        })

    def get_app(self, app_id: str) -> App | None:
        row = self.conn.execute(_APP_ROWS.where(apps.c.app_id == app_id)).first()
        return _app(row) if row else None

    def list_apps(self) -> list[tuple[App, list[str]]]:
        grants: dict[str, list[str]] = {}
        for row in self.conn.execute(select(app_merchants).order_by(app_merchants.c.merchant_id)):
            grants.setdefault(row.app_id, []).append(row.merchant_id)
        return [(_app(row), grants.get(row.app_id, []))
                for row in self.conn.execute(_APP_ROWS.order_by(apps.c.app_id))]

    def add_operator(self, operator_id: str, created_at: datetime) -> bool:
        return _insert_ignore(self.conn, operators, {"operator_id": operator_id, "created_at": created_at})

    def lock_holder(self, kind: PrincipalKind, principal_id: str) -> bool:
        column = apps.c.app_id if kind is PrincipalKind.APP else operators.c.operator_id
        return self.conn.execute(select(column).where(column == principal_id).with_for_update()).first() is not None

    def add_key(self, key: ApiKey, key_hash: str) -> bool:
        return _insert_ignore(self.conn, api_keys, {
            "key_id": key.id, "principal_kind": key.principal_kind.value, "principal_id": key.principal_id,
            "key_hash": key_hash, "key_prefix": key.prefix, "created_at": key.created_at,
            "expires_at": key.expires_at, "revoked_at": key.revoked_at,
        })

    def list_keys(self, kind: PrincipalKind, principal_id: str | None = None) -> list[ApiKey]:
        stmt = (select(api_keys).where(api_keys.c.principal_kind == kind.value)
                .order_by(api_keys.c.principal_id, api_keys.c.created_at.desc(), api_keys.c.key_id))
        if principal_id is not None:
            stmt = stmt.where(api_keys.c.principal_id == principal_id)
        return [_api_key(row) for row in self.conn.execute(stmt)]

    def expire_key(self, key_id: str, at: datetime) -> bool:
        return self.conn.execute(update(api_keys).where(
            api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > at)).values(expires_at=at)).rowcount == 1

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        return self.conn.execute(update(api_keys).where(
            api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=at)).rowcount == 1

    def principal_for_key(self, key_hash: str, now: datetime) -> tuple[Principal, datetime | None] | None:
        row = self.conn.execute(_LIVE_KEY, {"key_hash": key_hash, "now": now}).first()
        if row is None:
            return None
        if row.principal_kind == PrincipalKind.OPERATOR.value:
            return Principal(PrincipalKind.OPERATOR, row.principal_id), row.expires_at
        if row.disabled is not False:  # a disabled app, or the key of an app that no longer exists
            return None
        granted = self.conn.execute(
            select(app_merchants.c.merchant_id).where(app_merchants.c.app_id == row.principal_id)).scalars()
        return Principal(PrincipalKind.APP, row.principal_id, frozenset(granted)), row.expires_at

    def authorize(self, app_id: str, merchant_id: str, at: datetime) -> bool:
        return _insert_ignore(self.conn, app_merchants, {
            "app_id": app_id, "merchant_id": merchant_id, "created_at": at})

    def deauthorize(self, app_id: str, merchant_id: str) -> bool:
        return self.conn.execute(delete(app_merchants).where(
            app_merchants.c.app_id == app_id, app_merchants.c.merchant_id == merchant_id)).rowcount == 1

    def set_webhook(self, app_id: str, endpoint: WebhookEndpoint) -> bool:
        return self.conn.execute(update(apps).where(apps.c.app_id == app_id).values(
            webhook_url=endpoint.url, webhook_secret=endpoint.secret)).rowcount == 1

    def get_webhook(self, app_id: str) -> WebhookEndpoint | None:
        row = self.conn.execute(select(apps.c.webhook_url, apps.c.webhook_secret).where(
            apps.c.app_id == app_id)).first()
        if row is None or not row.webhook_url or not row.webhook_secret:
            return None
        return WebhookEndpoint(row.webhook_url, row.webhook_secret)
