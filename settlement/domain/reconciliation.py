"""Reconciliation with the channel's statements: the rules that place every statement line, and every movement
of ours, in exactly one bucket, in exact integer fen.

A statement is one rail's record of one day (the rail's day: 00:00-24:00 Asia/Shanghai) of one kind
(``TRADES``: payments and refunds with the rail's fee; ``ACCOUNT``: every movement of the platform's balance).
"Ours" are the ledger's movements the rail should show: payments and refunds (both kinds of statement),
payout parts confirmed and verification transfers (``TRANSFER``), and Alipay service fees booked from the
trade bill (``FEE``, account statement only). Amounts are signed from the platform's side (in > 0, out < 0),
as the lines are. A line and a movement are the same when their kind and reference are (our number: payment
id, refund id, out_biz_no); the first line of a (kind, reference) matches, a second one is MISSING_OURS (the
rail counted it twice).

The account statement names a refund only by its trade, and shows the fee Alipay gives back with a refund as a
FEE line of the payment: there refunds and fees are matched per payment and day. A REFUND line with no
reference is read under its payment's (`line_reference`), the day's REFUND lines, and FEE lines, of one
reference are summed into one line (`collapse`), and ours are of the same shape: the day's refunds of a
payment summed, and its fee net of the fee given back with its refunds (storage stages them so). The trade
statement matches refunds by their own number.

Buckets (`classify` is the reference implementation; settlement/storage/reconciliation.py does the same in
SQL and tests hold the two to each other):

- a line matched to a movement: AMOUNT_DIFFERENCE if the amounts differ; else FEE_DIFFERENCE if it is a
  payment on a trade statement, `fee_bps` is set and the bill's fee is not `expected_fee(amount, fee_bps)`;
  else MATCHED when the movement is of the statement's day, EXPECTED when it is of the day before or after
  (within `window` of the boundary: paid at 23:59:59 here, 00:00:01 at the rail);
- a line matched to nothing: OTHER for a line of kind OTHER (a top-up, a withdrawal: nothing of ours can
  explain it), MISSING_OURS for any other;
- a movement of the day matched by no line: MISSING_THEIRS, unless it lies within `window` of a boundary:
  then EXPECTED (the neighbouring day's statement should have it), or MISSING_THEIRS if that neighbour is
  reconciled already and did not bill it;
- a movement of a neighbouring day within `window` (reconciled there as EXPECTED, waiting for this
  statement) matched by no line here: MISSING_THEIRS, reported on this day. Others of the window are the
  neighbour's business and are not reported here.

Money in the ledger (the journal entries reconciliation books, settlement/domain/ledger.py):

- the bill is the source of truth for Alipay's service fee: every payment line of a trade statement matched
  to a payment of ours with a fee > 0 books `alipay_service_fee` (Alipay fee cost ← channel clearing), and
  every refund line matched to a refund of ours with a fee < 0 (the fee given back) books
  `alipay_service_fee_returned` (channel clearing ← Alipay fee cost);
  a verification transfer the account statement shows books `verification_transfer`;
- each unexplained difference (MISSING_OURS, MISSING_THEIRS, AMOUNT_DIFFERENCE, OTHER) books its
  `unexplained` amount, ours minus theirs, against SUSPENSE (`reconciliation_difference`): suspense is
  debited what the ledger expected beyond what the rail shows, and channel clearing credited the same, so
  that clearing agrees with the rail and suspense (a debit-normal account, accounts.py) reads positive
  when the ledger expected more. A FEE_DIFFERENCE is a question for Alipay's contract, not unexplained
  money (the bill's fee is booked), and EXPECTED is timing: neither touches suspense.
- Each movement is booked against suspense by one statement only, so that a trade missing on both bills is
  not counted twice: payments and refunds by the trade statement, transfers, fees and other movements by the
  account statement (`books_suspense`). The other statement still reports and flags it.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from settlement.domain.calendar import CHINA
from settlement.domain.fees import BPS_DENOMINATOR, MAX_BPS, round_half_up

MAX_WINDOW = timedelta(hours=12)
MAX_REFERENCE = 64  # Alipay's out_trade_no, out_request_no, out_biz_no and trade numbers are at most 64
MAX_LISTED = 1000  # differences a report lists; its counts and totals cover every one


class Bucket(enum.Enum):
    MATCHED = "MATCHED"
    MISSING_OURS = "MISSING_OURS"  # on the statement, not in our ledger
    MISSING_THEIRS = "MISSING_THEIRS"  # in our ledger, not on the statement
    AMOUNT_DIFFERENCE = "AMOUNT_DIFFERENCE"
    FEE_DIFFERENCE = "FEE_DIFFERENCE"
    EXPECTED = "EXPECTED"  # crosses the day boundary
    OTHER = "OTHER"  # an account movement nothing of ours can place


#: Real differences: each is flagged for an operator.
DIFFERENCES = frozenset({Bucket.MISSING_OURS, Bucket.MISSING_THEIRS, Bucket.AMOUNT_DIFFERENCE,
                         Bucket.FEE_DIFFERENCE, Bucket.OTHER})
#: Differences whose amount is unexplained money (booked against suspense).
UNEXPLAINED = frozenset({Bucket.MISSING_OURS, Bucket.MISSING_THEIRS, Bucket.AMOUNT_DIFFERENCE, Bucket.OTHER})

# Statement kinds and line kinds by value (the domain imports no channel contract; the values are
# channels.contract.statements' StatementKind and LineKind).
TRADES, ACCOUNT = "TRADES", "ACCOUNT"
PAYMENT, REFUND, FEE, TRANSFER, OTHER = "PAYMENT", "REFUND", "FEE", "TRANSFER", "OTHER"
#: The kinds of our movements each statement shows.
OURS_ON = {TRADES: frozenset({PAYMENT, REFUND}), ACCOUNT: frozenset({PAYMENT, REFUND, TRANSFER, FEE})}
_SUSPENSE_BY = {TRADES: frozenset({PAYMENT, REFUND}), ACCOUNT: frozenset({TRANSFER, FEE, OTHER})}


def value(kind: Any) -> str:
    """A kind as its value: the contract's enums and plain strings alike."""
    return str(getattr(kind, "value", kind))


