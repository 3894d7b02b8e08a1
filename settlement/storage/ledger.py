"""The ledger's rows: entries appended idempotently on their identity, balances summed from postings in SQL,
and the balance cache with its recomputation.

Appending is two statements whatever the number of entries (one multi-row INSERT … ON CONFLICT DO NOTHING
RETURNING of the entries, one of their postings), which is what a payment's transaction pays for its
booking; it updates no balance row, so a busy merchant's payments never queue on one. An entry whose
(kind, reference) is stored already is compared with the stored one (`ledger.check_replay`): the same postings
are a replay and change nothing, others raise ConflictingReplay (the caller's transaction then rolls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, cast, func, insert, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage.tables import ledger_balances, ledger_entries, ledger_postings
from settlement.domain.accounts import Account
from settlement.domain.ledger import EntryKind, JournalEntry, Posting, check_replay
from settlement.service.ledger_ports import BalanceDifference

# pg_advisory_xact_lock's first key for the balance cache's refresh ("lgrb" in ASCII, a constant no other
# advisory lock of the application uses); the second is the schema's, since advisory locks are database-wide
# and gateways on other schemas of the database have ledgers of their own.
BALANCE_REFRESH_LOCK = 0x6C677262


def _sum(column: Any) -> Any:
    # PostgreSQL sums BIGINT as NUMERIC (Decimal in Python): cast back, money stays int.
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


class SqlLedgerRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    # --- appending ------------------------------------------------------------------------------------

    def append(self, entries: Sequence[JournalEntry], *, settlement_day: date, at: datetime) -> int:
        """Store `entries` (each already balanced: the domain refuses any other) with their postings; returns
        how many were new. Entries stored before with the same postings are replays and change nothing; with
        other postings they raise ConflictingReplay. Entries are inserted in the order given, which every
        writer keeps (payment_succeeded before fee, refund_succeeded before fee_returned), so two
        transactions booking the same cause wait on each other instead of deadlocking."""
        if not entries:
            return 0
        keys = [entry.key for entry in entries]
        if len(set(keys)) != len(keys):
            raise ValueError("append takes each entry once")
        stmt = _dialect(self.conn).insert(ledger_entries).values([
            {"merchant_id": e.merchant_id, "kind": e.kind.value, "reference": e.reference,
             "settlement_day": settlement_day, "created_at": at} for e in entries
        ]).on_conflict_do_nothing().returning(ledger_entries.c.entry_id, ledger_entries.c.kind,
                                              ledger_entries.c.reference)
        new = {(EntryKind(row.kind), row.reference): row.entry_id for row in self.conn.execute(stmt)}
        postings = [
            {"merchant_id": e.merchant_id, "entry_id": new[e.key], "line": line, "account": p.account.key,
             "amount": p.amount}
            for e in entries if e.key in new for line, p in enumerate(e.postings)
        ]
        if postings:
            self.conn.execute(insert(ledger_postings), postings)
        for entry in entries:
            if entry.key not in new:
                stored = self.get(entry.kind, entry.reference)
                # Cannot be None: ON CONFLICT skips only a committed row (it waits for one in flight and
                # inserts if that rolls back), and entries are never deleted.
                if stored is None:
                    raise RuntimeError(f"{entry.kind.value} entry {entry.reference!r} vanished while appending")
                check_replay(stored, entry)
        return len(new)

    # --- reading --------------------------------------------------------------------------------------

    def get(self, kind: EntryKind, reference: str) -> JournalEntry | None:
        row = self.conn.execute(select(ledger_entries).where(
            ledger_entries.c.kind == kind.value, ledger_entries.c.reference == reference)).first()
        if row is None:
            return None
        lines = self.conn.execute(select(ledger_postings.c.account, ledger_postings.c.amount).where(
            ledger_postings.c.merchant_id == row.merchant_id, ledger_postings.c.entry_id == row.entry_id,
        ).order_by(ledger_postings.c.line)).all()
        return JournalEntry(kind, reference, row.merchant_id,
                            tuple(Posting(Account.from_key(line.account), int(line.amount)) for line in lines))

    def released(self, merchant_id: str, payment_id: str) -> bool:
        # A release entry carries the settlement day it releases (settlement/storage/release.py): one for the
        # payment's day, found through (merchant, day), the index every statement of a period uses.
        e, paid = ledger_entries, ledger_entries.alias("paid")
        day = (select(paid.c.settlement_day).where(paid.c.kind == EntryKind.PAYMENT_SUCCEEDED.value,
                                                   paid.c.reference == payment_id).scalar_subquery())
        return self.conn.execute(select(literal(1)).where(
            e.c.merchant_id == merchant_id, e.c.settlement_day == day,
            e.c.kind == EntryKind.FUNDS_RELEASED.value).limit(1)).first() is not None

    def balances(self, merchant_id: str | None = None) -> dict[Account, int]:
        """Raw sums of postings per account (debit positive; `Account.balance` gives the read sign), in one
        SUM … GROUP BY. With `merchant_id`: that merchant's own accounts only."""
        stmt = select(ledger_postings.c.account, _sum(ledger_postings.c.amount).label("total"))
        if merchant_id is not None:
            stmt = stmt.where(ledger_postings.c.merchant_id == merchant_id,
                              ledger_postings.c.account.startswith(f"merchant:{merchant_id}:", autoescape=True))
        stmt = stmt.group_by(ledger_postings.c.account)
        return {Account.from_key(row.account): int(row.total) for row in self.conn.execute(stmt)}

    def total(self) -> int:
        """The whole ledger's sum: 0 when every entry balances."""
        return int(self.conn.execute(select(_sum(ledger_postings.c.amount))).scalar_one())

    def unbalanced_entries(self, limit: int = 100) -> list[int]:
        """Ids of entries whose postings do not sum to 0 (never any: the domain refuses them)."""
        stmt = (select(ledger_postings.c.entry_id).group_by(ledger_postings.c.entry_id)
                .having(func.sum(ledger_postings.c.amount) != 0).order_by(ledger_postings.c.entry_id).limit(limit))
        return [int(entry_id) for entry_id in self.conn.execute(stmt).scalars()]

    # --- the balance cache ----------------------------------------------------------------------------

    def settled_watermark(self) -> int:
        """The largest entry id below which every entry is committed for good, so that sums up to it never
        change again (append-only). Run it in a transaction of its own, committed at once.

        PostgreSQL hands out ids from a sequence when a transaction inserts, and commits in any order, so the
        largest id visible may have smaller ones still in flight. SHARE mode on ledger_entries waits for
        every transaction that has inserted into it (each holds ROW EXCLUSIVE from its INSERT on, before its
        ids are drawn) and holds new inserts back until this transaction ends: a pause of the longest
        booking in flight, milliseconds, once per refresh, instead of a balance cache that misses late
        commits. SQLite has one writer, whose new rowids lie above every committed one: no lock is needed."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("LOCK TABLE ledger_entries IN SHARE MODE"))
        return int(self.conn.execute(select(func.coalesce(func.max(ledger_entries.c.entry_id), 0))).scalar_one())

    def refresh_cache(self, at: datetime, as_of: int) -> int:
        """Bring the cache up to `as_of` (a settled watermark) incrementally: add to each cached row the
        postings of the entries after the cache's watermark up to `as_of`, and insert rows for accounts new
        since; then mark every row as of `as_of`. What it reads grows with the entries booked since the last
        refresh, never with the ledger's history: the new entries are a range of ledger_entries' primary key
        and their postings are found through theirs (merchant_id, entry_id). An empty cache is built from
        every entry (the way to rebuild one that `compare_cache` found wrong: delete its rows, refresh).
        Returns the number of cached rows. Never run in a payment's transaction.

        Refreshes are serialized (`_serialize`): each reads the cache's watermark after the previous one
        committed, so none adds a delta twice; each UPDATE is also conditional on the row's old watermark,
        and a slower refresh with an older `as_of` changes nothing (a row never moves back)."""
        self._serialize()
        b = ledger_balances
        since = int(self.conn.execute(select(func.coalesce(func.min(b.c.as_of_entry_id), 0))).scalar_one())
        if as_of > since:
            self._add_new_postings(at, since, as_of)
            # Rows without new postings are right as of `as_of` too: say so, so that the next refresh starts
            # there instead of rereading what this one read.
            self.conn.execute(b.update().where(b.c.as_of_entry_id < as_of)
                              .values(as_of_entry_id=as_of, updated_at=at))
        return int(self.conn.execute(select(func.count()).select_from(b)).scalar_one())

    def _serialize(self) -> None:
        """One refresh at a time. PostgreSQL: a transaction-level advisory lock (released at commit or
        rollback), taken before anything is read. SQLite: the write transaction is BEGIN IMMEDIATE, one
        writer at a time, already."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(select(func.pg_advisory_xact_lock(BALANCE_REFRESH_LOCK,
                                                                func.hashtext(func.current_schema()))))

    def _add_new_postings(self, at: datetime, since: int, as_of: int) -> None:
        """One INSERT … SELECT … ON CONFLICT DO UPDATE: the sums per (merchant shard, account) of the
        postings of entries in (since, as_of] (`since` the smallest watermark of any row), leaving out for
        each row the postings its own watermark already counts; an account with no row yet gets one."""
        e, p, b = ledger_entries, ledger_postings, ledger_balances
        # `entry_id + 0`: with a plain column, SQLite carries the range on e.entry_id over to p.entry_id and
        # then reads each entry's postings as a range of the merchant's new postings (quadratic in a busy
        # merchant's new entries) instead of by their key. tests/settlement/test_ledger_incremental.py
        # holds the plan.
        new = (select(p.c.merchant_id, p.c.account, _sum(p.c.amount), literal(as_of, BigInteger),
                      literal(at, b.c.updated_at.type))
               .select_from(e.join(p, and_(p.c.merchant_id == e.c.merchant_id, p.c.entry_id == e.c.entry_id + 0))
                            .outerjoin(b, and_(b.c.merchant_id == p.c.merchant_id, b.c.account == p.c.account)))
               .where(e.c.entry_id > since, e.c.entry_id <= as_of,
                      e.c.entry_id > func.coalesce(b.c.as_of_entry_id, 0))
               .group_by(p.c.merchant_id, p.c.account))
        stmt = _dialect(self.conn).insert(b).from_select(
            ["merchant_id", "account", "balance", "as_of_entry_id", "updated_at"], new)
        stmt = stmt.on_conflict_do_update(
            index_elements=["merchant_id", "account"],
            set_={"balance": b.c.balance + stmt.excluded.balance, "as_of_entry_id": stmt.excluded.as_of_entry_id,
                  "updated_at": stmt.excluded.updated_at},
            where=b.c.as_of_entry_id < stmt.excluded.as_of_entry_id)
        self.conn.execute(stmt)

    def cached_balances(self) -> dict[Account, int]:
        """Raw cached sums per account (a platform account's rows added over its merchants)."""
        stmt = (select(ledger_balances.c.account, _sum(ledger_balances.c.balance).label("total"))
                .group_by(ledger_balances.c.account))
        return {Account.from_key(row.account): int(row.total) for row in self.conn.execute(stmt)}

    def compare_cache(self, limit: int = 1000) -> list[BalanceDifference]:
        """Recompute each cached balance from its postings up to the row's as_of_entry_id and return those
        that differ, and accounts with postings up to the cache's watermark but no cached row."""
        p, b = ledger_postings, ledger_balances
        computed = _sum(p.c.amount)
        cached = (select(b.c.merchant_id, b.c.account, b.c.balance, computed.label("computed"))
                  .select_from(b.outerjoin(p, and_(p.c.merchant_id == b.c.merchant_id, p.c.account == b.c.account,
                                                   p.c.entry_id <= b.c.as_of_entry_id)))
                  .group_by(b.c.merchant_id, b.c.account, b.c.balance)
                  .having(b.c.balance != computed).order_by(b.c.merchant_id, b.c.account).limit(limit))
        differences = [BalanceDifference(row.merchant_id, row.account, int(row.balance), int(row.computed))
                       for row in self.conn.execute(cached)]
        watermark = select(func.coalesce(func.max(b.c.as_of_entry_id), 0)).scalar_subquery()
        uncached = (select(p.c.merchant_id, p.c.account, computed.label("computed"))
                    .where(p.c.entry_id <= watermark, ~select(literal(1)).where(
                        b.c.merchant_id == p.c.merchant_id, b.c.account == p.c.account).exists())
                    .group_by(p.c.merchant_id, p.c.account).order_by(p.c.merchant_id, p.c.account).limit(limit))
        differences += [BalanceDifference(row.merchant_id, row.account, None, int(row.computed))
                        for row in self.conn.execute(uncached)]
        return differences

