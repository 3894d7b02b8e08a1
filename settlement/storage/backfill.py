"""Booking, set-based, the payments, refunds and held deposits that succeeded before settlement existed (or were not booked
for any other reason): a few INSERT … SELECT statements over payments and refunds, never a Python loop per
row, so a backfill of millions of rows is a handful of statements.

The statements build exactly the entries the domain's builders would (`ledger.book_payment`,
`ledger.book_refund`; tests/settlement/test_ledger_storage.py compares them row for row):
- payment succeeded (reference: payment id): channel clearing +amount, merchant pending −amount;
- fee (reference: payment id, only when > 0): merchant pending +fee, fee revenue −fee, the fee being
  `fees.fee_for(amount, fee_bps)` (round half up) with the payment's stored rate, none when it has none;
- refund succeeded (reference: refund id): merchant pending +amount, channel clearing −amount (released=False:
  nothing has been released before the first settlement run, see `SqlLedgerBackfill.check_bookable`);
- fee returned (reference: refund id, only when > 0, PRO_RATA only): fee revenue +share, merchant pending
  −share, the share computed on the cumulative refunded amount (`fees.fee_returned`), refunds ordered by the
  time they succeeded (updated_at), then id;
- deposit recorded (reference: deposit id), for deposits still held (HELD, RELEASING): channel clearing
  +amount, merchant deposit −amount (`ledger.deposit_recorded`). A RELEASED deposit was given back before
  settlement existed, outside the ledger, and is not booked.

Idempotent: (kind, reference) is unique and each INSERT skips what exists (ON CONFLICT DO NOTHING), postings
too (on their key: an entry that has postings has its lines 0 and 1), so a second backfill, or two at once,
books nothing twice. What was booked before must match what the backfill would book (ConflictingReplay
otherwise, nothing booked). The entries go in (merchant_id, reference) order, kind by kind, the order every
writer keeps, so concurrent backfills wait on each other rather than deadlock.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from gateway.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from gateway.storage.tables import deposits, ledger_entries, ledger_postings, payments, refunds
from settlement.domain import accounts
from settlement.domain.accounts import MAX_MERCHANT_ID, AccountKind
from settlement.domain.fees import BPS_DENOMINATOR, MAX_BPS, RefundFeePolicy
from settlement.domain.ledger import MAX_POSTING, ConflictingReplay, EntryKind
from settlement.service.ledger_ports import BackfillReport

PAID_STATES = ("SUCCEEDED", "PARTIALLY_REFUNDED", "REFUNDED")
HELD_DEPOSIT_STATES = ("HELD", "RELEASING")
REFUND_SUCCEEDED = "SUCCEEDED"
# China has kept UTC+8 all year since 1991 (no daylight saving): the settlement day is computed in SQL with
# that fixed offset, which agrees with calendar.settlement_day (Asia/Shanghai) for every date since.
CHINA_OFFSET_MINUTES = 8 * 60
MAX_NAMED = 5  # rows named in a refusal
# Products the SQL forms (2·amount·bps, 2·fee·refunded) must stay within BIGINT: PostgreSQL would fail loudly,
# SQLite would go on in floating point. Rows beyond are refused rather than booked wrong. Payments never come
# near (money.MAX_AMOUNT_MINOR is 10^10 fen; a 60 bps fee on it times 10^10 is 1.2·10^18).
SQL_PRODUCT_LIMIT = 4 * 10**18
MAX_SQL_AMOUNT = SQL_PRODUCT_LIMIT // (2 * MAX_BPS)


def _round_half_up(numerator: Any, denominator: Any) -> Any:
    """fees.round_half_up in SQL (integer operands, `//` is integer division on both databases)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _merchant_account(merchant_id: Any, kind: AccountKind) -> Any:
    return literal("merchant:") + merchant_id + literal(f":{kind.value}")


