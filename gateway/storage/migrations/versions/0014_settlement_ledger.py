"""Settlement's ledger (issue 18): journal entries unique on (kind, reference), their postings in signed fen
under the entry's merchant, balances cached from the postings; payments.fee_bps, the platform's rate kept on
a payment when it succeeds (NULL for payments made before, booked with no fee).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        # SQLite: INTEGER PRIMARY KEY is the rowid (grows on its own); PostgreSQL: BIGSERIAL.
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("settlement_day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_ledger_entries"),
        sa.UniqueConstraint("kind", "reference", name="uq_ledger_entries_kind_reference"),
    )
    op.create_index("ix_ledger_entries_merchant_day", "ledger_entries", ["merchant_id", "settlement_day", "entry_id"])
    op.create_table(
        "ledger_postings",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "entry_id", "line", name="pk_ledger_postings"),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["merchant_id", "account", "entry_id"])
    op.create_table(
        "ledger_balances",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("as_of_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "account", name="pk_ledger_balances"),
    )
    # Plain ADD COLUMN (SQLite has it; nullable, no default): no copy of the payments table.
    op.add_column("payments", sa.Column("fee_bps", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table (batch); nothing points at payments with a foreign key.
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("fee_bps")
    op.drop_table("ledger_balances")
    op.drop_index("ix_ledger_postings_account", table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_index("ix_ledger_entries_merchant_day", table_name="ledger_entries")
    op.drop_table("ledger_entries")
