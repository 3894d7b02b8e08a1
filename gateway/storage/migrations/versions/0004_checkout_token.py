"""payments.checkout_token: the unguessable key of a payment's hosted checkout page (/pay/<token>)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        # NULL for payments made before this revision: they have no hosted page (NULLs never collide).
        batch.add_column(sa.Column("checkout_token", sa.String(32), nullable=True))
        batch.create_index("ix_payments_checkout_token", ["checkout_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_checkout_token")
        batch.drop_column("checkout_token")