def expected_fee(amount: int, bps: int) -> int:
    """Alipay's contracted fee on a payment of `amount` fen at `bps`: round half up, whole fen."""
    if type(bps) is not int or not (0 <= bps <= MAX_BPS):
        raise ValueError(f"fee_bps must be whole basis points from 0 to {MAX_BPS}")
    return round_half_up(abs(amount) * bps, BPS_DENOMINATOR)


def line_reference(statement_kind: str, kind: str, reference: str, payment_reference: str) -> str:
    """The reference a line is matched under: on the account statement a REFUND line with none (Alipay names
    only the trade) is its payment's."""
    if statement_kind == ACCOUNT and kind == REFUND and not reference:
        return payment_reference
    return reference


def summed_per_payment(statement_kind: str, kind: str) -> bool:
    """Whether lines, and ours, of `kind` are summed per reference and day on `statement_kind` (see the module)."""
    return statement_kind == ACCOUNT and kind in (REFUND, FEE)


def collapse(lines: Iterable[Line], statement_kind: str) -> list[Line]:
    """The lines as they are matched: on the account statement, the REFUND lines and the FEE lines of one
    reference summed into one (the smallest channel reference, the earliest time), where the first was."""
    out: list[Line] = []
    summed: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.kind, line.reference)
        if not line.reference or not summed_per_payment(statement_kind, line.kind):
            out.append(line)
        elif key not in summed:
            summed[key] = len(out)
            out.append(line)
        else:
            n = summed[key]
            first = out[n]
            out[n] = Line(first.kind, first.reference, min(first.channel_reference, line.channel_reference),
                          first.amount + line.amount, first.fee + line.fee, min(first.occurred_at, line.occurred_at))
    return out


def books_suspense(statement_kind: str, kind: str) -> bool:
    """Whether a difference about a movement of `kind` found on `statement_kind` goes to suspense (see the
    module: one statement per kind of movement)."""
    return kind in _SUSPENSE_BY[statement_kind]


