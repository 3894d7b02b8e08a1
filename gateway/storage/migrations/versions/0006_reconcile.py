"""payments.reconcile_after / payments.channel_closed: the reconciler's claim and what the channel confirmed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("reconcile_after", sa.DateTime(timezone=True), nullable=True))
        # Payments closed before this revision were closed here only: the reconciler closes them at the
        # channel too (or records them as paid, should the buyer have paid after all).
        batch.add_column(sa.Column("channel_closed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_payments_state_reconcile_after", ["state", "reconcile_after"])


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_state_reconcile_after")
        batch.drop_column("channel_closed")
        batch.drop_column("reconcile_after")
