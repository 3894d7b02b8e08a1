"""Operator use cases: merchants, trading apps and their keys, operator credentials. Used by the
`cashier` command line and by OperatorService."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.domain.errors import AlreadyExists, NotFound, Violations
from gateway.domain.ids import utcnow
from gateway.domain.merchants import App, Merchant, MerchantState, SettlementPlan
from gateway.domain.validation import check_text, validate_merchant_id
from gateway.service import paging
from gateway.service.keys import APP_KEY_PREFIX, OPERATOR_KEY_PREFIX, hash_key, key_prefix, new_key
from gateway.service.merchant_cache import MerchantCache
from gateway.service.ports import UnitOfWorkFactory

APP_ID = re.compile(r"[a-z0-9][a-z0-9\-]{2,39}")


@dataclass(frozen=True, slots=True)
class NewMerchant:
    merchant_id: str
    display_name: str
    business_category: str = "general"
    state: MerchantState = MerchantState.APPROVED
    settlement_account_verified: bool = True
    settlement_plan: SettlementPlan = SettlementPlan.T15


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly issued key. `key` is shown once and never stored."""

    principal_id: str
    key: str


class AdminService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime] = utcnow,
                 merchants: MerchantCache | None = None):
        self.uow = uow
        self.clock = clock
        self.merchants = merchants  # the payment path's cache: a change here drops its entry at once

    # --- merchants ----------------------------------------------------------------------------------

    def create_merchant(self, new: NewMerchant, field_prefix: str = "") -> Merchant:
        v = Violations()
        validate_merchant_id(v, "merchant_id", new.merchant_id)
        check_text(v, f"{field_prefix}display_name", new.display_name, required=True, limit=128)
        check_text(v, f"{field_prefix}business_category", new.business_category, required=True, limit=64)
        v.raise_if_any()
        merchant = Merchant(
            id=new.merchant_id, display_name=new.display_name, state=new.state,
            settlement_account_verified=new.settlement_account_verified,
            business_category=new.business_category, settlement_plan=new.settlement_plan,
            created_at=self.clock(),
        )
        with self.uow(write=True) as uow:
            if not uow.merchants.add(merchant):
                raise AlreadyExists(f"merchant {new.merchant_id} already exists", reason="MERCHANT_EXISTS",
                                    metadata={"merchant": new.merchant_id})
            uow.commit()
        return merchant

    def get_merchant(self, merchant_id: str) -> Merchant:
        with self.uow() as uow:
            merchant = uow.merchants.get(merchant_id)
        if merchant is None:
            raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
        return merchant

    def list_merchants(self, page_size: int = 0, page_token: str = "") -> tuple[list[Merchant], str]:
        size = paging.page_size(page_size)
        after = paging.decode_token(page_token, "merchants")
        with self.uow() as uow:
            rows = uow.merchants.list(after, size + 1)
        page = rows[:size]
        return page, paging.encode_token(page[-1].id, "merchants") if len(rows) > size else ""

    def update_merchant(self, merchant_id: str, *, state: MerchantState | None = None,
                        settlement_account_verified: bool | None = None) -> Merchant:
        with self.uow(write=True) as uow:
            merchant = uow.merchants.get(merchant_id)
            if merchant is None:
                raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
            if state is not None:
                merchant = replace(merchant, state=state)
            if settlement_account_verified is not None:
                merchant = replace(merchant, settlement_account_verified=settlement_account_verified)
            uow.merchants.update(merchant)
            uow.commit()
        if self.merchants is not None:
            self.merchants.invalidate(merchant_id)
        return merchant

    # --- apps and operators ---------------------------------------------------------------------------

    def create_app(self, app_id: str, display_name: str) -> IssuedKey:
        v = Violations()
        if not APP_ID.fullmatch(app_id):
            v.add("app_id", "3-40 lower-case letters, digits or '-', starting with a letter or digit")
        check_text(v, "display_name", display_name, required=True, limit=128)
        v.raise_if_any()
        key = new_key(APP_KEY_PREFIX)
        app = App(id=app_id, display_name=display_name, key_prefix=key_prefix(key), created_at=self.clock())
        with self.uow(write=True) as uow:
            if not uow.access.add_app(app, hash_key(key)):
                raise AlreadyExists(f"app {app_id} already exists", reason="APP_EXISTS")
            uow.commit()
        return IssuedKey(app_id, key)

    def list_apps(self) -> list[tuple[App, list[str]]]:
        with self.uow() as uow:
            return uow.access.list_apps()

    def authorize_app(self, app_id: str, merchant_id: str) -> None:
        with self.uow(write=True) as uow:
            if uow.access.get_app(app_id) is None:
                raise NotFound(f"app {app_id} does not exist", reason="APP_NOT_FOUND")
            if uow.merchants.get(merchant_id) is None:
                raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")
            uow.access.authorize(app_id, merchant_id, self.clock())
            uow.commit()

    def deauthorize_app(self, app_id: str, merchant_id: str) -> bool:
        with self.uow(write=True) as uow:
            removed = uow.access.deauthorize(app_id, merchant_id)
            uow.commit()
        return removed

    def create_operator(self, operator_id: str) -> IssuedKey:
        v = Violations()
        if not APP_ID.fullmatch(operator_id):
            v.add("operator_id", "3-40 lower-case letters, digits or '-', starting with a letter or digit")
        v.raise_if_any()
        key = new_key(OPERATOR_KEY_PREFIX)
        with self.uow(write=True) as uow:
            if not uow.access.add_operator(operator_id, hash_key(key), self.clock()):
                raise AlreadyExists(f"operator {operator_id} already exists", reason="OPERATOR_EXISTS")
            uow.commit()
        return IssuedKey(operator_id, key)

    # --- housekeeping ------------------------------------------------------------------------------

    def purge_delivered_events(self, retention: timedelta, batch: int = 1000) -> int:
        """Forget events delivered more than `retention` ago (and their lifecycle hook runs, all done), in
        write transactions of `batch` events so that other writers are never held up for long. Events not
        yet delivered, parked ones and those a plugin has still to handle are kept whatever their age."""
        cutoff = self.clock() - retention
        total = 0
        while True:
            with self.uow(write=True) as uow:
                count = uow.events.purge_delivered(cutoff, batch)
                uow.commit()
            total += count
            if count < batch:
                return total

    def purge_idempotency_keys(self, retention: timedelta) -> int:
        """Forget idempotency keys older than `retention` (never less than the promised 24 hours)."""
        retention = max(retention, timedelta(hours=24))
        with self.uow(write=True) as uow:
            count = uow.idempotency.purge(self.clock() - retention)
            uow.commit()
        return count