@dataclass(frozen=True, slots=True)
class Rules:
    day: date
    statement_kind: str  # TRADES or ACCOUNT
    window: timedelta = timedelta(minutes=15)
    fee_bps: int | None = None

    def __post_init__(self) -> None:
        if self.statement_kind not in OURS_ON:
            raise ValueError(f"kind must be TRADES or ACCOUNT, not {self.statement_kind!r}")
        if not (timedelta(0) <= self.window <= MAX_WINDOW):
            raise ValueError(f"window must be between 0 and {MAX_WINDOW}")
        if self.fee_bps is not None:
            expected_fee(0, self.fee_bps)

    @property
    def start(self) -> datetime:
        """The day's first instant (00:00 China time), aware."""
        return datetime.combine(self.day, time(0), CHINA)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(0), CHINA)

    def contracted_fee(self, kind: str, amount: int) -> int | None:
        """The fee a line of `kind` should carry, or None when fees are not checked (no `fee_bps`, not a
        payment on a trade statement)."""
        if self.fee_bps is None or self.statement_kind != TRADES or kind != PAYMENT:
            return None
        return expected_fee(amount, self.fee_bps)


@dataclass(frozen=True, slots=True)
class Line:
    """A statement line as the domain reads it (channels.contract.statements.StatementLine has these fields)."""

    kind: str
    reference: str
    channel_reference: str
    amount: int
    fee: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Movement:
    """One of ours the statement should show: signed fen from the platform's side, when it happened."""

    kind: str
    reference: str
    merchant_id: str
    amount: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Neighbour:
    """What the reconciliation of the day before or after knows (when it has run)."""

    reconciled: bool = False
    billed: frozenset[tuple[str, str]] = frozenset()  # (kind, reference) its statement showed
    waiting: frozenset[tuple[str, str]] = frozenset()  # its movements it holds EXPECTED, billed nowhere yet


@dataclass(frozen=True, slots=True)
class Item:
    """One line, or one movement with no line, in its bucket."""

    bucket: Bucket
    kind: str
    reference: str
    channel_reference: str = ""
    merchant_id: str = ""
    ours: int | None = None  # None: no movement of ours
    theirs: int | None = None  # None: no line
    theirs_fee: int = 0
    expected_fee: int | None = None  # the contracted fee, when checked
    occurred_at: datetime | None = None
    rank: int = 1  # the line's number among the statement's lines of the same kind and reference

    @property
    def key(self) -> str:
        """Stable across runs of the same day: what suspense bookings and flags of this item are keyed on."""
        return item_key(self.kind, self.rank, self.reference, self.channel_reference)

    def unexplained(self, statement_kind: str) -> int:
        """Fen this item puts in suspense (ours minus theirs; 0 when it is no unexplained difference or another
        statement books it)."""
        if self.bucket not in UNEXPLAINED or not books_suspense(statement_kind, self.kind):
            return 0
        return (self.ours or 0) - (self.theirs or 0)


def item_key(kind: str, rank: int, reference: str, channel_reference: str) -> str:
    return f"{kind}:{rank}:{reference}" if reference else f"{kind}:{rank}#{channel_reference}"


def classify(lines: Iterable[Line], ours: Iterable[Movement], rules: Rules, *,
             before: Neighbour = Neighbour(), after: Neighbour = Neighbour()) -> list[Item]:
    """Every line, and every movement of ours the statement leaves unexplained, in its bucket (module
    docstring). `ours` may hold movements of the window around the day; others are ignored; on the account
    statement its refunds and fees are per payment already. In memory: the reference the SQL is checked
    against, and for small statements."""
    start, end, window = rules.start, rules.end, rules.window
    mine = {(m.kind, m.reference): m for m in ours
            if m.kind in OURS_ON[rules.statement_kind] and start - window <= m.occurred_at < end + window}
    seen: Counter[tuple[str, str]] = Counter()
    items = []
    for line in collapse(lines, rules.statement_kind):
        key = (line.kind, line.reference)
        seen[key] += 1
        rank = seen[key]
        movement = mine.get(key) if line.reference and rank == 1 else None
        if movement is None:
            bucket = Bucket.OTHER if line.kind == OTHER else Bucket.MISSING_OURS
            items.append(Item(bucket, line.kind, line.reference, line.channel_reference, theirs=line.amount,
                              theirs_fee=line.fee, occurred_at=line.occurred_at, rank=rank))
            continue
        fee = rules.contracted_fee(line.kind, line.amount)
        if movement.amount != line.amount:
            bucket = Bucket.AMOUNT_DIFFERENCE
        elif fee is not None and fee != line.fee:
            bucket = Bucket.FEE_DIFFERENCE
        elif start <= movement.occurred_at < end:
            bucket = Bucket.MATCHED
        else:
            bucket = Bucket.EXPECTED
        items.append(Item(bucket, line.kind, line.reference, line.channel_reference, movement.merchant_id,
                          movement.amount, line.amount, line.fee, fee, movement.occurred_at, rank))
    for (kind, reference), m in mine.items():
        if seen[(kind, reference)]:
            continue
        unbilled = _unbilled(m, rules, before, after)
        if unbilled is not None:
            items.append(Item(unbilled, kind, reference, merchant_id=m.merchant_id, ours=m.amount,
                              occurred_at=m.occurred_at))
    return items


