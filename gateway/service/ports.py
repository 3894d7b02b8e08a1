"""The ports the service layer needs. Storage adapters implement them; tests may fake them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain.merchants import App, Merchant, Principal
from gateway.domain.payments import Payment, PaymentState


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    merchant_id: str
    app_id: str
    key: str
    fingerprint: str
    payment_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    merchant_ids: Sequence[str]
    state: PaymentState | None = None
    # Payment ids sort by creation time, so creation-time filters become id bounds.
    id_from: str | None = None
    id_before: str | None = None
    after_id: str | None = None
    limit: int = 20


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> bool:
        """Store a new payment; False when the merchant already has one with its out_trade_no."""

    def get(self, merchant_id: str, payment_id: str) -> Payment | None: ...

    def get_by_out_trade_no(self, merchant_id: str, out_trade_no: str) -> Payment | None: ...

    def get_by_checkout_token(self, token: str) -> Payment | None:
        """The payment whose hosted checkout page is /pay/<token> (tokens are unique across merchants)."""

    def list(self, query: PaymentQuery) -> list[Payment]:
        """Newest first (descending id), strictly older than `after_id` when given."""

    def save_state(self, payment: Payment, expected: PaymentState) -> bool:
        """Write the state and its companions (updated_at, paid_at, channel_reference) only if the
        stored state is still `expected`: the database, not the caller, decides a race."""


class IdempotencyRepository(Protocol):
    def get(self, merchant_id: str, app_id: str, key: str) -> IdempotencyRecord | None: ...

    def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Store the record, or return the one already stored under the same key (and store nothing)."""

    def purge(self, older_than: datetime) -> int: ...


class MerchantRepository(Protocol):
    def get(self, merchant_id: str) -> Merchant | None: ...

    def add(self, merchant: Merchant) -> bool: ...

    def update(self, merchant: Merchant) -> None: ...

    def list(self, after_id: str | None, limit: int) -> list[Merchant]: ...


class AccessRepository(Protocol):
    """Apps, operators, their hashed keys and which merchants authorised which app."""

    def add_app(self, app: App, key_hash: str) -> bool: ...

    def get_app(self, app_id: str) -> App | None: ...

    def list_apps(self) -> list[tuple[App, list[str]]]: ...

    def add_operator(self, operator_id: str, key_hash: str, created_at: datetime) -> bool: ...

    def principal_for_key(self, key_hash: str) -> Principal | None: ...

    def authorize(self, app_id: str, merchant_id: str, at: datetime) -> bool: ...

    def deauthorize(self, app_id: str, merchant_id: str) -> bool: ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without `commit()` rolls everything back."""

    payments: PaymentRepository
    idempotency: IdempotencyRepository
    merchants: MerchantRepository
    access: AccessRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> UnitOfWork:
        """`write=True` takes the write lock up front (SQLite's BEGIN IMMEDIATE) so that concurrent
        writers queue instead of failing on lock upgrade."""
