"""refunds.channel_reference: the rail's reference for a refund once it succeeded (its refund id, or Alipay's
trade number), shown on the Refund message and in refund webhooks. Refunds settled before it stay "" (the
reference was not kept then; the payment's channel_reference holds Alipay's trade number).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("channel_reference", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("channel_reference")
