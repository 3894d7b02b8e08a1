"""flags (for operators), hook_runs (plugin lifecycle hooks driven from the outbox),
events.hooks_pending, payments.buyer_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("buyer_id", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("hooks_pending", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_index("ix_events_hooks_pending", "events", ["hooks_pending", "event_id"],
                    postgresql_where=sa.text("hooks_pending"), sqlite_where=sa.text("hooks_pending"))
    op.create_table(
        "hook_runs",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(30), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("hook", sa.String(60), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "event_id", "plugin", name="pk_hook_runs"),
    )
    op.create_index("ix_hook_runs_state_next_attempt_at", "hook_runs", ["state", "next_attempt_at"])
    op.create_table(
        "flags",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("flag_id", sa.String(30), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("merchant_id", "flag_id", name="pk_flags"),
        sa.UniqueConstraint("merchant_id", "kind", "payment_id", name="uq_flags_merchant_id"),
    )
    op.create_index("ix_flags_flag_id", "flags", ["flag_id"], unique=True)
    op.create_index("ix_flags_resolved_at", "flags", ["resolved_at", "flag_id"])


def downgrade() -> None:
    op.drop_index("ix_flags_resolved_at", table_name="flags")
    op.drop_index("ix_flags_flag_id", table_name="flags")
    op.drop_table("flags")
    op.drop_index("ix_hook_runs_state_next_attempt_at", table_name="hook_runs")
    op.drop_table("hook_runs")
    op.drop_index("ix_events_hooks_pending", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hooks_pending")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("buyer_id")
