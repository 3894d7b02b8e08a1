"""Settlement's SQL (SQLAlchemy Core) over the gateway's schema (gateway/storage/tables.py, one Alembic chain):
the ledger repository (`ledger`) and the set-based backfill (`backfill`). Both are repositories of the
gateway's unit of work (gateway/storage/unit_of_work.py: `uow.ledger`, `uow.ledger_backfill`), so a payment's
or refund's transaction can append its postings in the same transaction as its state change. Lock order:
gateway/storage/__init__.py (level 5: after payments and refunds, before events)."""
