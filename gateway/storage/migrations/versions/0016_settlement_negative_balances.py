"""Settlement: when a merchant's available balance first went negative (issue 18), so that an operator is
flagged once it has stayed negative for `[settlement] negative_days`. One row per merchant while negative.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "negative_balances",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_negative_balances"),
    )


def downgrade() -> None:
    op.drop_table("negative_balances")
