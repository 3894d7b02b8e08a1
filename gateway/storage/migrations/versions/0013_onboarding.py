"""Merchant onboarding (issue 17): applications with their documents (bytes in the database) and payout
account verification attempts, settlement plan changes, deposits, the audit trail; the application square's
columns on apps; merchants.application_id, the approved application a merchant was created by.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_HOLDING = "state IN ('SUBMITTED', 'SENT_BACK', 'APPROVED')"


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(30), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("applicant_account_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("account_state", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("contact_name", sa.String(64), nullable=False),
        sa.Column("contact_phone", sa.String(20), nullable=False),
        sa.Column("contact_email", sa.String(254), nullable=False),
        sa.Column("legal_name", sa.String(128), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("registered_address", sa.String(256), nullable=False),
        sa.Column("business_scope", sa.Text(), nullable=False),
        sa.Column("business_category", sa.String(64), nullable=False),
        sa.Column("payout_logon_id", sa.String(100), nullable=False),
        sa.Column("holder_name", sa.String(128), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("account_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_applications"),
    )
    op.create_index("ix_applications_state_kind", "applications", ["state", "kind", "application_id"])
    op.create_index("ix_applications_applicant", "applications", ["applicant_account_id", "application_id"])
    op.create_index("ix_applications_merchant", "applications", ["merchant_id", "application_id"])
    op.create_index("uq_applications_holding_merchant_id", "applications", ["merchant_id"], unique=True,
                    sqlite_where=sa.text(_HOLDING), postgresql_where=sa.text(_HOLDING))
    op.create_table(
        "application_documents",
        sa.Column("application_id", sa.String(30), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.application_id"],
                                name="fk_application_documents_application_id_applications"),
        sa.PrimaryKeyConstraint("application_id", "sha256", name="pk_application_documents"),
    )
    op.create_table(
        "verification_attempts",
        sa.Column("application_id", sa.String(30), nullable=False),
        sa.Column("attempt_id", sa.String(30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("refusal", sa.Text(), nullable=False),
        sa.Column("rail_reference", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.application_id"],
                                name="fk_verification_attempts_application_id_applications"),
        sa.PrimaryKeyConstraint("application_id", "attempt_id", name="pk_verification_attempts"),
    )
    op.create_index("ix_verification_attempts_created", "verification_attempts", ["application_id", "created_at"])
    op.create_table(
        "settlement_plans",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("plan", sa.String(8), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.merchant_id"],
                                name="fk_settlement_plans_merchant_id_merchants"),
        sa.PrimaryKeyConstraint("merchant_id", "effective_on", name="pk_settlement_plans"),
    )
    op.create_table(
        "deposits",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("deposit_id", sa.String(30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("external_reference", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("release_on", sa.Date(), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.merchant_id"], name="fk_deposits_merchant_id_merchants"),
        sa.PrimaryKeyConstraint("merchant_id", "deposit_id", name="pk_deposits"),
        sa.UniqueConstraint("merchant_id", "external_reference", name="uq_deposits_merchant_external_reference"),
    )
    op.create_table(
        "audit_events",
        sa.Column("audit_id", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("via", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("application_id", sa.String(30), nullable=True),
        sa.Column("merchant_id", sa.String(40), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("audit_id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_application", "audit_events", ["application_id", "audit_id"])
    op.create_index("ix_audit_events_merchant", "audit_events", ["merchant_id", "audit_id"])
    # Plain ADD COLUMN (SQLite has it): a batch would copy apps and merchants, which app_merchants points at.
    op.add_column("apps", sa.Column("square_listed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("apps", sa.Column("description", sa.Text(), nullable=False, server_default=""))
    op.add_column("merchants", sa.Column("application_id", sa.String(30), nullable=True))


@contextmanager
def _grants_aside() -> Iterator[None]:
    """SQLite drops a column by copying the table and dropping the old one; app_merchants points at apps and
    merchants, so with foreign_keys=ON that DROP fails (as in 0009). The grants step aside meanwhile, in the
    same transaction."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    grants = [dict(row._mapping) for row in bind.execute(sa.text("SELECT merchant_id, app_id, created_at FROM app_merchants"))]
    bind.execute(sa.text("DELETE FROM app_merchants"))
    yield
    if grants:
        bind.execute(sa.text("INSERT INTO app_merchants (merchant_id, app_id, created_at) "
                             "VALUES (:merchant_id, :app_id, :created_at)"), grants)


def downgrade() -> None:
    # The tables that point at merchants go first, then the columns (their tables copied on SQLite).
    op.drop_index("ix_audit_events_merchant", table_name="audit_events")
    op.drop_index("ix_audit_events_application", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("deposits")
    op.drop_table("settlement_plans")
    with _grants_aside():
        with op.batch_alter_table("merchants") as batch:
            batch.drop_column("application_id")
        with op.batch_alter_table("apps") as batch:
            batch.drop_column("description")
            batch.drop_column("square_listed")
    op.drop_index("ix_verification_attempts_created", table_name="verification_attempts")
    op.drop_table("verification_attempts")
    op.drop_table("application_documents")
    op.drop_index("uq_applications_holding_merchant_id", table_name="applications")
    op.drop_index("ix_applications_merchant", table_name="applications")
    op.drop_index("ix_applications_applicant", table_name="applications")
    op.drop_index("ix_applications_state_kind", table_name="applications")
    op.drop_table("applications")
