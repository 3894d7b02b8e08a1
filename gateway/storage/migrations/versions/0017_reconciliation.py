"""Reconciliation with the rail's statements (issue 18 item 6): one row per (day, statement kind, source) with
its report, the items it found (differences and EXPECTED, with the fen each holds in suspense), and staging
tables for a run's lines, our movements and their buckets (emptied at the end of each run). An index on the
ledger's entries by settlement day finds a day's movements of every merchant.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_STAGED = ("reconciliation_lines", "reconciliation_ours", "reconciliation_results")


def _item_columns() -> list[sa.Column]:
    return [
        sa.Column("bucket", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("channel_reference", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("ours", sa.BigInteger(), nullable=True),
        sa.Column("theirs", sa.BigInteger(), nullable=True),
        sa.Column("theirs_fee", sa.BigInteger(), nullable=False),
        sa.Column("expected_fee", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_index("ix_ledger_entries_day_kind", "ledger_entries", ["settlement_day", "kind"])
    op.create_table(
        "reconciliations",
        sa.Column("reconciliation_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("statement_total", sa.BigInteger(), nullable=False),
        sa.Column("unexplained", sa.BigInteger(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reconciliation_id", name="pk_reconciliations"),
        sa.UniqueConstraint("day", "kind", "source", name="uq_reconciliations_day"),
    )
    op.create_table(
        "reconciliation_items",
        sa.Column("reconciliation_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(100), nullable=False),
        *_item_columns(),
        sa.Column("suspense", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reconciliation_id", "item_key", name="pk_reconciliation_items"),
    )
    op.create_index("ix_reconciliation_items_reference", "reconciliation_items",
                    ["reconciliation_id", "kind", "reference"])
    op.create_table(
        "reconciliation_lines",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("channel_reference", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "line_no", name="pk_reconciliation_lines"),
    )
    op.create_index("ix_reconciliation_lines_reference", "reconciliation_lines", ["run_id", "kind", "reference"])
    op.create_table(
        "reconciliation_ours",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "kind", "reference", name="pk_reconciliation_ours"),
    )
    op.create_table(
        "reconciliation_results",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("item_key", sa.String(100), nullable=False),
        *_item_columns(),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "item_key", name="pk_reconciliation_results"),
    )


def downgrade() -> None:
    for table in _STAGED:
        op.drop_table(table)
    op.drop_index("ix_reconciliation_items_reference", table_name="reconciliation_items")
    op.drop_table("reconciliation_items")
    op.drop_table("reconciliations")
    op.drop_index("ix_ledger_entries_day_kind", table_name="ledger_entries")
