"""Access: apps and operators, their API keys, apps' grants on merchants and their webhook endpoints.

Lock order: gateway/storage/__init__.py (binding on every method here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from gateway.domain.merchants import App, Principal, PrincipalKind
from gateway.service.keys import ApiKey
from gateway.service.ports import WebhookEndpoint
from gateway.storage.rows import insert_ignore
from gateway.storage.tables import api_keys, app_merchants, apps, operators


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
        return insert_ignore(self.conn, apps, {
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
        return insert_ignore(self.conn, operators, {"operator_id": operator_id, "created_at": created_at})

    def lock_holder(self, kind: PrincipalKind, principal_id: str) -> bool:
        column = apps.c.app_id if kind is PrincipalKind.APP else operators.c.operator_id
        return self.conn.execute(select(column).where(column == principal_id).with_for_update()).first() is not None

    def add_key(self, key: ApiKey, key_hash: str) -> bool:
        return insert_ignore(self.conn, api_keys, {
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
        return insert_ignore(self.conn, app_merchants, {
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
