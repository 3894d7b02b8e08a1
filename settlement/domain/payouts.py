"""The rules of one payout run for one merchant, as pure decisions the service layer carries out.

A run first releases what is due (pending → available, `ledger.funds_released`): money released into a
negative available balance nets it before anything is paid, simply because both sit in one account. Then
`decide` looks at the merchant's position and says, in this order:
1. a negative available balance left after netting is taken from the deposit, as far as the deposit goes
   (`ledger.deposit_applied`); if that leaves a T+0 merchant's deposit below the requirement, the merchant
   drops to T+15 (from the next settlement day; the service writes the plan change, an event and an audit
   row);
2. a balance still negative is carried (netted from future money) and flagged once it has been negative
   for `negative_days` days (counted from the first run that found it negative);
3. otherwise one payout of the whole available balance, unless it is below the transfer minimum (it waits
   for the next run) or the merchant's payouts are parked after repeated failures (they wait for an
   operator); a payout above `max_transfer` is split into near-equal parts, numbered from 1, each its own
   transfer (`transfer_reference`), so Alipay refuses a second transfer of any part. A run sends at most
   `MAX_PARTS` parts; what is beyond them stays available for the next run.

After the transfers, `after_transfers` says what their outcomes mean for the failure count: a run in which a
part FAILED counts once; at `max_failures` the merchant's payouts are parked with an operator flag instead
of being retried for ever. A quota or balance refusal (`EXCEED_LIMIT_*`, `PAYER_BALANCE_NOT_ENOUGH`) is not
the merchant's failure: its money returns to available and the next run pays it, flagged, uncounted. An
UNKNOWN outcome decides nothing until `alipay.fund.trans.common.query` answers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from gateway.domain.errors import FieldViolation, InvalidArgument, Violations
from gateway.domain.merchants import SettlementPlan

# Alipay's `alipay.fund.trans.uni.transfer` takes 0.10 to 100,000,000.00 CNY per transfer.
ALIPAY_MIN_TRANSFER = 10
ALIPAY_MAX_TRANSFER = 10_000_000_000
DEFAULT_DEPOSIT_REQUIRED = 2_000_000  # fen: 20,000.00 CNY
MAX_PARTS = 999
MAX_PAYOUT_CONCURRENCY = 32  # `[settlement] payout_concurrency`'s ceiling: transfers in flight at once
_PAYOUT_ID = re.compile(r"[A-Za-z0-9_]{1,56}")


@dataclass(frozen=True, slots=True)
class PayoutRules:
    min_transfer: int = ALIPAY_MIN_TRANSFER
    max_transfer: int = ALIPAY_MAX_TRANSFER
    max_failures: int = 3  # `[settlement] max_payout_failures`
    negative_days: int = 7  # `[settlement] negative_days`
    deposit_required: int = DEFAULT_DEPOSIT_REQUIRED
    # Merchants paid at once by a run (`[settlement] payout_concurrency`); 1 pays them one after another.
    payout_concurrency: int = 4

    def __post_init__(self) -> None:
        v = Violations()
        if not _whole(self.min_transfer) or not (ALIPAY_MIN_TRANSFER <= self.min_transfer <= ALIPAY_MAX_TRANSFER):
            v.add("settlement.min_transfer", f"must be whole fen from {ALIPAY_MIN_TRANSFER} (Alipay's minimum)")
        # Twice the minimum: a split then never leaves a part below the minimum (parts are near-equal, and
        # a payout is split only when above max_transfer, so each part is above max_transfer / 2).
        elif not _whole(self.max_transfer) or not (2 * self.min_transfer <= self.max_transfer <= ALIPAY_MAX_TRANSFER):
            v.add("settlement.max_transfer",
                  f"must be whole fen from twice the minimum ({2 * self.min_transfer}) to {ALIPAY_MAX_TRANSFER}")
        if not _whole(self.max_failures) or not (1 <= self.max_failures <= 100):
            v.add("settlement.max_payout_failures", "must be a whole number from 1 to 100")
        if not _whole(self.negative_days) or not (1 <= self.negative_days <= 366):
            v.add("settlement.negative_days", "must be a whole number of days from 1 to 366")
        if not _whole(self.deposit_required) or not (0 <= self.deposit_required <= ALIPAY_MAX_TRANSFER):
            v.add("settlement.deposit_required", "must be whole fen, not negative")
        if not _whole(self.payout_concurrency) or not (1 <= self.payout_concurrency <= MAX_PAYOUT_CONCURRENCY):
            v.add("settlement.payout_concurrency", f"must be a whole number from 1 to {MAX_PAYOUT_CONCURRENCY}")
        v.raise_if_any()


def _whole(value: int) -> bool:
    return type(value) is int


@dataclass(frozen=True, slots=True)
class Position:
    """A merchant's position at its payout step, read from the ledger after this run's releases."""

    merchant_id: str
    available: int  # read balance of its available account: may be negative
    deposit_held: int  # read balance of its deposit account
    plan: SettlementPlan  # in effect on the run's date
    parked: bool = False  # its payouts failed `max_failures` runs and await an operator
    negative_since: date | None = None  # the run date its available balance was first negative, if it still is


class Wait(enum.Enum):
    NOTHING_DUE = "NOTHING_DUE"
    BELOW_MINIMUM = "BELOW_MINIMUM"
    NEGATIVE = "NEGATIVE"
    PARKED = "PARKED"


@dataclass(frozen=True, slots=True)
class Decision:
    merchant_id: str
    deposit_applied: int  # fen to move from the deposit to available first (0: none)
    parts: tuple[int, ...]  # the payout's transfers, part 1 first; () when nothing is paid
    wait: Wait | None  # why nothing is paid, when nothing is
    drop_to_t15: bool  # the deposit fell below the requirement of a T+0 merchant
    negative_since: date | None  # to keep for the next run (None: not negative after this run)
    flag_negative: bool  # negative for `negative_days` or more: tell an operator
    available_after: int  # what stays in available once the deposit is applied and every part is sent

    @property
    def amount(self) -> int:
        return sum(self.parts)


def decide(position: Position, rules: PayoutRules, run_date: date) -> Decision:
    v = Violations()
    if not _whole(position.available) or abs(position.available) > 10**15:
        v.add("available", "must be whole fen")
    if not _whole(position.deposit_held) or position.deposit_held < 0:
        v.add("deposit_held", "must be whole fen, not negative")
    if position.negative_since is not None and position.negative_since > run_date:
        v.add("negative_since", "must not be after the run's date")
    v.raise_if_any()

    balance = position.available
    applied = min(position.deposit_held, -balance) if balance < 0 else 0
    balance += applied
    drop = (applied > 0 and position.plan is SettlementPlan.T0
            and position.deposit_held - applied < rules.deposit_required)

    def decision(parts: tuple[int, ...], wait: Wait | None, negative_since: date | None = None,
                 flag: bool = False) -> Decision:
        return Decision(position.merchant_id, applied, parts, wait, drop, negative_since, flag,
                        available_after=balance - sum(parts))

    if balance < 0:
        since = position.negative_since or run_date
        return decision((), Wait.NEGATIVE, since, (run_date - since).days >= rules.negative_days)
    if position.parked:
        return decision((), Wait.PARKED)
    if balance == 0:
        return decision((), Wait.NOTHING_DUE)
    if balance < rules.min_transfer:
        return decision((), Wait.BELOW_MINIMUM)
    # One run sends at most MAX_PARTS transfers; anything beyond waits for the next run rather than
    # blocking the merchant's payouts behind a refusal.
    return decision(split(min(balance, MAX_PARTS * rules.max_transfer), rules.max_transfer), None)


def split(amount: int, max_transfer: int) -> tuple[int, ...]:
    """`amount` in the fewest near-equal parts of at most `max_transfer`: each part is the floor share, and
    the leftover fen go one each to the first parts, so the parts always sum to `amount` exactly."""
    if not _whole(amount) or amount <= 0 or not _whole(max_transfer) or max_transfer <= 0:
        raise InvalidArgument([FieldViolation("amount", "split takes positive whole fen")])
    count = -(-amount // max_transfer)
    if count > MAX_PARTS:
        raise InvalidArgument([FieldViolation(
            "amount", f"{amount} fen would need {count} transfers of at most {max_transfer}; the limit is {MAX_PARTS}")])
    share, leftover = divmod(amount, count)
    return tuple(share + 1 if index < leftover else share for index in range(count))


def transfer_reference(payout_id: str, part: int) -> str:
    """The `out_biz_no` of part `part` of payout `payout_id`: unique per transfer, and the same on every
    retry of that part, so Alipay itself refuses to pay a part twice."""
    if not isinstance(payout_id, str) or _PAYOUT_ID.fullmatch(payout_id) is None:
        raise InvalidArgument([FieldViolation("payout_id", "must be 1 to 56 letters, digits or '_'")])
    if not _whole(part) or not (1 <= part <= MAX_PARTS):
        raise InvalidArgument([FieldViolation("part", f"must be from 1 to {MAX_PARTS}")])
    return f"{payout_id}_{part:03d}"


class TransferOutcome(enum.Enum):
    SUCCEEDED = "SUCCEEDED"  # Alipay answered SUCCESS (directly or through the query)
    FAILED = "FAILED"  # Alipay answered FAIL, or refused the payee (PAYEE_NOT_EXIST …)
    REFUSED_FOR_NOW = "REFUSED_FOR_NOW"  # EXCEED_LIMIT_* or PAYER_BALANCE_NOT_ENOUGH: the platform's limit
    UNKNOWN = "UNKNOWN"  # no answer: query, never guess


@dataclass(frozen=True, slots=True)
class AfterTransfers:
    failures: int  # the merchant's count of failed runs to keep
    park: bool  # stop paying this merchant until an operator acts (with a flag)
    flag_refused: bool  # a quota or balance refusal: tell an operator, pay next run
    undecided: bool  # some part is UNKNOWN: nothing is counted until the query answers


def after_transfers(outcomes: Iterable[TransferOutcome], failures_before: int, rules: PayoutRules) -> AfterTransfers:
    """What one run's transfer outcomes (all parts of the merchant's payout) mean for its failure count.

    FAILED and REFUSED_FOR_NOW parts both give their exact amount back to available (`ledger.payout_failed`);
    only FAILED counts against the merchant. A run whose parts all SUCCEEDED resets the count."""
    if not _whole(failures_before) or failures_before < 0:
        raise InvalidArgument([FieldViolation("failures_before", "must be a whole number, not negative")])
    seen = list(outcomes)
    if not seen:
        raise InvalidArgument([FieldViolation("outcomes", "a payout has at least one transfer")])
    refused = TransferOutcome.REFUSED_FOR_NOW in seen
    if TransferOutcome.UNKNOWN in seen:
        return AfterTransfers(failures_before, False, refused, True)
    if TransferOutcome.FAILED in seen:
        failures = failures_before + 1
        return AfterTransfers(failures, failures >= rules.max_failures, refused, False)
    if refused:
        return AfterTransfers(failures_before, False, True, False)
    return AfterTransfers(0, False, False, False)
