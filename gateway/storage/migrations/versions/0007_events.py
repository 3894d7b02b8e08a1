"""events (the transactional outbox) and apps.webhook_url / apps.webhook_secret

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.String(64), nullable=True))
    op.create_table(
        "events",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(30), nullable=False),
        sa.Column("app_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("merchant_id", "event_id", name="pk_events"),
    )
    op.create_index("ix_events_state_next_attempt_at", "events", ["state", "next_attempt_at"])
    op.create_index("ix_events_event_id", "events", ["event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_events_event_id", table_name="events")
    op.drop_index("ix_events_state_next_attempt_at", table_name="events")
    op.drop_table("events")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_url")
