"""The rules of one payout run: the minimum, splitting, netting a negative balance, taking it from the
deposit (and dropping T+0 when the deposit falls short), and counting failures until a payout is parked."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import InvalidArgument
from gateway.domain.merchants import SettlementPlan
from settlement.domain import payouts
from settlement.domain.payouts import PayoutRules, Position, TransferOutcome, Wait

T0, T15 = SettlementPlan.T0, SettlementPlan.T15
RUN = date(2026, 10, 8)
RULES = PayoutRules()
M = "mch_1"


def position(available: int, deposit: int = 0, plan: SettlementPlan = T15, **more: object) -> Position:
    return Position(M, available, deposit, plan, **more)  # type: ignore[arg-type]


def test_below_the_minimum_the_money_waits_and_at_the_minimum_it_is_paid() -> None:
    assert payouts.decide(position(9), RULES, RUN).wait is Wait.BELOW_MINIMUM
    assert payouts.decide(position(9), RULES, RUN).available_after == 9
    assert payouts.decide(position(10), RULES, RUN).parts == (10,)
    assert payouts.decide(position(0), RULES, RUN).wait is Wait.NOTHING_DUE


def test_above_max_transfer_a_payout_is_split_into_numbered_near_equal_parts() -> None:
    rules = PayoutRules(max_transfer=1_000)
    decision = payouts.decide(position(2_501), rules, RUN)
    assert decision.parts == (834, 834, 833)
    assert decision.amount == 2_501 and decision.available_after == 0
    assert [payouts.transfer_reference("po_01J", n) for n in (1, 2, 3)] == ["po_01J_001", "po_01J_002", "po_01J_003"]


@pytest.mark.parametrize(("payout_id", "part", "field"), [("po-1", 1, "payout_id"), ("p" * 57, 1, "payout_id"),
                                                          ("po_1", 0, "part"), ("po_1", 1_000, "part")])
def test_a_transfer_reference_refuses_what_alipay_would_not_take(payout_id: str, part: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        payouts.transfer_reference(payout_id, part)
    assert raised.value.violations[0].field == field


@given(amount=st.integers(1, 10**13), max_transfer=st.integers(20, 10**10))
@settings(deadline=None, database=None, derandomize=True)
def test_split_parts_sum_exactly_are_fewest_and_never_below_the_minimum(amount: int, max_transfer: int) -> None:
    if -(-amount // max_transfer) > payouts.MAX_PARTS:
        with pytest.raises(InvalidArgument):
            payouts.split(amount, max_transfer)
        return
    parts = payouts.split(amount, max_transfer)
    assert sum(parts) == amount
    assert all(0 < p <= max_transfer for p in parts)
    assert len(parts) == -(-amount // max_transfer)
    assert max(parts) - min(parts) <= 1
    if len(parts) > 1:
        assert min(parts) >= max_transfer // 2 >= 10


def test_a_negative_balance_is_taken_from_the_deposit_and_a_short_t0_deposit_drops_to_t15() -> None:
    decision = payouts.decide(position(-500, deposit=2_000_000, plan=T0), RULES, RUN)
    assert (decision.deposit_applied, decision.drop_to_t15, decision.wait) == (500, True, Wait.NOTHING_DUE)
    assert decision.available_after == 0 and decision.negative_since is None
    rich = payouts.decide(position(-500, deposit=2_000_500, plan=T0), RULES, RUN)
    assert (rich.deposit_applied, rich.drop_to_t15) == (500, False)
    t15 = payouts.decide(position(-500, deposit=300, plan=T15), RULES, RUN)
    assert (t15.deposit_applied, t15.drop_to_t15, t15.wait, t15.available_after) == (300, False, Wait.NEGATIVE, -200)


def test_without_a_deposit_a_negative_balance_is_carried_and_flagged_after_negative_days() -> None:
    first = payouts.decide(position(-500), RULES, RUN)
    assert (first.wait, first.negative_since, first.flag_negative) == (Wait.NEGATIVE, RUN, False)
    six = payouts.decide(position(-500, negative_since=RUN - timedelta(days=6)), RULES, RUN)
    assert not six.flag_negative and six.negative_since == RUN - timedelta(days=6)
    seven = payouts.decide(position(-500, negative_since=RUN - timedelta(days=7)), RULES, RUN)
    assert seven.flag_negative


def test_a_run_sends_at_most_max_parts_transfers_and_the_rest_waits() -> None:
    decision = payouts.decide(position(1_000 * 20 + 7), PayoutRules(max_transfer=20), RUN)
    assert decision.parts == (20,) * payouts.MAX_PARTS
    assert decision.available_after == 20 + 7


def test_a_parked_merchant_is_not_paid_until_an_operator_acts() -> None:
    decision = payouts.decide(position(5_000, parked=True), RULES, RUN)
    assert (decision.parts, decision.wait, decision.available_after) == ((), Wait.PARKED, 5_000)


def test_failed_runs_are_counted_until_the_payout_is_parked() -> None:
    failures = 0
    for run in range(1, 4):
        after = payouts.after_transfers([TransferOutcome.FAILED], failures, RULES)
        failures = after.failures
        assert (after.failures, after.park) == (run, run == 3)


def test_refusals_are_flagged_not_counted_unknowns_decide_nothing_and_success_resets() -> None:
    refused = payouts.after_transfers([TransferOutcome.SUCCEEDED, TransferOutcome.REFUSED_FOR_NOW], 2, RULES)
    assert (refused.failures, refused.park, refused.flag_refused) == (2, False, True)
    unknown = payouts.after_transfers([TransferOutcome.UNKNOWN, TransferOutcome.FAILED], 2, RULES)
    assert (unknown.failures, unknown.park, unknown.undecided) == (2, False, True)
    assert payouts.after_transfers([TransferOutcome.SUCCEEDED] * 2, 2, RULES).failures == 0
    with pytest.raises(InvalidArgument):
        payouts.after_transfers([], 0, RULES)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"min_transfer": 9}, "settlement.min_transfer"),
    ({"max_transfer": 19}, "settlement.max_transfer"),
    ({"max_transfer": 10_000_000_001}, "settlement.max_transfer"),
    ({"max_failures": 0}, "settlement.max_payout_failures"),
    ({"negative_days": 0}, "settlement.negative_days"),
    ({"deposit_required": -1}, "settlement.deposit_required"),
])
def test_rules_out_of_range_are_refused_naming_the_setting(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        PayoutRules(**kwargs)
    assert [v.field for v in raised.value.violations] == [field]


@given(available=st.integers(-10**9, 10**11), deposit=st.integers(0, 10**9), plan=st.sampled_from([T0, T15]),
       parked=st.booleans(), max_transfer=st.integers(20, 10**10))
@settings(deadline=None, database=None, derandomize=True)
def test_a_decision_never_pays_a_negative_balance_nor_more_than_is_available(
        available: int, deposit: int, plan: SettlementPlan, parked: bool, max_transfer: int) -> None:
    rules = PayoutRules(max_transfer=max_transfer)
    decision = payouts.decide(position(available, deposit, plan, parked=parked), rules, RUN)
    assert 0 <= decision.deposit_applied <= min(deposit, max(0, -available))
    assert decision.available_after == available + decision.deposit_applied - decision.amount
    if decision.parts:
        assert not parked and decision.amount >= rules.min_transfer and len(decision.parts) <= payouts.MAX_PARTS
        # Everything is paid, unless it takes more transfers than one run sends: the rest waits.
        assert decision.available_after == max(0, available - payouts.MAX_PARTS * max_transfer)
        assert all(rules.min_transfer <= p <= max_transfer for p in decision.parts)
    if available + deposit >= 0:
        assert decision.available_after >= 0  # the deposit covers a negative balance as far as it goes
    assert decision.wait is None if decision.parts else decision.wait is not None
