"""The ledger's ports. This module imports only settlement's domain, so that the gateway's UnitOfWork port
(gateway/service/ports.py) can name `LedgerRepository` for the payment and refund transactions that append
postings, without an import cycle through settlement's service layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol

from settlement.domain.accounts import Account
from settlement.domain.fees import RefundFeePolicy
from settlement.domain.ledger import EntryKind, JournalEntry


@dataclass(frozen=True, slots=True)
class BalanceDifference:
    """A cached balance that disagrees with the sum of its postings (up to the cache's watermark)."""

    merchant_id: str  # the shard: a merchant's own accounts, or its share of a platform account
    account: str
    cached: int | None  # None: postings exist but the cache has no row for them
    computed: int


@dataclass
class BackfillReport:
    """Entries added by a backfill, by kind."""

    payments: int = 0
    fees: int = 0
    refunds: int = 0
    fees_returned: int = 0
    deposits: int = 0


class LedgerRepository(Protocol):
    def append(self, entries: Sequence[JournalEntry], *, settlement_day: date, at: datetime) -> int:
        """Store the entries and their postings in the caller's transaction; returns how many were new. A
        stored entry with the same identity and postings is a replay (nothing changes); with other postings
        it raises ledger.ConflictingReplay. Updates no balance row."""

    def get(self, kind: EntryKind, reference: str) -> JournalEntry | None: ...

    def released(self, merchant_id: str, payment_id: str) -> bool:
        """Whether a settlement run has released the settlement day of the payment's money to available."""

    def balances(self, merchant_id: str | None = None) -> dict[Account, int]:
        """Raw sums of postings per account (debit positive), summed in the database."""

    def total(self) -> int:
        """The sum of every posting: 0."""

    def unbalanced_entries(self, limit: int = 100) -> list[int]:
        """Ids of entries whose postings do not sum to 0: none."""

    def settled_watermark(self) -> int:
        """The largest entry id below which every entry is committed for good (in a transaction of its
        own: on PostgreSQL it briefly holds new entries back)."""

    def refresh_cache(self, at: datetime, as_of: int) -> int:
        """Bring the cached balances up to `as_of` by adding the postings of the entries after the cache's
        own watermark (one refresh at a time, so none is added twice); returns the number of cached rows."""

    def cached_balances(self) -> dict[Account, int]: ...

    def compare_cache(self, limit: int = 1000) -> list[BalanceDifference]:
        """Cached balances that differ from a recomputation from postings."""


class LedgerBackfillRepository(Protocol):
    def book(self, at: datetime, cutoff: time, policy: RefundFeePolicy) -> BackfillReport:
        """Book, set-based, every paid payment, succeeded refund and held deposit not booked yet."""
