"""Operator use cases: merchants, trading apps and their keys, operator credentials. Used by the
`cashier` command line, and by MerchantService to read merchants (over gRPC a merchant is created only by
approving its application, gateway/service/onboarding.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.domain.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from gateway.domain.ids import utcnow
from gateway.domain.merchants import App, Merchant, MerchantState, PrincipalKind, SettlementPlan
from gateway.domain.validation import check_text, validate_merchant_id
from gateway.service import idempotency, paging
from gateway.service.keys import (
    APP_KEY_PREFIX,
    DEFAULT_GRACE,
    KEY_PREFIXES,
    MAX_GRACE,
    MAX_LIVE_KEYS,
    OPERATOR_KEY_PREFIX,
    ApiKey,
    hash_key,
    key_id,
    key_prefix,
    new_key,
)
from gateway.service.merchant_cache import MerchantCache
from gateway.service.ports import UnitOfWork, UnitOfWorkFactory

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
    """A freshly issued key. `key` is shown once and never stored. `retiring`: on a roll, the keys that
    stay live until their (new) expiry."""

    principal_id: str
    key: str
    key_id: str = ""
    retiring: tuple[ApiKey, ...] = ()


@dataclass(frozen=True, slots=True)
class AppListing:
    app: App
    merchant_ids: list[str]
    keys: list[ApiKey]


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
            # The operator's idempotency-key, if any, is claimed with the merchant: a retry after a crash
            # between the two replays the merchant instead of answering MERCHANT_EXISTS.
            idempotency.claim(uow, merchant.id, merchant.created_at)
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
        now = self.clock()
        app = App(id=app_id, display_name=display_name, key_prefix=key_prefix(key), created_at=now)
        with self.uow(write=True) as uow:
            if not uow.access.add_app(app):
                raise AlreadyExists(f"app {app_id} already exists", reason="APP_EXISTS")
            issued = self._store_key(uow, PrincipalKind.APP, app_id, key, now)
            uow.commit()
        return issued

    def list_apps(self) -> list[AppListing]:
        with self.uow() as uow:
            apps = uow.access.list_apps()
            keys: dict[str, list[ApiKey]] = {}
            for k in uow.access.list_keys(PrincipalKind.APP):
                keys.setdefault(k.principal_id, []).append(k)
        return [AppListing(app, merchant_ids, keys.get(app.id, [])) for app, merchant_ids in apps]

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
        now = self.clock()
        with self.uow(write=True) as uow:
            if not uow.access.add_operator(operator_id, now):
                raise AlreadyExists(f"operator {operator_id} already exists", reason="OPERATOR_EXISTS")
            issued = self._store_key(uow, PrincipalKind.OPERATOR, operator_id, key, now)
            uow.commit()
        return issued

    # --- API keys of apps and operators (see gateway/service/keys.py) ---------------------------------

    def list_keys(self, kind: PrincipalKind, principal_id: str) -> list[ApiKey]:
        """Every key of the holder, newest first, live or not."""
        with self.uow() as uow:
            if not uow.access.lock_holder(kind, principal_id):
                raise _holder_not_found(kind, principal_id)
            return uow.access.list_keys(kind, principal_id)

    def roll_key(self, kind: PrincipalKind, principal_id: str, grace: timedelta = DEFAULT_GRACE) -> IssuedKey:
        """Issue a new key; the holder's live key stays live for `grace` more (0: refused from now on).
        Refused when the holder already has two live keys: one of them must be revoked first."""
        v = Violations()
        if not timedelta(0) <= grace <= MAX_GRACE:
            v.add("grace", f"between 0 and {MAX_GRACE.days} days")
        v.raise_if_any()
        now = self.clock()
        with self.uow(write=True) as uow:
            if not uow.access.lock_holder(kind, principal_id):
                raise _holder_not_found(kind, principal_id)
            live = [k for k in uow.access.list_keys(kind, principal_id) if k.live(now)]
            if len(live) >= MAX_LIVE_KEYS:
                shown = ", ".join(f"{k.prefix}… {k.state(now)}" for k in live)
                raise FailedPrecondition(
                    f"{_noun(kind)} {principal_id} already has {len(live)} live keys ({shown}), the most it may "
                    f"hold: revoke one first (`cashier {_noun(kind)}s revoke-key {principal_id} PREFIX`)",
                    reason="TOO_MANY_KEYS")
            for k in live:
                uow.access.expire_key(k.id, now + grace)
            retiring = tuple(replace(k, expires_at=min(now + grace, k.expires_at or now + grace)) for k in live)
            issued = self._store_key(uow, kind, principal_id, new_key(KEY_PREFIXES[kind]), now)
            uow.commit()
        return replace(issued, retiring=retiring)

    def revoke_key(self, kind: PrincipalKind, principal_id: str, which: str) -> ApiKey:
        """Refuse a key from now on (within `[auth] cache_seconds` in every process). `which` is the key's
        prefix as listed (with or without the trailing '…') or its id."""
        wanted = which.strip().rstrip("…").rstrip(".")
        now = self.clock()
        with self.uow(write=True) as uow:
            if not uow.access.lock_holder(kind, principal_id):
                raise _holder_not_found(kind, principal_id)
            keys = uow.access.list_keys(kind, principal_id)
            matches = [k for k in keys if k.id == wanted] or [k for k in keys if k.prefix == wanted
                                                                and k.revoked_at is None]
            if not matches:
                known = ", ".join(f"{k.prefix}… ({k.id})" for k in keys if k.revoked_at is None) or "none"
                raise NotFound(f"{_noun(kind)} {principal_id} has no unrevoked key {which!r} (its keys: {known})",
                               reason="KEY_NOT_FOUND")
            if len(matches) > 1:
                ids = ", ".join(k.id for k in matches)
                raise FailedPrecondition(f"{len(matches)} keys of {_noun(kind)} {principal_id} start with "
                                         f"{wanted}: give the key id instead ({ids})", reason="AMBIGUOUS_KEY")
            key = matches[0]
            if key.revoked_at is None:
                uow.access.revoke_key(key.id, now)
                key = replace(key, revoked_at=now)
            uow.commit()
        return key

    @staticmethod
    def _store_key(uow: UnitOfWork, kind: PrincipalKind, principal_id: str, key: str,
                   now: datetime) -> IssuedKey:
        key_hash = hash_key(key)
        stored = ApiKey(id=key_id(key_hash), principal_kind=kind, principal_id=principal_id,
                        prefix=key_prefix(key), created_at=now)
        if not uow.access.add_key(stored, key_hash):  # 256 random bits: a clash means a broken generator
            raise RuntimeError("a freshly generated API key clashed with a stored one")
        return IssuedKey(principal_id, key, stored.id)

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


def _noun(kind: PrincipalKind) -> str:
    return "app" if kind is PrincipalKind.APP else "operator"


def _holder_not_found(kind: PrincipalKind, principal_id: str) -> NotFound:
    noun = _noun(kind)
    return NotFound(f"{noun} {principal_id} does not exist", reason=f"{noun.upper()}_NOT_FOUND")
