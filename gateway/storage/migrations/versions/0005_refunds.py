"""refunds, and payments.refunded_amount / payments.refund_reserved

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("refunded_amount", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refund_reserved", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "refunds",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("refund_id", sa.String(30), nullable=False),
        sa.Column("payment_id", sa.String(30), nullable=False),
        sa.Column("out_refund_no", sa.String(64), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "refund_id", name="pk_refunds"),
        sa.UniqueConstraint("merchant_id", "payment_id", "out_refund_no",
                            name="uq_refunds_merchant_payment_out_refund_no"),
    )
    op.create_index("ix_refunds_merchant_payment", "refunds", ["merchant_id", "payment_id", "refund_id"])
    op.create_index("ix_refunds_state", "refunds", ["state", "merchant_id", "refund_id"])


def downgrade() -> None:
    op.drop_index("ix_refunds_state", table_name="refunds")
    op.drop_index("ix_refunds_merchant_payment", table_name="refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refund_reserved")
        batch.drop_column("refunded_amount")
