"""Flags: what an operator must look at. Money that moved in a way the gateway will not apply silently
(a paid amount that differs from the order, a notification for another Alipay app or paid to another
payee, a payment paid after it was closed here) is recorded as a flag in the database, listed by `cashier flags list` and resolved
by `cashier flags resolve` with a note of what was done."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.ids import _ulid


class FlagKind(enum.Enum):
    # Paid at the channel after it was closed here: recorded as paid; the buyer may expect a refund.
    LATE_SUCCESS = "LATE_SUCCESS"
    # The channel reports another amount paid than the order's: not applied.
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    # The channel reports a payment that was routed to another channel: not applied.
    CHANNEL_MISMATCH = "CHANNEL_MISMATCH"
    # A genuine notification for another app of the channel (e.g. another Alipay app_id): not applied.
    APP_MISMATCH = "APP_MISMATCH"
    # A genuine notification for our app but paid to another payee than `[channels.alipay] seller_id`: not applied.
    SELLER_MISMATCH = "SELLER_MISMATCH"
    # Settlement (settlement/service/run.py): a merchant's payouts failed max_payout_failures runs and wait for
    # an operator; a transfer refused for the platform's own quota or balance, carried over to the next run.
    PAYOUT_PARKED = "PAYOUT_PARKED"
    PAYOUT_REFUSED = "PAYOUT_REFUSED"
    # Settlement in working days for a year neither chinese-calendar nor `[settlement] holiday_file` covers:
    # the run releases nothing rather than guess (merchant "", payment id "holidays_<year>").
    HOLIDAYS_UNKNOWN = "HOLIDAYS_UNKNOWN"
    # A merchant's available balance has stayed negative `[settlement] negative_days` or more, no deposit left
    # to cover it (payment id "neg_<date it went negative>").
    NEGATIVE_BALANCE = "NEGATIVE_BALANCE"
    # Reconciliation with a rail's statement (settlement/service/reconcile.py), one per difference (payment id:
    # our reference, or "#" and the rail's, cut to 30): on the statement, not in our ledger; in our ledger, not
    # on the statement; another amount; another fee than `[settlement.reconcile] alipay_fee_bps`; a movement
    # of the platform's account nothing of ours explains (also "rcn_<day>_<kind>" counting differences beyond
    # the first 100 of a run).
    RECONCILIATION_MISSING_OURS = "RECONCILIATION_MISSING_OURS"
    RECONCILIATION_MISSING_THEIRS = "RECONCILIATION_MISSING_THEIRS"
    RECONCILIATION_AMOUNT_DIFFERENCE = "RECONCILIATION_AMOUNT_DIFFERENCE"
    RECONCILIATION_FEE_DIFFERENCE = "RECONCILIATION_FEE_DIFFERENCE"
    RECONCILIATION_OTHER = "RECONCILIATION_OTHER"
    # A payout part whose answer is unknown, while the payout rail now pays from another account than the one
    # that sent it (Alipay de-duplicates out_biz_no per app): neither asked about nor sent again there, since a
    # new app would not know the transfer and would pay it twice (payment id: the payout id).
    PAYOUT_RAIL_CHANGED = "PAYOUT_RAIL_CHANGED"
    # A day's statement still missing after `[settlement.reconcile] flag_after` (payment id "stmt_<day>_<kind>").
    STATEMENT_NOT_READY = "STATEMENT_NOT_READY"


def new_flag_id(at: datetime) -> str:
    return "flg_" + _ulid(at, int.from_bytes(os.urandom(10), "big"))


@dataclass(frozen=True, slots=True)
class Flag:
    id: str
    kind: FlagKind
    merchant_id: str
    payment_id: str  # "" when the channel named no payment of ours
    channel: str
    detail: str
    created_at: datetime
    last_seen_at: datetime
    occurrences: int = 1
    resolved_at: datetime | None = None
    resolution: str = ""

    @classmethod
    def raise_(cls, kind: FlagKind, *, merchant_id: str, payment_id: str, channel: str, detail: str,
               now: datetime) -> Flag:
        return cls(id=new_flag_id(now), kind=kind, merchant_id=merchant_id, payment_id=payment_id,
                   channel=channel, detail=detail[:2000], created_at=now, last_seen_at=now)

    @property
    def open(self) -> bool:
        return self.resolved_at is None
