"""The schema. Tables that grow with traffic carry merchant_id first in their keys, so that they can be
distributed by merchant (Citus-style) without changing the code. Changes go through Alembic only."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.expression import false, text, true
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


merchants = Table(
    "merchants", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("settlement_account_verified", Boolean, nullable=False),
    Column("business_category", String(64), nullable=False),
    Column("settlement_plan", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The approved application the merchant was created by (NULL: created before onboarding, issue 17).
    Column("application_id", String(30), nullable=True),
)

apps = Table(
    "apps", metadata,
    Column("app_id", String(40), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Where the app receives its signed webhooks (`cashier apps set-webhook`); NULL: not registered.
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", String(64), nullable=True),
    # The application square: apps open to merchants, with what they offer.
    Column("square_listed", Boolean, nullable=False, default=False, server_default=false()),
    Column("description", Text, nullable=False, default="", server_default=""),
)

operators = Table(
    "operators", metadata,
    Column("operator_id", String(40), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# The API keys of apps and operators (principal_kind APP or OPERATOR), as SHA-256 hashes only. A key is live
# while revoked_at is NULL and expires_at is NULL or still ahead: rolling a key gives the old one an
# expires_at (the grace period). gateway/service/admin.py keeps at most two live keys per holder.
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(30), primary_key=True),
    Column("principal_kind", String(16), nullable=False),
    Column("principal_id", String(40), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_api_keys_principal", "principal_kind", "principal_id"),
)

app_merchants = Table(
    "app_merchants", metadata,
    Column("merchant_id", String(40), ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("app_id", String(40), ForeignKey("apps.app_id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_app_merchants_app_id", "app_id"),
)

payments = Table(
    "payments", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("payment_id", String(30), primary_key=True),
    Column("out_trade_no", String(64), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("line_items", JSON, nullable=False),
    Column("client", JSON, nullable=False),
    Column("scenario", String(24), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("action", JSON, nullable=True),
    Column("return_url", Text, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("state", String(24), nullable=False),
    Column("scan_to_pay", Boolean, nullable=False, default=False, server_default=false()),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("channel_reference", String(64), nullable=False, default="", server_default=""),
    # The hosted checkout page's key; NULL for payments made before migration 0004.
    Column("checkout_token", String(32), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Refunds that SUCCEEDED, and refunds held (PENDING + SUCCEEDED): a conditional UPDATE keeps
    # refund_reserved <= amount, so concurrent refunds can never exceed what was paid.
    Column("refunded_amount", BigInteger, nullable=False, default=0, server_default="0"),
    Column("refund_reserved", BigInteger, nullable=False, default=0, server_default="0"),
    # Recovery (gateway/service/recovery.py): when it may look at the payment next (NULL: as soon
    # as it is due), and whether the channel confirmed the trade can no longer be paid.
    Column("reconcile_after", UTCDateTime, nullable=True),
    Column("channel_closed", Boolean, nullable=False, default=False, server_default=false()),
    # The rail's id of the buyer who paid (Alipay's buyer_id), for follow-up messages; "" until paid.
    Column("buyer_id", String(64), nullable=False, default="", server_default=""),
    # The platform's fee rate (basis points) when the payment succeeded, kept so that a later change of rates
    # never rewrites its fee (settlement/domain/fees.py). NULL: succeeded before settlement existed, when
    # the platform charged no fee (`cashier settle backfill` books those with none).
    Column("fee_bps", Integer, nullable=True),
    UniqueConstraint("merchant_id", "out_trade_no", name="uq_payments_merchant_out_trade_no"),
    Index("ix_payments_merchant_state", "merchant_id", "state", "payment_id"),
    Index("ix_payments_checkout_token", "checkout_token", unique=True),
    Index("ix_payments_state_reconcile_after", "state", "reconcile_after"),
)

# One row per idempotency-key sent with a writing RPC (gateway/api/idempotency.py), scoped to the merchant the
# request names ("" when it names none) and to the caller (app_id: the app's or the operator's id). `method`
# (the RPC's full name) and `fingerprint` (SHA-256 of the request's deterministic encoding) identify the
# request; `resource_id` is what the call acted on, claimed in the transaction that acted; `response` is the
# answer serialized as it was sent, NULL until stored (a replay then rebuilds it from resource_id).
idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("app_id", String(40), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("method", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("resource_id", String(64), nullable=True),
    Column("response", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

refunds = Table(
    "refunds", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("refund_id", String(30), primary_key=True),
    Column("payment_id", String(30), nullable=False),
    Column("out_refund_no", String(64), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(256), nullable=False),
    Column("state", String(16), nullable=False),
    Column("failure_reason", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The rail's reference for the refund once it succeeded (Refund.channel_reference); "" until then.
    Column("channel_reference", String(64), nullable=False, default="", server_default=""),
    UniqueConstraint("merchant_id", "payment_id", "out_refund_no", name="uq_refunds_merchant_payment_out_refund_no"),
    Index("ix_refunds_merchant_payment", "merchant_id", "payment_id", "refund_id"),
    Index("ix_refunds_state", "state", "merchant_id", "refund_id"),
)

# The transactional outbox: one row per event, written with the state change it reports, delivered by
# gateway/service/webhooks.py (claimed with FOR UPDATE SKIP LOCKED on PostgreSQL).
# PostgreSQL's source of events.sequence (SQLite has no sequences; see the column).
EVENTS_SEQUENCE = Sequence("events_sequence_seq", metadata=metadata)

events = Table(
    "events", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("event_id", String(30), primary_key=True),
    Column("app_id", String(40), nullable=False),
    Column("type", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False, default="", server_default=""),
    # True until the lifecycle runner has fanned the event out to the plugins' hooks (hook_runs).
    Column("hooks_pending", Boolean, nullable=False, default=True, server_default=true()),
    # The payment the event is about (NULL: about none) and the payment right after the change it reports
    # (gateway/domain/events.py payment_snapshot); WatchPayment reads a payment's events by this index.
    Column("payment_id", String(30), nullable=True),
    Column("payment_snapshot", JSON, nullable=True),
    # Increasing in insertion order: PostgreSQL takes it from a sequence, SQLite (one writer at a time) from
    # max + 1 (SqlEventRepository.add). An event about a payment is inserted after the payment row's update,
    # whose lock orders the payment's events by commit.
    Column("sequence", BigInteger, EVENTS_SEQUENCE, nullable=False),
    Index("ix_events_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_events_event_id", "event_id", unique=True),
    Index("ix_events_hooks_pending", "hooks_pending", "event_id",
          postgresql_where=text("hooks_pending"), sqlite_where=text("hooks_pending")),
    Index("ix_events_sequence", "sequence", unique=True),
    Index("ix_events_payment", "merchant_id", "payment_id", "sequence"),
)

# One row per (event, plugin implementing the event's lifecycle hook): each plugin's call is retried on
# its own, so that one failing plugin never makes another run twice (gateway/service/lifecycle.py).
hook_runs = Table(
    "hook_runs", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("event_id", String(30), primary_key=True),
    Column("plugin", String(100), primary_key=True),
    Column("hook", String(60), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False, default="", server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_hook_runs_state_next_attempt_at", "state", "next_attempt_at"),
)

# What an operator must look at: money that moved in a way the gateway would not apply silently. One row
# per (merchant, kind, payment); a recurrence counts up and reopens it.
flags = Table(
    "flags", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("flag_id", String(30), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("payment_id", String(30), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("occurrences", Integer, nullable=False, default=1, server_default="1"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolution", Text, nullable=False, default="", server_default=""),
    UniqueConstraint("merchant_id", "kind", "payment_id", name="uq_flags_merchant_id"),
    Index("ix_flags_flag_id", "flag_id", unique=True),
    Index("ix_flags_resolved_at", "resolved_at", "flag_id"),
)

# --- Merchant onboarding (issue 17; gateway/domain/onboarding) ------------------------------------------------

# One row per application; its current revision. An application in an open or approved state holds its
# merchant_id: the partial unique index refuses a second one asking for it (rejected and withdrawn ones let go).
_HOLDING = "state IN ('SUBMITTED', 'SENT_BACK', 'APPROVED')"
applications = Table(
    "applications", metadata,
    Column("application_id", String(30), primary_key=True),
    Column("merchant_id", String(40), nullable=False),
    Column("applicant_account_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("account_state", String(16), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("display_name", String(128), nullable=False),
    # Personal data (contact, holder name): readable by operators only, never logged.
    Column("contact_name", String(64), nullable=False),
    Column("contact_phone", String(20), nullable=False),
    Column("contact_email", String(254), nullable=False),
    Column("legal_name", String(128), nullable=False),
    Column("credit_code", String(18), nullable=False),
    Column("registered_address", String(256), nullable=False),
    Column("business_scope", Text, nullable=False),
    Column("business_category", String(64), nullable=False),
    Column("payout_logon_id", String(100), nullable=False),
    Column("holder_name", String(128), nullable=False),
    Column("decision_reason", Text, nullable=False),
    Column("decided_by", String(64), nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("account_verified_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_applications_state_kind", "state", "kind", "application_id"),
    Index("ix_applications_applicant", "applicant_account_id", "application_id"),
    Index("ix_applications_merchant", "merchant_id", "application_id"),
    Index("uq_applications_holding_merchant_id", "merchant_id", unique=True,
          sqlite_where=text(_HOLDING), postgresql_where=text(_HOLDING)),
)

# Documents' bytes live in the database, so that several gateway hosts need nothing more; one row per
# distinct content (SHA-256) per application.
application_documents = Table(
    "application_documents", metadata,
    Column("application_id", String(30), ForeignKey("applications.application_id"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("content_type", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Every verification transfer sent, with its amount (settlement books it as the platform's expense).
verification_attempts = Table(
    "verification_attempts", metadata,
    Column("application_id", String(30), ForeignKey("applications.application_id"), primary_key=True),
    Column("attempt_id", String(30), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("wrong_answers", Integer, nullable=False),
    Column("refusal", Text, nullable=False),
    Column("rail_reference", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_verification_attempts_created", "application_id", "created_at"),
)

# Plan changes, each effective from a settlement day on: the plan of a day is the last change effective then.
settlement_plans = Table(
    "settlement_plans", metadata,
    Column("merchant_id", String(40), ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("effective_on", Date, primary_key=True),
    Column("plan", String(8), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

deposits = Table(
    "deposits", metadata,
    Column("merchant_id", String(40), ForeignKey("merchants.merchant_id"), primary_key=True),
    Column("deposit_id", String(30), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("external_reference", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("release_on", Date, nullable=True),
    Column("released_at", UTCDateTime, nullable=True),
    UniqueConstraint("merchant_id", "external_reference", name="uq_deposits_merchant_external_reference"),
)

# The audit trail: written in the transaction of the change it records, never updated.
audit_events = Table(
    "audit_events", metadata,
    Column("audit_id", String(30), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("via", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("application_id", String(30), nullable=True),
    Column("merchant_id", String(40), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_audit_events_application", "application_id", "audit_id"),
    Index("ix_audit_events_merchant", "merchant_id", "audit_id"),
)

# --- Settlement ledger (issue 18; settlement/domain/ledger.py, settlement/storage/) ---------------------------

# One row per journal entry, append-only. (kind, reference) is the entry's identity (ledger.JournalEntry.key):
# the unique constraint makes a second booking of the same payment, refund or payout part a no-op or a
# conflict (settlement/storage/ledger.py), decided by the database. entry_id grows with insertion (SQLite's
# rowid; PostgreSQL's identity); merchant_id is "" only for a platform cost that names no merchant.
ledger_entries = Table(
    "ledger_entries", metadata,
    Column("entry_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("merchant_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reference", String(128), nullable=False),
    # The settlement day of what caused the entry (calendar.settlement_day of a payment's or refund's time).
    Column("settlement_day", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "reference", name="uq_ledger_entries_kind_reference"),
    Index("ix_ledger_entries_merchant_day", "merchant_id", "settlement_day", "entry_id"),
    # Reconciliation finds a day's payments and refunds of every merchant (migration 0017).
    Index("ix_ledger_entries_day_kind", "settlement_day", "kind"),
)

# The postings of each entry (signed fen, debit > 0: settlement/domain/accounts.py), under the entry's
# merchant_id, a platform account's postings too, so that an entry and its postings live on one merchant's
# shard. Only inserted, never updated: a payment's transaction appends here and updates no balance row.
# No foreign key to ledger_entries: both are written by the same statement or transaction, and a per-row
# check would slow the set-based bookings (backfill, settlement runs) for nothing.
ledger_postings = Table(
    "ledger_postings", metadata,
    Column("merchant_id", String(64), primary_key=True),
    Column("entry_id", BigInteger, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("account", String(100), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Index("ix_ledger_postings_account", "merchant_id", "account", "entry_id"),
)

# Balances cached from the postings (raw sums, debit positive) per merchant shard and account, as of the
# postings of entries up to as_of_entry_id; written only by the cache refresh, never by a payment, and
# checked against a recomputation (`cashier settle balances --check`). A platform account's balance is the
# sum of its rows over all merchant_ids.
ledger_balances = Table(
    "ledger_balances", metadata,
    Column("merchant_id", String(64), primary_key=True),
    Column("account", String(100), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    Column("as_of_entry_id", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Settlement payouts (settlement/storage/payouts.py): one per merchant per run date (the unique key is what
# makes a second run, or two at once, find the payout instead of paying again), in parts whose out_biz_no
# (payout id and part number) Alipay itself refuses to pay twice. States: a payout SENT (its payout_sent
# entries booked), then PAID, FAILED (money back to available) or UNKNOWN (a part awaits the rail's query);
# PARKED after max_payout_failures failed runs. `failures` is the merchant's count of failed runs so far.
payouts = Table(
    "payouts", metadata,
    Column("payout_id", String(30), primary_key=True),
    Column("merchant_id", String(40), nullable=False),
    Column("run_date", Date, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("payee_logon_id", String(100), nullable=False),
    Column("payee_name", String(128), nullable=False),
    # The payout rail's account that sends it ("rail:account", e.g. alipay:<app id>; migration 0018): Alipay
    # de-duplicates out_biz_no per app, so a part is asked about, or sent again, only through that account.
    Column("rail_account", String(100), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("merchant_id", "run_date", name="uq_payouts_merchant_run_date"),
    Index("ix_payouts_state", "state", "payout_id"),
)

payout_parts = Table(
    "payout_parts", metadata,
    Column("payout_id", String(30), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("out_biz_no", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # SENT, PAID, FAILED, REFUSED_FOR_NOW, UNKNOWN
    Column("rail_reference", String(64), nullable=False),
    Column("failure_reason", String(256), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("out_biz_no", name="uq_payout_parts_out_biz_no"),
)

# When a merchant's available balance first went negative, while it still is (settlement/storage/payouts.py).
negative_balances = Table(
    "negative_balances", metadata,
    Column("merchant_id", String(40), primary_key=True),
    Column("since", Date, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- Reconciliation with the rail's statements (settlement/domain/reconciliation.py, settlement/storage/) ----

# One row per (statement day, statement kind, source): the latest run's state and report. `totals` holds per
# bucket [count, fen on the statement, fen of ours]; `runs` numbers the runs (a run's suspense entries carry
# it); `run_id` names the staging rows of the run in progress (state RUNNING) or last finished.
reconciliations = Table(
    "reconciliations", metadata,
    Column("reconciliation_id", Integer, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("runs", Integer, nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("statement_total", BigInteger, nullable=False),
    Column("unexplained", BigInteger, nullable=False),
    Column("totals", JSON, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("day", "kind", "source", name="uq_reconciliations_day"),
)

# What a reconciliation found that is not MATCHED (differences and EXPECTED), replaced by each run of the day.
# `suspense` is the fen booked against suspense for the item so far (reconciliation_difference entries), so a
# run books only the change. ours / theirs NULL: no movement of ours / no line.
reconciliation_items = Table(
    "reconciliation_items", metadata,
    Column("reconciliation_id", Integer, primary_key=True),
    Column("item_key", String(100), primary_key=True),
    Column("bucket", String(20), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("channel_reference", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("ours", BigInteger, nullable=True),
    Column("theirs", BigInteger, nullable=True),
    Column("theirs_fee", BigInteger, nullable=False),
    Column("expected_fee", BigInteger, nullable=True),
    Column("occurred_at", UTCDateTime, nullable=True),
    Column("suspense", BigInteger, nullable=False),
    Index("ix_reconciliation_items_reference", "reconciliation_id", "kind", "reference"),
)

# Staging, emptied at the end of each run: the statement's lines as read (in batches), our movements of the
# day and its window, and every line or movement in its bucket. Keyed by the run, so concurrent runs never mix.
reconciliation_lines = Table(
    "reconciliation_lines", metadata,
    Column("run_id", String(40), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("channel_reference", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_reconciliation_lines_reference", "run_id", "kind", "reference"),
)

reconciliation_ours = Table(
    "reconciliation_ours", metadata,
    Column("run_id", String(40), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    # "ledger": an entry of ours; "verification": a verification transfer sent, booked when the rail shows it.
    Column("origin", String(16), nullable=False),
)

reconciliation_results = Table(
    "reconciliation_results", metadata,
    Column("run_id", String(40), primary_key=True),
    Column("item_key", String(100), primary_key=True),
    Column("bucket", String(20), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("channel_reference", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("ours", BigInteger, nullable=True),
    Column("theirs", BigInteger, nullable=True),
    Column("theirs_fee", BigInteger, nullable=False),
    Column("expected_fee", BigInteger, nullable=True),
    Column("occurred_at", UTCDateTime, nullable=True),
    Column("origin", String(16), nullable=False),
)