class SqlLedgerBackfill:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert

    # --- what the statements read -----------------------------------------------------------------------

    def _day(self, column: Any, cutoff: time) -> Any:
        """calendar.settlement_day of a UTC timestamp column, in SQL."""
        if cutoff.second or cutoff.microsecond or cutoff.tzinfo is not None:
            raise InvalidArgument([FieldViolation("settlement.cutoff", "whole minutes, China time, no time zone")])
        minutes = cutoff.hour * 60 + cutoff.minute
        shift = CHINA_OFFSET_MINUTES - minutes + (24 * 60 if minutes else 0)  # a built int, never input text
        if self.conn.dialect.name == "postgresql":
            return cast(func.timezone("UTC", column) + literal_column(f"INTERVAL '{shift} minutes'"), Date)
        return func.date(column, f"{shift:+d} minutes")

    @staticmethod
    def _fee() -> Any:
        return _round_half_up(payments.c.amount * func.coalesce(payments.c.fee_bps, 0), BPS_DENOMINATOR)

    def _paid(self, cutoff: time) -> Any:
        return (select(payments.c.merchant_id, payments.c.payment_id.label("reference"),
                       payments.c.amount, self._fee().label("fee"),
                       self._day(func.coalesce(payments.c.paid_at, payments.c.updated_at), cutoff).label("day"))
                .where(payments.c.state.in_(PAID_STATES)).subquery("paid"))

    def _refunded(self, cutoff: time, policy: RefundFeePolicy) -> Any:
        """Succeeded refunds with the fee share each gives back (cumulative over the payment's refunds)."""
        f = refunds
        # Cast: PostgreSQL sums BIGINT as NUMERIC, whose division would not be the integer division meant.
        upto = cast(func.sum(f.c.amount).over(partition_by=(f.c.merchant_id, f.c.payment_id),
                                              order_by=(f.c.updated_at, f.c.refund_id), rows=(None, 0)), BigInteger)
        inner = (select(f.c.merchant_id, f.c.refund_id, f.c.amount, upto.label("upto"),
                        payments.c.amount.label("paid"), self._fee().label("fee"),
                        self._day(f.c.updated_at, cutoff).label("day"))
                 .select_from(f.join(payments, and_(payments.c.merchant_id == f.c.merchant_id,
                                                    payments.c.payment_id == f.c.payment_id)))
                 .where(f.c.state == REFUND_SUCCEEDED).subquery("cumulative"))
        if policy is RefundFeePolicy.KEPT:
            share: Any = literal(0, BigInteger)
        else:
            share = (_round_half_up(inner.c.fee * inner.c.upto, inner.c.paid)
                     - _round_half_up(inner.c.fee * (inner.c.upto - inner.c.amount), inner.c.paid))
        return select(inner.c.merchant_id, inner.c.refund_id.label("reference"), inner.c.amount, inner.c.upto,
                      inner.c.paid, inner.c.fee, share.label("share"), inner.c.day).subquery("refunded")

    def _deposits(self, cutoff: time, *, held_only: bool) -> Any:
        """Deposits the merchant paid in, still held (HELD, or RELEASING on a later day). A RELEASED one that
        no entry knows was given back before settlement existed, outside the ledger: not booked."""
        held = deposits.c.state.in_(HELD_DEPOSIT_STATES) if held_only else true()
        return (select(deposits.c.merchant_id, deposits.c.deposit_id.label("reference"), deposits.c.amount,
                       self._day(deposits.c.recorded_at, cutoff).label("day"))
                .where(held).subquery("held" if held_only else "deposits"))

    # --- refusing what the domain would refuse ------------------------------------------------------------

    def check_bookable(self, cutoff: time, policy: RefundFeePolicy) -> None:
        """Refuse (changing nothing) rows the domain's builders would refuse, naming a few of them, and
        refunds that would have to come out of funds already released (booked as from pending, they would
        leave pending wrong; the backfill belongs before the first settlement run)."""
        paid, refunded = self._paid(cutoff), self._refunded(cutoff, policy)
        held = self._deposits(cutoff, held_only=True)
        problems: list[tuple[str, Any]] = [
            ("payments", select(paid.c.reference).where(or_(
                func.length(paid.c.merchant_id) < 1, func.length(paid.c.merchant_id) > MAX_MERCHANT_ID,
                paid.c.merchant_id.contains(":", autoescape=True),
                paid.c.amount < 1, paid.c.amount > min(MAX_POSTING, MAX_SQL_AMOUNT))).order_by(paid.c.reference)),
            ("payments.fee_bps", select(payments.c.payment_id).where(
                payments.c.state.in_(PAID_STATES),
                or_(payments.c.fee_bps < 0, payments.c.fee_bps > MAX_BPS)).order_by(payments.c.payment_id)),
            ("deposits", select(held.c.reference).where(or_(
                held.c.merchant_id.contains(":", autoescape=True), func.length(held.c.merchant_id) > MAX_MERCHANT_ID,
                held.c.amount < 1, held.c.amount > MAX_POSTING)).order_by(held.c.reference)),
            ("refunds", select(refunded.c.reference).where(or_(
                refunded.c.amount < 1, refunded.c.upto > refunded.c.paid,
                and_(refunded.c.fee > 0, refunded.c.upto > SQL_PRODUCT_LIMIT // refunded.c.fee),
            )).order_by(refunded.c.reference)),
        ]
        violations = []
        for field, stmt in problems:
            named = list(self.conn.execute(stmt.limit(MAX_NAMED)).scalars())
            if named:
                violations.append(FieldViolation(field, f"cannot be booked as they are: {', '.join(named)}"))
        if violations:
            raise InvalidArgument(violations)
        released = self.conn.execute(select(refunded.c.reference).where(
            ~self._booked(EntryKind.REFUND_SUCCEEDED, refunded.c.reference),
            select(literal(1)).where(ledger_entries.c.kind == EntryKind.FUNDS_RELEASED.value,
                                     ledger_entries.c.merchant_id == refunded.c.merchant_id).exists(),
        ).order_by(refunded.c.reference).limit(MAX_NAMED)).scalars().all()
        if released:
            raise FailedPrecondition(
                f"refunds {', '.join(released)} are not booked and their merchants' funds were released "
                "already: book them through the refund path, not the backfill")

    @staticmethod
    def _booked(kind: EntryKind, reference: Any) -> Any:
        return select(literal(1)).where(ledger_entries.c.kind == kind.value,
                                        ledger_entries.c.reference == reference).exists()

    # --- booking ----------------------------------------------------------------------------------------

    def book(self, at: datetime, cutoff: time, policy: RefundFeePolicy) -> BackfillReport:
        """Book every paid payment and succeeded refund not booked yet; returns the entries added by kind."""
        self.check_bookable(cutoff, policy)
        # Postings are written for new entries only: those above the watermark (ids grow), skipping any
        # that have them.
        watermark = self.conn.execute(select(func.coalesce(func.max(ledger_entries.c.entry_id), 0))).scalar_one()
        paid, refunded = self._paid(cutoff), self._refunded(cutoff, policy)
        held = self._deposits(cutoff, held_only=True)
        report = BackfillReport(
            payments=self._entries(EntryKind.PAYMENT_SUCCEEDED, paid, None, at),
            fees=self._entries(EntryKind.FEE, paid, paid.c.fee > 0, at),
            refunds=self._entries(EntryKind.REFUND_SUCCEEDED, refunded, None, at),
            fees_returned=self._entries(EntryKind.FEE_RETURNED, refunded, refunded.c.share > 0, at),
            deposits=self._entries(EntryKind.DEPOSIT_RECORDED, held, None, at),
        )
        pending = AccountKind.MERCHANT_PENDING
        clearing, revenue = accounts.CHANNEL_CLEARING.key, accounts.FEE_REVENUE.key
        # Payments and deposits are tables: their new entries drive (a range of entry ids); refunds are a
        # window query, which has no index, so each of its rows finds its entry instead (see _postings).
        self._postings(EntryKind.PAYMENT_SUCCEEDED, paid, watermark, clearing, pending, paid.c.amount)
        self._postings(EntryKind.FEE, paid, watermark, pending, revenue, paid.c.fee)
        self._postings(EntryKind.REFUND_SUCCEEDED, refunded, watermark, pending, clearing, refunded.c.amount,
                       by_entry_range=False)
        self._postings(EntryKind.FEE_RETURNED, refunded, watermark, revenue, pending, refunded.c.share,
                       by_entry_range=False)
        self._postings(EntryKind.DEPOSIT_RECORDED, held, watermark, clearing, AccountKind.MERCHANT_DEPOSIT, held.c.amount)
        # What was booked before (by the payment path, or a backfill with other settings) must be what this
        # backfill would book: the set-based form of ledger.check_replay. The caller's transaction rolls back.
        merchant_side = (AccountKind.MERCHANT_PENDING, AccountKind.MERCHANT_AVAILABLE)  # refunds: either
        all_deposits = self._deposits(cutoff, held_only=False)  # a deposit booked, then released, still must match
        conflicts = [
            *self._conflicts(EntryKind.PAYMENT_SUCCEEDED, paid, (clearing,), (pending,), paid.c.amount),
            *self._conflicts(EntryKind.FEE, paid, (pending,), (revenue,), paid.c.fee),
            *self._conflicts(EntryKind.REFUND_SUCCEEDED, refunded, merchant_side, (clearing,), refunded.c.amount),
            *self._conflicts(EntryKind.FEE_RETURNED, refunded, (revenue,), merchant_side, refunded.c.share),
            *self._conflicts(EntryKind.DEPOSIT_RECORDED, all_deposits, (clearing,), (AccountKind.MERCHANT_DEPOSIT,),
                             all_deposits.c.amount),
        ]
        if conflicts:
            raise ConflictingReplay(
                f"entries booked before differ from what the backfill would book: {', '.join(conflicts)}",
                metadata={"entries": ", ".join(conflicts)})
        return report

    def _conflicts(self, kind: EntryKind, source: Any, debit: tuple[str | AccountKind, ...],
                   credit: tuple[str | AccountKind, ...], amount: Any) -> list[str]:
        """`kind:reference` of stored entries (of every source row, whatever its amount: a stored fee where
        the backfill finds none conflicts too) that are not exactly one debit of `amount` to one of `debit`
        and one credit of it to one of `credit`, for the source row's merchant."""
        e, q = ledger_entries, ledger_postings

        def matches(accounts_: tuple[str | AccountKind, ...], signed: Any) -> Any:
            keys = [_merchant_account(e.c.merchant_id, a) if isinstance(a, AccountKind) else literal(a)
                    for a in accounts_]
            return and_(or_(*(q.c.account == key for key in keys)), q.c.amount == cast(signed, BigInteger))

        # One look at the entry's postings (a range of their primary key) instead of three: a line scores 1
        # when it is the debit, 4 when it is the credit, 16 otherwise, so 5 is exactly one of each and
        # nothing else (no two lines make 5 any other way; three or more make more, one less).
        score = case((matches(debit, amount), 1), (matches(credit, -amount), 4), else_=16)
        lines = (select(func.coalesce(func.sum(score), 0))
                 .where(q.c.merchant_id == e.c.merchant_id, q.c.entry_id == e.c.entry_id).scalar_subquery())
        # Materialized, then sorted and cut to the few named: with ORDER BY … LIMIT on the join itself,
        # PostgreSQL chose a fast-start plan (entries in reference order, each looking for its payment by
        # payment_id alone, a scan of pk_payments per entry) expecting to stop after a few conflicts; there
        # are usually none, so it read them all that way.
        found = (select(source.c.reference)
                 .select_from(source.join(e, and_(e.c.kind == kind.value, e.c.reference == source.c.reference)))
                 .where(or_(e.c.merchant_id != source.c.merchant_id, lines != 5))
                 .cte(f"conflicts_{kind.value}").prefix_with("MATERIALIZED"))
        stmt = select(found.c.reference).order_by(found.c.reference).limit(MAX_NAMED)
        return [f"{kind.value}:{reference}" for reference in self.conn.execute(stmt).scalars()]

    def _entries(self, kind: EntryKind, source: Any, condition: Any, at: datetime) -> int:
        rows = select(source.c.merchant_id, literal(kind.value), source.c.reference, source.c.day,
                      literal(at, ledger_entries.c.created_at.type))
        # `WHERE true`: SQLite parses INSERT … SELECT … ON CONFLICT only with a WHERE clause.
        rows = rows.where(condition if condition is not None else true())
        rows = rows.order_by(source.c.merchant_id, source.c.reference)
        stmt = self._insert(ledger_entries).from_select(
            ["merchant_id", "kind", "reference", "settlement_day", "created_at"], rows).on_conflict_do_nothing()
        # preserve_rowcount: SQLAlchemy keeps an INSERT's rowcount only when asked (psycopg's would be lost).
        return int(self.conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount)

    def _postings(self, kind: EntryKind, source: Any, watermark: int, debit: str | AccountKind,
                  credit: str | AccountKind, amount: Any, *, by_entry_range: bool = True) -> None:
        """The two postings (line 0 the debit, line 1 the credit, as the builders order them) of each entry
        of `kind` this backfill added.

        `by_entry_range`: the new entries drive, read by a range of the primary key (entry_id > watermark) and
        materialized before the kind is filtered, so that they come in id order, which is (merchant_id,
        reference) order, the order of the source's primary key and of the postings' indexes: every lookup
        and every index insert moves forward. Filtering the kind on ledger_entries itself let SQLite drive
        with the (kind, reference) index instead: every entry of the kind the ledger ever booked, in reference
        order, each a random lookup into the source, the postings and their two indexes, a cost that grew
        with the ledger and faster than linear once those outgrew the page cache. Only for a source with
        indexes (a table): a materialized source (refunds' window query) is scanned instead, each of its rows
        finding its entry through (kind, reference)."""
        e = ledger_entries
        if by_entry_range:
            entries: Any = (select(e.c.merchant_id, e.c.entry_id, e.c.kind, e.c.reference)
                            .where(e.c.entry_id > watermark).cte(f"added_{kind.value}").prefix_with("MATERIALIZED"))
        else:
            entries = e
        new = entries.join(source, and_(source.c.merchant_id == entries.c.merchant_id,
                                        source.c.reference == entries.c.reference))
        where = (entries.c.kind == kind.value, entries.c.entry_id > watermark)

        def line(number: int, account: str | AccountKind, signed: Any) -> Any:
            key = (_merchant_account(entries.c.merchant_id, account) if isinstance(account, AccountKind)
                   else literal(account))
            return (select(entries.c.merchant_id, entries.c.entry_id, literal(number), key, cast(signed, BigInteger))
                    .select_from(new).where(*where))

        rows = union_all(line(0, debit, amount), line(1, credit, -amount))
        # An entry above the watermark that has postings was booked by another transaction (a backfill or
        # the payment path at the same time), which wrote them with it, lines from 0 (an entry has two at
        # least): its lines 0 and 1 exist and both rows are skipped. ON CONFLICT rather than NOT EXISTS: an
        # anti-join, planned on statistics that still said ledger_postings was empty, scanned the postings
        # once per entry on PostgreSQL.
        self.conn.execute(self._insert(ledger_postings).from_select(
            ["merchant_id", "entry_id", "line", "account", "amount"], rows).on_conflict_do_nothing())
