"""idempotency_keys keeps the answer of any writing RPC, not only a payment id: `method` (the RPC's full
name, part of what identifies the request), `resource_id` (was payment_id, NOT NULL: what the call acted on,
empty until it acts) and `response` (the answer as serialized when it was sent).

Existing rows were all written by CreatePayment, whose fingerprint is unchanged: they keep replaying.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CREATE_PAYMENT = "cashier.v1.CashierService.CreatePayment"


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("method", sa.String(128), nullable=True))
        batch.add_column(sa.Column("response", sa.LargeBinary(), nullable=True))
        batch.alter_column("payment_id", new_column_name="resource_id", existing_type=sa.String(30),
                           type_=sa.String(64), existing_nullable=False, nullable=True)
    op.execute(f"UPDATE idempotency_keys SET method = '{CREATE_PAYMENT}'")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("method", existing_type=sa.String(128), nullable=False)


def downgrade() -> None:
    # Only CreatePayment's records had a place before: the others are forgotten (a retry then acts again).
    op.execute(f"DELETE FROM idempotency_keys WHERE method != '{CREATE_PAYMENT}' OR resource_id IS NULL")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("resource_id", new_column_name="payment_id", existing_type=sa.String(64),
                           type_=sa.String(30), existing_nullable=True, nullable=False)
        batch.drop_column("response")
        batch.drop_column("method")
