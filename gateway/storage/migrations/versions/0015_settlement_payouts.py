"""Settlement payouts (issue 18): one payout per merchant per run date, its transfer parts each with its own
out_biz_no (the payout id and part number), so that a run restarted or run twice pays nothing twice.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("payout_id", sa.String(30), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("payee_logon_id", sa.String(100), nullable=False),
        sa.Column("payee_name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("payout_id", name="pk_payouts"),
        sa.UniqueConstraint("merchant_id", "run_date", name="uq_payouts_merchant_run_date"),
    )
    op.create_index("ix_payouts_state", "payouts", ["state", "payout_id"])
    op.create_table(
        "payout_parts",
        sa.Column("payout_id", sa.String(30), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("out_biz_no", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rail_reference", sa.String(64), nullable=False),
        sa.Column("failure_reason", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("payout_id", "part", name="pk_payout_parts"),
        sa.UniqueConstraint("out_biz_no", name="uq_payout_parts_out_biz_no"),
    )


def downgrade() -> None:
    op.drop_table("payout_parts")
    op.drop_index("ix_payouts_state", table_name="payouts")
    op.drop_table("payouts")
