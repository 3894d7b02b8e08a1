"""api_keys: several keys per app or operator, each with its own expiry (rolling) and revocation.
apps.key_hash/key_prefix and operators.key_hash move into it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# A stored key hash is 64 hex digits, so this marker can never match a presented key: what a downgrade
# writes for a holder whose every key was revoked (it must stay locked out).
_NO_KEY = "'revoked:' || "


@contextmanager
def _apps_recreated() -> Iterator[None]:
    """SQLite changes apps' columns by copying it to a new table and dropping the old one. app_merchants
    points at apps, so with foreign_keys=ON that DROP fails (deferred, the commit does: renaming the copy
    never settles the count). The grants step aside meanwhile, in the same transaction."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    grants = [dict(row._mapping) for row in bind.execute(sa.text("SELECT merchant_id, app_id, created_at FROM app_merchants"))]
    bind.execute(sa.text("DELETE FROM app_merchants"))
    yield
    if grants:
        bind.execute(sa.text("INSERT INTO app_merchants (merchant_id, app_id, created_at) "
                             "VALUES (:merchant_id, :app_id, :created_at)"), grants)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(30), nullable=False),
        sa.Column("principal_kind", sa.String(16), nullable=False),
        sa.Column("principal_id", sa.String(40), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_principal", "api_keys", ["principal_kind", "principal_id"])
    # Key ids are "key_" + the hash's first 12 hex digits, as gateway/service/keys.py makes them. Operator
    # rows never stored a prefix: theirs shows as the bare "ck_op_" (revoke them by key id).
    op.execute("INSERT INTO api_keys (key_id, principal_kind, principal_id, key_hash, key_prefix, created_at) "
               "SELECT 'key_' || substr(key_hash, 1, 12), 'APP', app_id, key_hash, key_prefix, created_at FROM apps")
    op.execute("INSERT INTO api_keys (key_id, principal_kind, principal_id, key_hash, key_prefix, created_at) "
               "SELECT 'key_' || substr(key_hash, 1, 12), 'OPERATOR', operator_id, key_hash, 'ck_op_', created_at "
               "FROM operators")
    with _apps_recreated(), op.batch_alter_table("apps") as batch:
        batch.drop_constraint("uq_apps_key_hash", type_="unique")
        batch.drop_column("key_hash")
        batch.drop_column("key_prefix")
    with op.batch_alter_table("operators") as batch:
        batch.drop_constraint("uq_operators_key_hash", type_="unique")
        batch.drop_column("key_hash")


def _newest_live(column: str, kind: str, holder: str) -> str:
    return (f"(SELECT k.{column} FROM api_keys k WHERE k.principal_kind = '{kind}' AND k.principal_id = {holder} "
            "AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > CURRENT_TIMESTAMP) "
            "ORDER BY k.created_at DESC LIMIT 1)")


def downgrade() -> None:
    """One key per holder again: its newest live key (an old key still in its grace period is lost); a holder
    without a live key stays locked out."""
    with _apps_recreated(), op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("key_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("key_prefix", sa.String(16), nullable=True))
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("key_hash", sa.String(64), nullable=True))
    op.execute(f"UPDATE apps SET key_hash = COALESCE({_newest_live('key_hash', 'APP', 'apps.app_id')}, "
               f"{_NO_KEY}app_id), key_prefix = COALESCE({_newest_live('key_prefix', 'APP', 'apps.app_id')}, "
               "'ck_app_')")
    op.execute("UPDATE operators SET key_hash = COALESCE("
               f"{_newest_live('key_hash', 'OPERATOR', 'operators.operator_id')}, {_NO_KEY}operator_id)")
    with _apps_recreated(), op.batch_alter_table("apps") as batch:
        batch.alter_column("key_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("key_prefix", existing_type=sa.String(16), nullable=False)
        batch.create_unique_constraint("uq_apps_key_hash", ["key_hash"])
    with op.batch_alter_table("operators") as batch:
        batch.alter_column("key_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_operators_key_hash", ["key_hash"])
    op.drop_index("ix_api_keys_principal", table_name="api_keys")
    op.drop_table("api_keys")
