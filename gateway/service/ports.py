"""The ports the service layer needs. Storage adapters implement them; tests may fake them."""

from __future__ import annotations

# `builtins.list` where a repository's own `list` method would shadow the type in its class body.
import builtins
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain.events import Event, EventState
from gateway.domain.flags import Flag, FlagKind
from gateway.domain.hooks import HookRun, HookRunState
from gateway.domain.merchants import App, Merchant, Principal, PrincipalKind
from gateway.domain.payments import Payment, PaymentState
from gateway.domain.refunds import Refund, RefundState
from gateway.service.keys import ApiKey

# A port, not an adapter: settlement's ledger port imports only settlement's domain, and the payment and refund
# transactions append their postings through it (issue 18: in the same transaction as the change).
from settlement.service.ledger_ports import LedgerRepository


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An idempotency-key and the request it came with, within its scope (the merchant the request names, ""
    when none, and the caller's id). See gateway/service/idempotency.py."""

    merchant_id: str
    principal_id: str
    key: str
    method: str  # the RPC's full name, e.g. cashier.v1.CashierService.RefundPayment
    fingerprint: str  # SHA-256 of the request's deterministic encoding
    resource_id: str | None  # what the call acted on; None when it was stored with its answer only
    created_at: datetime
    response: bytes | None = None  # the answer as sent; None until stored


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    merchant_ids: Sequence[str]
    state: PaymentState | None = None
    out_trade_no: str | None = None
    # Payment ids sort by creation time, so creation-time filters become id bounds.
    id_from: str | None = None
    id_before: str | None = None
    after_id: str | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class RefundQuery:
    """None means "any": the resolver lists PENDING refunds of every merchant."""

    merchant_id: str | None = None
    payment_id: str | None = None
    state: RefundState | None = None
    after_id: str | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class ReconcileClaim:
    """What the reconciler asks for (see PaymentRepository.claim_for_reconcile)."""

    now: datetime
    pending_before: datetime
    until: datetime
    channels: Sequence[str]
    limit: int


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> bool:
        """Store a new payment; False when the merchant already has one with its out_trade_no."""

    def get(self, merchant_id: str, payment_id: str) -> Payment | None: ...

    def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        """Read the payment and lock its row until the transaction ends (PostgreSQL: SELECT … FOR UPDATE).
        Take it before any row that hangs off the payment: the lock order in gateway/storage/__init__.py."""

    def get_by_out_trade_no(self, merchant_id: str, out_trade_no: str) -> Payment | None: ...

    def get_by_checkout_token(self, token: str) -> Payment | None:
        """The payment whose hosted checkout page is /pay/<token> (tokens are unique across merchants)."""

    def list(self, query: PaymentQuery) -> list[Payment]:
        """Newest first (descending id), strictly older than `after_id` when given."""

    def save_state(self, payment: Payment, expected: PaymentState) -> bool:
        """Write the state and its companions (updated_at, paid_at, channel_reference, buyer_id, fee_bps)
        only if the stored state is still `expected`: the database, not the caller, decides a race."""

    def claim_for_reconcile(self, claim: ReconcileClaim) -> builtins.list[Payment]:
        """Due payments of `claim.channels`, at most `claim.limit`: PENDING ones created before
        `claim.pending_before` or expired at `claim.now`, and CLOSED ones the channel has not confirmed
        closed; each not claimed until after `claim.now`. Their next look is moved to `claim.until`, so
        that another process skips them (PostgreSQL: FOR UPDATE SKIP LOCKED). Commit promptly."""
        ...

    def reconcile_later(self, merchant_id: str, payment_id: str, at: datetime) -> None:
        """Move the payment's next look by the reconciler to `at`."""

    def mark_channel_closed(self, merchant_id: str, payment_id: str) -> bool:
        """Record that the channel confirmed the (CLOSED) payment can no longer be paid there."""
        ...

    def reserve_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        """Hold `amount` for a pending refund, only if the payment is SUCCEEDED or PARTIALLY_REFUNDED and
        everything held stays within its amount. One conditional UPDATE: concurrent refunds cannot race."""

    def release_refund(self, merchant_id: str, payment_id: str, amount: int) -> bool:
        """Give back what a failed refund held."""

    def settle_refund(self, merchant_id: str, payment_id: str, amount: int, now: datetime) -> bool:
        """Count a held refund as refunded: PARTIALLY_REFUNDED, or REFUNDED when all of it went back."""


class RefundRepository(Protocol):
    def add(self, refund: Refund) -> bool:
        """Store a new refund; False when the payment already has one with its out_refund_no."""

    def get(self, merchant_id: str, refund_id: str) -> Refund | None: ...

    def get_by_out_refund_no(self, merchant_id: str, payment_id: str, out_refund_no: str) -> Refund | None: ...

    def list(self, query: RefundQuery) -> list[Refund]:
        """Newest first (descending id), strictly older than `after_id` when given."""

    def save_state(self, refund: Refund, expected: RefundState) -> bool:
        """Write state, updated_at and failure_reason only if the stored state is still `expected`."""


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where an app receives its events, and the secret they are signed with."""

    url: str
    secret: str


class EventRepository(Protocol):
    """The transactional outbox: events are added in the transaction of the change they report."""

    def add(self, event: Event) -> None:
        """Store the event and give it the next sequence number. An event about a payment is added after the
        payment row's update in the same transaction: that row's lock makes one payment's events' sequence
        numbers follow the order their transactions committed in (what `of_payment` relies on)."""

    def of_payment(self, merchant_id: str, payment_id: str, after: int, limit: int) -> list[Event]:
        """The payment's events with a sequence number above `after`, in sequence order, at most `limit`."""

    def last_of_payment(self, merchant_id: str, payment_id: str) -> int:
        """The highest sequence number among the payment's events; 0 when it has none."""

    def get(self, event_id: str) -> Event | None: ...

    def list(self, state: EventState | None, limit: int) -> list[Event]:
        """Newest first."""

    def claim_due(self, now: datetime, until: datetime, limit: int,
                  exclude_apps: Collection[str] = ()) -> builtins.list[Event]:
        """PENDING events due at `now` (oldest due first) of apps that registered a webhook URL (the others
        wait until they do) and are not in `exclude_apps`, at most `limit`; their next attempt is moved
        to `until` so that another process skips them (PostgreSQL: FOR UPDATE SKIP LOCKED). Commit promptly."""

    def mark_delivered(self, event: Event, at: datetime) -> bool:
        """PENDING → DELIVERED, only if nobody else recorded an attempt since `event` was claimed."""

    def mark_failed(self, event: Event, *, park: bool, retry_at: datetime, error: str) -> bool:
        """Count a failed attempt: retry at `retry_at`, or PARKED when `park` (same condition as above)."""

    def release(self, event: Event, at: datetime) -> bool:
        """Give back a claimed event unattempted: due again at `at`, its attempts unchanged (same condition)."""

    def redeliver(self, event_id: str, at: datetime) -> bool:
        """PARKED → PENDING with its attempts reset, due at `at`."""

    def purge_delivered(self, delivered_before: datetime, limit: int) -> int:
        """Delete up to `limit` events delivered before `delivered_before` whose lifecycle hooks have all
        run, with their (DONE) hook runs; returns how many events went. PENDING and PARKED events, and events
        with a hook run not DONE or not yet fanned out, stay."""


class HookRunRepository(Protocol):
    """Lifecycle hook calls owed to plugins, fanned out from the outbox."""

    def fan_out(self, subscribers: Mapping[str, Sequence[tuple[str, str]]], now: datetime, limit: int) -> int:
        """For up to `limit` events not fanned out yet, add a PENDING run per (plugin, hook) that
        `subscribers` lists for the event's type (none for other types), and mark the events fanned out.
        Safe with several processes (SKIP LOCKED; a run is added at most once). Returns the events done."""

    def claim_due(self, now: datetime, until: datetime, limit: int) -> list[HookRun]:
        """PENDING runs due at `now` with their event, their next attempt moved to `until` (a lease)."""

    def mark_done(self, run: HookRun, at: datetime) -> bool:
        """PENDING → DONE, only if nobody else recorded an attempt since `run` was claimed."""

    def mark_failed(self, run: HookRun, *, park: bool, retry_at: datetime, error: str) -> bool: ...

    def list(self, state: HookRunState | None, limit: int) -> list[HookRun]:
        """Newest event first."""

    def get(self, event_id: str, plugin: str) -> HookRun | None: ...

    def rerun(self, event_id: str, plugin: str, at: datetime) -> bool:
        """PARKED → PENDING with its attempts reset, due at `at`."""


class FlagRepository(Protocol):
    def raise_flag(self, flag: Flag) -> Flag:
        """Store the flag; if one of its kind is stored for the same merchant and payment, count one
        more occurrence (reopening it if resolved) and return that one instead."""

    def get(self, flag_id: str) -> Flag | None: ...

    def list(self, open_only: bool, limit: int) -> list[Flag]:
        """Newest first."""

    def resolve(self, flag_id: str, at: datetime, resolution: str) -> bool:
        """Mark an open flag resolved with the operator's note; False when it is not open."""

    def resolve_kind(self, merchant_id: str, kind: FlagKind, at: datetime, resolution: str) -> int:
        """Mark every open flag of `kind` of the merchant resolved (an operator's action that answers them all,
        e.g. un-parking its payouts); returns how many."""


class IdempotencyRepository(Protocol):
    def get(self, merchant_id: str, principal_id: str, key: str) -> IdempotencyRecord | None: ...

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Store the record, or return the one already stored under the same key (and store nothing). On
        PostgreSQL a claim waits for a transaction that holds the same key uncommitted."""

    def complete(self, record: IdempotencyRecord, response: bytes) -> bool:
        """Store the answer of a record claimed without one; False when it has one already."""

    def purge(self, older_than: datetime) -> int: ...


class MerchantRepository(Protocol):
    def get(self, merchant_id: str) -> Merchant | None: ...

    def add(self, merchant: Merchant) -> bool: ...

    def update(self, merchant: Merchant) -> None: ...

    def list(self, after_id: str | None, limit: int) -> list[Merchant]: ...


class AccessRepository(Protocol):
    """Apps, operators, their hashed keys and which merchants authorised which app."""

    def add_app(self, app: App) -> bool: ...

    def get_app(self, app_id: str) -> App | None: ...

    def list_apps(self) -> list[tuple[App, list[str]]]: ...

    def add_operator(self, operator_id: str, created_at: datetime) -> bool: ...

    def lock_holder(self, kind: PrincipalKind, principal_id: str) -> bool:
        """Whether the app or operator exists; its row stays locked until commit (PostgreSQL: FOR UPDATE),
        so that concurrent key changes of one holder queue and the live-key limit holds."""

    def add_key(self, key: ApiKey, key_hash: str) -> bool:
        """Store a key; False when its hash is already stored."""

    def list_keys(self, kind: PrincipalKind, principal_id: str | None = None) -> list[ApiKey]:
        """The keys of one holder (None: of every holder of `kind`), newest first."""

    def expire_key(self, key_id: str, at: datetime) -> bool:
        """Make an unrevoked key expire at `at`, unless it expires earlier already."""

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        """Mark a key revoked at `at`; False when it was revoked already."""

    def principal_for_key(self, key_hash: str, now: datetime) -> tuple[Principal, datetime | None] | None:
        """The holder of the key with this hash if the key is live at `now` (and the app not disabled),
        with the key's expiry; None otherwise."""

    def authorize(self, app_id: str, merchant_id: str, at: datetime) -> bool: ...

    def deauthorize(self, app_id: str, merchant_id: str) -> bool: ...

    def set_webhook(self, app_id: str, endpoint: WebhookEndpoint) -> bool: ...

    def get_webhook(self, app_id: str) -> WebhookEndpoint | None: ...


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The rail's answer to a payout-account transfer: sent (with the rail's id for it), or refused with the
    rail's reason in words the applicant can act on (e.g. the holder's name does not match the account)."""

    sent: bool
    reference: str = ""
    refusal: str = ""


class PayoutAccountTransfers(Protocol):
    """Small transfers to a payout account, to verify it (onboarding). The Alipay rail implements it with
    alipay.fund.trans.uni.transfer (identity_type ALIPAY_LOGON_ID, payee_info.name = `holder_name`, which
    Alipay checks), in certificate mode."""

    def send(self, logon_id: str, holder_name: str, amount: int, out_biz_no: str) -> TransferResult:
        """Transfer `amount` fen. Repeating a call with the same `out_biz_no` never sends twice. Raises when
        the answer is unknown (the caller keeps the attempt open: the money may have arrived)."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without `commit()` rolls everything back."""

    # Read-only properties: an adapter's own repository classes satisfy them (a Protocol's mutable attribute
    # would have to be declared with exactly this type).

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def merchants(self) -> MerchantRepository: ...

    @property
    def access(self) -> AccessRepository: ...

    @property
    def refunds(self) -> RefundRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def hook_runs(self) -> HookRunRepository: ...

    @property
    def flags(self) -> FlagRepository: ...

    @property
    def ledger(self) -> LedgerRepository:
        """Settlement's ledger: a payment's or refund's transaction appends its entries here, after the
        payment's and refund's rows and before its event (the lock order in gateway/storage)."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> UnitOfWork:
        """`write=True` takes the write lock up front (SQLite's BEGIN IMMEDIATE) so that concurrent
        writers queue instead of failing on lock upgrade."""
