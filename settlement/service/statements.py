"""Settlement's reads for the faces (SettlementService, `cashier settle statement`): a merchant's balances, its
payouts, its ledger entries of a period a page at a time, and its statement for a period.

Who may read which merchant is the caller's business (the servicer checks an app acts for the merchant);
this layer takes a merchant id it may answer for. Every read is one short read-only transaction; the sums are
the database's (settlement/storage/statements.py). A statement's closing balances are its opening plus its
movements, account by account: computed so here, from the same sums, so they agree by construction, and a
test checks them against the balances summed from every posting.

The period is by settlement day (the day of the entry's cause: a payment's success, a run's date). An entry
booked later for an earlier day (a backfill) changes that day's statements: the ledger is append-only, a
statement is what it holds when asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from gateway.domain.errors import FieldViolation, InvalidArgument, NotFound
from gateway.service import paging
from gateway.service.ports import UnitOfWork
from settlement.domain.accounts import Account, AccountKind
from settlement.domain.ledger import EntryKind
from settlement.service.ledger_ports import LedgerRepository
from settlement.service.payout_ports import Payout

MAX_PERIOD_DAYS = 366
#: A merchant's accounts, in the order a statement shows them.
MERCHANT_ACCOUNTS = (AccountKind.MERCHANT_PENDING, AccountKind.MERCHANT_AVAILABLE, AccountKind.MERCHANT_DEPOSIT,
                     AccountKind.MERCHANT_PAYOUTS_IN_TRANSIT)


@dataclass(frozen=True, slots=True)
class PayoutRow:
    payout: Payout
    part_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EntryRow:
    entry_id: int
    kind: str
    reference: str
    settlement_day: date
    created_at: datetime
    postings: tuple[tuple[str, int], ...]  # (account key, raw amount: debit positive)


@dataclass(frozen=True, slots=True)
class Balances:
    """A merchant's balances as read (what the platform owes it), per account kind."""

    amounts: Mapping[AccountKind, int]

    def __getitem__(self, kind: AccountKind) -> int:
        return self.amounts.get(kind, 0)

    @property
    def total(self) -> int:
        return sum(self[k] for k in MERCHANT_ACCOUNTS)

    def __add__(self, other: Balances) -> Balances:
        return Balances({k: self[k] + other[k] for k in MERCHANT_ACCOUNTS})

    @classmethod
    def from_raw(cls, merchant_id: str, raw: Mapping[str, int]) -> Balances:
        """From raw sums keyed by account key (debit positive) to balances as read."""
        return cls({k: Account(k, merchant_id).balance(raw.get(Account(k, merchant_id).key, 0))
                    for k in MERCHANT_ACCOUNTS})


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """An entry as a merchant's ledger shows it: each posting's change as read, and its merchant's changes."""

    entry_id: int
    kind: EntryKind | None  # None: a kind this version does not know
    reference: str
    settlement_day: date
    created_at: datetime
    postings: tuple[tuple[Account, int], ...]
    change: Balances


@dataclass(frozen=True, slots=True)
class Movement:
    kind: EntryKind | None
    entries: int
    change: Balances


@dataclass(frozen=True, slots=True)
class Statement:
    merchant_id: str
    start: date
    end: date
    opening: Balances
    movements: tuple[Movement, ...]

    @property
    def closing(self) -> Balances:
        closing = self.opening
        for movement in self.movements:
            closing = closing + movement.change
        return closing


class StatementRepository(Protocol):
    def payouts(self, merchant_id: str | None, after: tuple[date, str] | None, limit: int) -> list[PayoutRow]: ...

    def payout(self, merchant_id: str, payout_id: str) -> PayoutRow | None: ...

    def entries(self, merchant_id: str, start: date, end: date, after: tuple[date, int] | None,
                limit: int) -> list[EntryRow]: ...

    def statement_sums(self, merchant_id: str, accounts: Sequence[str], start: date,
                       end: date) -> dict[str, tuple[int, list[int]]]:
        """Per bucket ("" before `start`, else the entry kind): entries and the raw sums of `accounts`."""


class StatementUnitOfWork(UnitOfWork, Protocol):
    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def settlement_statements(self) -> StatementRepository: ...

    def __enter__(self) -> StatementUnitOfWork: ...


class StatementUnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = False) -> StatementUnitOfWork: ...


def _kind(value: str) -> EntryKind | None:
    try:
        return EntryKind(value)
    except ValueError:
        return None


def check_period(start: date, end: date, *, start_field: str = "start_date", end_field: str = "end_date") -> None:
    if end < start:
        raise InvalidArgument([FieldViolation(end_field, f"must not be before {start_field}")])
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidArgument([FieldViolation(end_field, f"a period is at most {MAX_PERIOD_DAYS} days")])


