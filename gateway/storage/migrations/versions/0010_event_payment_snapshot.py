"""events.payment_id, events.payment_snapshot and events.sequence: WatchPayment reads a payment's events
in order (ix_events_payment) and replays the payment as it stood after each change.

Existing events get their payment id from their payload (data.payment.payment_id or data.refund.payment_id),
no snapshot (a watch reads only events written after it started), and sequence numbers in the order of
their ids (which begin with their creation time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SEQUENCE = "events_sequence_seq"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("payment_id", sa.String(30), nullable=True))
        batch.add_column(sa.Column("payment_snapshot", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
    if postgres:
        op.execute(sa.schema.CreateSequence(sa.Sequence(SEQUENCE)))
        payment_id = ("COALESCE(payload::jsonb #>> '{data,payment,payment_id}', "
                      "payload::jsonb #>> '{data,refund,payment_id}')")
    else:
        payment_id = ("COALESCE(json_extract(payload, '$.data.payment.payment_id'), "
                      "json_extract(payload, '$.data.refund.payment_id'))")
    op.execute(f"UPDATE events SET payment_id = {payment_id} WHERE length({payment_id}) <= 30")
    op.execute("UPDATE events SET sequence = numbered.n FROM ("
               "SELECT merchant_id, event_id, row_number() OVER (ORDER BY event_id) AS n FROM events) AS numbered "
               "WHERE events.merchant_id = numbered.merchant_id AND events.event_id = numbered.event_id")
    if postgres:
        op.execute(f"SELECT setval('{SEQUENCE}', COALESCE((SELECT max(sequence) FROM events), 0) + 1, false)")
    with op.batch_alter_table("events") as batch:
        batch.alter_column("sequence", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ix_events_sequence", "events", ["sequence"], unique=True)
    op.create_index("ix_events_payment", "events", ["merchant_id", "payment_id", "sequence"])


def downgrade() -> None:
    op.drop_index("ix_events_payment", table_name="events")
    op.drop_index("ix_events_sequence", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("sequence")
        batch.drop_column("payment_snapshot")
        batch.drop_column("payment_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence(SEQUENCE)))
