"""The platform's fee: a rate per channel in basis points, one rounding rule, and what a refund gives back.

Rounding rule — round half up to the fen (四舍五入), in integer arithmetic:

    fee = (amount × bps + 5_000) // 10_000

Worked example, a 60 bps (0.60 %) channel:
    12.34 CNY = 1_234 fen:  1_234 × 60 = 74_040;  (74_040 + 5_000) // 10_000 = 7   → 0.07 CNY (7.404 fen)
    12.50 CNY = 1_250 fen:  1_250 × 60 = 75_000;  (75_000 + 5_000) // 10_000 = 8   → 0.08 CNY (7.5 up to 8)
    0.08 CNY  =     8 fen:      8 × 60 =    480;  (   480 + 5_000) // 10_000 = 0   → no fee
Why half up rather than banker's rounding: it is the rule a merchant applies when checking a statement by
hand, and every fee is rounded once, on its own payment, so banker's statistical evenness buys nothing
that a merchant could see while costing an explanation on every disputed fen. Amounts and rates are ints,
never floats (a float of 0.006 × 1_250 is 7.499999…, which would round the other way).

Refunds (`RefundFeePolicy`): KEPT gives nothing back. PRO_RATA gives back the fee in proportion to what is
refunded, applying the same rule to the *cumulative* refunded amount rather than to each refund alone:

    returned so far after refunding R of amount A with fee F = round_half_up(F × R / A)
    this refund's share = returned_so_far(R_before + r) − returned_so_far(R_before)

The cumulative figure grows with R and equals F exactly when R = A, so over any sequence of partial refunds
the shares are never negative, never sum to more than the fee, and a payment refunded in full has given back
exactly its fee. (Rounding each refund alone would not: three refunds of 1/3 each could return one fen too
many.) Example, A = 1_000 fen, F = 6 fen, refunds of 250 then 750:
    first:  round_half_up(6 × 250 / 1_000 = 1.5) = 2 → gives back 2
    second: round_half_up(6 × 1_000 / 1_000) = 6    → gives back 6 − 2 = 4   (total 6 = the fee)
Computing a refund's share needs the refunds that succeeded before it, which the payment's row holds
(`refunded_amount`); the refund's transaction locks that row, so two refunds never read the same R_before.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.domain.errors import FieldViolation, InvalidArgument, Violations

BPS_DENOMINATOR = 10_000
MAX_BPS = 10_000  # 100 %: a fee above the payment itself is no fee
MAX_CHANNELS = 64


class RefundFeePolicy(enum.Enum):
    PRO_RATA = "pro_rata"
    KEPT = "kept"


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for numerator ≥ 0 and denominator > 0 (ints only)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def fee_for(amount: int, bps: int) -> int:
    """The platform's fee on a payment of `amount` fen at `bps` basis points (see the module's rule)."""
    _check_fen("amount", amount)
    _check_bps("bps", bps)
    return round_half_up(amount * bps, BPS_DENOMINATOR)


def fee_returned(policy: RefundFeePolicy, *, payment_amount: int, fee: int, refunded_before: int,
                 refund_amount: int) -> int:
    """What of `fee` goes back to the merchant with a refund of `refund_amount`, after `refunded_before`
    fen of the same payment were refunded by refunds that succeeded earlier."""
    v = Violations()
    if type(payment_amount) is not int or payment_amount <= 0:
        v.add("payment_amount", "must be a positive whole number of fen")
    elif type(fee) is not int or not (0 <= fee <= payment_amount):
        v.add("fee", "must be whole fen between 0 and the payment's amount")
    elif type(refunded_before) is not int or not (0 <= refunded_before <= payment_amount):
        v.add("refunded_before", "must be whole fen between 0 and the payment's amount")
    elif type(refund_amount) is not int or not (0 < refund_amount <= payment_amount - refunded_before):
        v.add("refund_amount", f"must be whole fen between 1 and what is left to refund "
                               f"({payment_amount - refunded_before})")
    v.raise_if_any()
    if policy is RefundFeePolicy.KEPT:
        return 0
    after = round_half_up(fee * (refunded_before + refund_amount), payment_amount)
    before = round_half_up(fee * refunded_before, payment_amount)
    return after - before


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The platform's rates by channel name, as configured (`[settlement.fees] mobile = 60`). The rate of a
    payment is read from here when it succeeds and stored on the payment, so a later change of rates never
    rewrites the fee of a payment already made."""

    rates: Mapping[str, int] = field(default_factory=dict)
    refund_policy: RefundFeePolicy = RefundFeePolicy.PRO_RATA

    def __post_init__(self) -> None:
        v = Violations()
        if len(self.rates) > MAX_CHANNELS:
            v.add("settlement.fees", f"at most {MAX_CHANNELS} channels")
        for channel, bps in self.rates.items():
            if not (isinstance(channel, str) and 0 < len(channel) <= 64):
                v.add("settlement.fees", f"channel name {str(channel)[:64]!r} must be 1 to 64 characters")
            elif type(bps) is not int or not (0 <= bps <= MAX_BPS):
                v.add(f"settlement.fees.{channel}", f"must be whole basis points from 0 to {MAX_BPS}")
        v.raise_if_any()
        # Frozen means frozen: a caller's dict changed later must not change the schedule.
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))

    def rate_for(self, channel: str) -> int:
        """The rate in bps of `channel`. A channel without a rate is refused rather than charged 0: a
        forgotten line in the configuration would otherwise give the platform's service away unseen."""
        try:
            return self.rates[channel]
        except KeyError:
            raise InvalidArgument([FieldViolation(
                f"settlement.fees.{channel[:64]}", "no fee rate is configured for this channel")]) from None

    def fee_for(self, channel: str, amount: int) -> tuple[int, int]:
        """(rate in bps, fee in fen) of a payment of `amount` fen through `channel`."""
        bps = self.rate_for(channel)
        return bps, fee_for(amount, bps)


def _check_fen(name: str, amount: int) -> None:
    if type(amount) is not int or amount <= 0:
        raise InvalidArgument([FieldViolation(name, "must be a positive whole number of fen")])


def _check_bps(name: str, bps: int) -> None:
    if type(bps) is not int or not (0 <= bps <= MAX_BPS):
        raise InvalidArgument([FieldViolation(name, f"must be whole basis points from 0 to {MAX_BPS}")])