def _line(merchant_id: str, row: EntryRow) -> LedgerLine:
    postings = tuple((account, account.balance(amount))
                     for account, amount in ((Account.from_key(key), amount) for key, amount in row.postings))
    change = Balances({k: sum(a for acc, a in postings if acc.kind is k and acc.merchant_id == merchant_id)
                       for k in MERCHANT_ACCOUNTS})
    return LedgerLine(row.entry_id, _kind(row.kind), row.reference, row.settlement_day, row.created_at, postings,
                      change)


class SettlementQueries:
    def __init__(self, uow: StatementUnitOfWorkFactory):
        self.uow = uow

    def _merchant(self, tx: StatementUnitOfWork, merchant_id: str) -> None:
        if tx.merchants.get(merchant_id) is None:
            raise NotFound(f"merchant {merchant_id} does not exist", reason="MERCHANT_NOT_FOUND")

    def balance(self, merchant_id: str) -> Balances:
        """The merchant's balances summed from every posting now (not the cache: exact at the call)."""
        with self.uow() as tx:
            self._merchant(tx, merchant_id)
            raw = tx.ledger.balances(merchant_id)
        return Balances.from_raw(merchant_id, {account.key: amount for account, amount in raw.items()})

    def list_payouts(self, merchant_id: str | None, page_size: int, page_token: str) -> tuple[list[PayoutRow], str]:
        """A page of payouts, newest run first; every merchant's when `merchant_id` is None."""
        size = paging.page_size(page_size)
        scope = ("payouts", merchant_id or "-")
        cursor = paging.decode_token(page_token, scope)
        after = None
        if cursor is not None:
            day, _, payout_id = cursor.partition("/")
            try:
                after = (date.fromisoformat(day), payout_id)
            except ValueError:
                raise InvalidArgument([FieldViolation("page_token", "is not a token this service issued")]) from None
        with self.uow() as tx:
            if merchant_id is not None:
                self._merchant(tx, merchant_id)
            rows = tx.settlement_statements.payouts(merchant_id, after, size + 1)
        page = rows[:size]
        token = ""
        if len(rows) > size:
            last = page[-1].payout
            token = paging.encode_token(f"{last.run_date.isoformat()}/{last.payout_id}", scope)
        return page, token

    def get_payout(self, merchant_id: str, payout_id: str) -> PayoutRow:
        with self.uow() as tx:
            row = tx.settlement_statements.payout(merchant_id, payout_id)
        if row is None:
            raise NotFound(f"payout {payout_id} of merchant {merchant_id} does not exist", reason="PAYOUT_NOT_FOUND")
        return row

    def list_entries(self, merchant_id: str, start: date, end: date, page_size: int,
                     page_token: str) -> tuple[list[LedgerLine], str]:
        """A page of the merchant's entries of settlement days start..end, in booking order."""
        check_period(start, end)
        size = paging.page_size(page_size)
        scope = ("ledgerEntries", merchant_id, start.isoformat(), end.isoformat())
        cursor = paging.decode_token(page_token, scope)
        after = None
        if cursor is not None:
            day, _, entry_id = cursor.partition("/")
            try:
                after = (date.fromisoformat(day), int(entry_id))
            except ValueError:
                raise InvalidArgument([FieldViolation("page_token", "is not a token this service issued")]) from None
        with self.uow() as tx:
            self._merchant(tx, merchant_id)
            rows = tx.settlement_statements.entries(merchant_id, start, end, after, size + 1)
        page = rows[:size]
        token = ""
        if len(rows) > size:
            token = paging.encode_token(f"{page[-1].settlement_day.isoformat()}/{page[-1].entry_id}", scope)
        return [_line(merchant_id, row) for row in page], token

    def statement(self, merchant_id: str, start: date, end: date) -> Statement:
        """Opening balances before `start` and movements per entry kind of start..end, summed by one SQL
        statement, so that opening and movements see the same ledger."""
        check_period(start, end)
        keys = [Account(k, merchant_id).key for k in MERCHANT_ACCOUNTS]
        with self.uow() as tx:
            self._merchant(tx, merchant_id)
            buckets = tx.settlement_statements.statement_sums(merchant_id, keys, start, end)

        def balances(raw: list[int]) -> Balances:
            return Balances.from_raw(merchant_id, dict(zip(keys, raw, strict=True)))

        order = {kind.value: n for n, kind in enumerate(EntryKind)}
        opening = balances(buckets.pop("", (0, [0] * len(keys)))[1])
        movements = tuple(Movement(_kind(kind), buckets[kind][0], balances(buckets[kind][1]))
                          for kind in sorted(buckets, key=lambda k: (order.get(k, len(order)), k)))
        return Statement(merchant_id, start, end, opening, movements)
