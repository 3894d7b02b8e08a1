"""The platform's fee: the documented rounding rule and its examples, and refunds that never give back more
than the fee (and exactly the fee when the whole payment is refunded)."""

from __future__ import annotations

from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import InvalidArgument
from settlement.domain import fees
from settlement.domain.fees import FeeSchedule, RefundFeePolicy

PROPERTY = settings(deadline=None, database=None, derandomize=True)
amounts = st.integers(min_value=1, max_value=10_000_000_000)
rates = st.integers(min_value=0, max_value=fees.MAX_BPS)


@pytest.mark.parametrize(("amount", "bps", "fee"), [(1_234, 60, 7), (1_250, 60, 8), (8, 60, 0), (83, 60, 0),
                                                     (84, 60, 1), (100, 10_000, 100), (1_000, 0, 0)])
def test_the_worked_examples_of_the_rounding_rule(amount: int, bps: int, fee: int) -> None:
    assert fees.fee_for(amount, bps) == fee


@PROPERTY
@given(amount=amounts, bps=rates)
def test_the_fee_is_the_exact_rate_rounded_half_up(amount: int, bps: int) -> None:
    exact = Fraction(amount * bps, 10_000)
    fee = fees.fee_for(amount, bps)
    assert fee == floor(exact + Fraction(1, 2))
    assert 0 <= fee <= amount


def test_the_documented_refund_example() -> None:
    first = fees.fee_returned(RefundFeePolicy.PRO_RATA, payment_amount=1_000, fee=6, refunded_before=0,
                              refund_amount=250)
    second = fees.fee_returned(RefundFeePolicy.PRO_RATA, payment_amount=1_000, fee=6, refunded_before=250,
                               refund_amount=750)
    assert (first, second) == (2, 4)


def test_rounding_each_refund_alone_would_give_back_too_much_but_the_cumulative_rule_does_not() -> None:
    shares = [fees.fee_returned(RefundFeePolicy.PRO_RATA, payment_amount=300, fee=2, refunded_before=before,
                                refund_amount=100) for before in (0, 100, 200)]
    assert sum(shares) == 2
    assert sum(fees.round_half_up(2 * 100, 300) for _ in range(3)) == 3  # the naive rule's fen too many


@st.composite
def refund_sequences(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    amount = draw(st.integers(min_value=1, max_value=1_000_000))
    fee = fees.fee_for(amount, draw(rates))
    refunds: list[int] = []
    left = amount
    while left and len(refunds) < 12 and draw(st.booleans()):
        part = draw(st.integers(min_value=1, max_value=left))
        refunds.append(part)
        left -= part
    if draw(st.booleans()) and left:
        refunds.append(left)  # often end with a full refund
    return amount, fee, refunds


@PROPERTY
@given(case=refund_sequences())
def test_pro_rata_refunds_never_give_back_more_than_the_fee_and_a_full_refund_gives_back_all_of_it(
        case: tuple[int, int, list[int]]) -> None:
    amount, fee, refunds = case
    returned = 0
    refunded = 0
    for refund in refunds:
        share = fees.fee_returned(RefundFeePolicy.PRO_RATA, payment_amount=amount, fee=fee,
                                  refunded_before=refunded, refund_amount=refund)
        assert 0 <= share <= refund
        returned += share
        refunded += refund
        assert returned <= fee
        # What the merchant keeps of the payment never goes negative: each fen is net, fee or refund.
        assert amount - fee - refunded + returned >= 0
    if refunded == amount:
        assert returned == fee


@PROPERTY
@given(case=refund_sequences())
def test_a_kept_fee_gives_nothing_back(case: tuple[int, int, list[int]]) -> None:
    amount, fee, refunds = case
    refunded = 0
    for refund in refunds:
        assert fees.fee_returned(RefundFeePolicy.KEPT, payment_amount=amount, fee=fee, refunded_before=refunded,
                                 refund_amount=refund) == 0
        refunded += refund


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"payment_amount": 0, "fee": 0, "refunded_before": 0, "refund_amount": 1}, "payment_amount"),
    ({"payment_amount": 100, "fee": 101, "refunded_before": 0, "refund_amount": 1}, "fee"),
    ({"payment_amount": 100, "fee": 1, "refunded_before": 101, "refund_amount": 1}, "refunded_before"),
    ({"payment_amount": 100, "fee": 1, "refunded_before": 60, "refund_amount": 41}, "refund_amount"),
    ({"payment_amount": 100, "fee": 1, "refunded_before": 0, "refund_amount": 1.0}, "refund_amount"),
])
def test_a_refund_fee_question_out_of_range_is_refused_naming_the_field(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        fees.fee_returned(RefundFeePolicy.PRO_RATA, **kwargs)
    assert [v.field for v in raised.value.violations] == [field]


def test_the_schedule_gives_each_channel_its_rate_and_refuses_an_unknown_channel() -> None:
    rates = {"mobile": 60, "pc": 38}
    schedule = FeeSchedule(rates)
    rates["mobile"] = 0  # the schedule keeps its own copy
    assert schedule.fee_for("mobile", 1_250) == (60, 8)
    assert schedule.fee_for("pc", 10_000) == (38, 38)
    with pytest.raises(InvalidArgument) as raised:
        schedule.rate_for("shared_link")
    assert raised.value.violations[0].field == "settlement.fees.shared_link"


@pytest.mark.parametrize("rates", [{"mobile": 10_001}, {"mobile": -1}, {"mobile": 0.6}, {"": 5}])
def test_a_schedule_with_a_bad_rate_is_refused(rates: dict[str, int]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        FeeSchedule(rates)
    assert raised.value.violations[0].field.startswith("settlement.fees")


@pytest.mark.parametrize(("amount", "bps", "field"), [(0, 60, "amount"), (1.5, 60, "amount"), (100, 10_001, "bps")])
def test_fee_for_refuses_what_is_not_whole_fen_or_basis_points(amount: int, bps: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        fees.fee_for(amount, bps)
    assert raised.value.violations[0].field == field