def _unbilled(m: Movement, rules: Rules, before: Neighbour, after: Neighbour) -> Bucket | None:
    start, end, window = rules.start, rules.end, rules.window
    key = (m.kind, m.reference)
    if m.occurred_at < start:  # the day before's, waiting for this statement
        return Bucket.MISSING_THEIRS if key in before.waiting else None
    if m.occurred_at >= end:
        return Bucket.MISSING_THEIRS if key in after.waiting else None
    neighbour = before if m.occurred_at < start + window else after if m.occurred_at >= end - window else None
    if neighbour is None:
        return Bucket.MISSING_THEIRS
    if neighbour.reconciled and key not in neighbour.billed:
        return Bucket.MISSING_THEIRS
    return Bucket.EXPECTED


# --- the report ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Total:
    count: int = 0
    theirs: int = 0  # fen of the statement's lines in the bucket
    ours: int = 0  # fen of our movements in the bucket

    def __add__(self, other: Total) -> Total:
        return Total(self.count + other.count, self.theirs + other.theirs, self.ours + other.ours)


@dataclass
class Report:
    """A day's reconciliation of one statement: counts and fen per bucket, the differences listed (up to
    MAX_LISTED; the totals count them all), and what it booked."""

    day: date
    statement_kind: str
    source: str
    lines: int = 0  # lines read from the statement
    statement_total: int = 0  # their sum, fen
    totals: dict[Bucket, Total] = field(default_factory=dict)
    differences: list[Item] = field(default_factory=list)
    unexplained: int = 0  # fen held in suspense for this day and statement after the run
    fees_booked: int = 0  # Alipay fee entries added by this run
    suspense_entries: int = 0  # suspense entries added by this run (changes since the last run)
    state: str = "DONE"

    def total(self, bucket: Bucket) -> Total:
        return self.totals.get(bucket, Total())

    @property
    def clean(self) -> bool:
        """True when every line matched or is EXPECTED: nothing for an operator to look at."""
        return not any(self.total(b).count for b in DIFFERENCES)


def report_of(items: Iterable[Item], rules: Rules, source: str) -> Report:
    """The report of `classify`'s items (what the SQL path computes with GROUP BY)."""
    report = Report(rules.day, rules.statement_kind, source)
    totals: dict[Bucket, Total] = {}
    for item in items:
        totals[item.bucket] = totals.get(item.bucket, Total()) + Total(1, item.theirs or 0, item.ours or 0)
        if item.theirs is not None:
            report.lines += 1
            report.statement_total += item.theirs
        if item.bucket in DIFFERENCES and len(report.differences) < MAX_LISTED:
            report.differences.append(item)
        report.unexplained += item.unexplained(rules.statement_kind)
    report.totals = {b: totals[b] for b in Bucket if b in totals}
    return report


def totals_from(rows: Mapping[str, tuple[int, int, int]]) -> dict[Bucket, Total]:
    """Bucket totals from (count, theirs, ours) rows by bucket value, in the buckets' order."""
    return {b: Total(*rows[b.value]) for b in Bucket if b.value in rows}


@dataclass(frozen=True, slots=True)
class Options:
    """`[settlement.reconcile]` (gateway/config.py): the window of the day boundary, Alipay's contracted rate,
    and when the daily job fetches yesterday's statements (China time) and flags one still missing."""

    window: timedelta = timedelta(minutes=15)
    fee_bps: int | None = None
    fetch_after: time = time(9, 30)
    flag_after: time = time(12, 0)
    every_seconds: float = 600.0

    def rules(self, day: date, statement_kind: str) -> Rules:
        return Rules(day, statement_kind, self.window, self.fee_bps)
