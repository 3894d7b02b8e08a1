"""Payouts record the account that pays them (issue 18): Alipay de-duplicates out_biz_no per app, so a payout
whose answer is unknown must be asked about, and never sent again, through the app that sent it. Payouts made
before this revision keep "" (the account then configured is assumed).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("rail_account", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_column("rail_account")
