"""The reconciliation rules (settlement/domain/reconciliation.py) in memory: every line lands in exactly one
bucket, bucket totals add up to the statement's, a shuffled statement gives the same report, fees are checked
in exact fen, the day boundary is EXPECTED, and the suspense entry's direction follows the sign convention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.domain import accounts, ledger
from settlement.domain import reconciliation as rec
from settlement.domain.reconciliation import Bucket, Line, Movement, Neighbour, Rules

DAY = date(2026, 10, 8)
RULES = Rules(DAY, rec.TRADES, timedelta(minutes=15), fee_bps=60)
START = RULES.start.astimezone(UTC)

times = st.integers(min_value=-3600, max_value=25 * 3600).map(lambda s: START + timedelta(seconds=s))
refs = st.sampled_from(["", "pay_1", "pay_2", "pay_3", "ref_1", "po_1_001"])
kinds = st.sampled_from([rec.PAYMENT, rec.REFUND, rec.OTHER])
lines = st.lists(st.builds(Line, kinds, refs, st.text("0123456789", max_size=4), st.integers(-10**6, 10**6),
                           st.integers(0, 10**4), times), max_size=30)
movements = st.lists(st.builds(Movement, st.sampled_from([rec.PAYMENT, rec.REFUND]), refs.filter(bool),
                               st.just("shop"), st.integers(-10**6, 10**6), times), max_size=20,
                     unique_by=lambda m: (m.kind, m.reference))


@settings(max_examples=150, deadline=None)
@given(lines, movements, st.randoms(use_true_random=False))
def test_every_line_lands_once_totals_add_up_and_order_does_not_matter(
        statement: list[Line], ours: list[Movement], random: object) -> None:
    items = rec.classify(statement, ours, RULES)
    with_line = [i for i in items if i.theirs is not None]
    assert len(with_line) == len(statement)  # exactly one bucket per line
    report = rec.report_of(items, RULES, "alipay")
    assert sum(t.theirs for t in report.totals.values()) == sum(x.amount for x in statement) == report.statement_total
    assert sum(t.count for t in report.totals.values()) == len(items)
    placed = [(i.kind, i.reference) for i in items if i.ours is not None]
    assert len(placed) == len(set(placed))  # each movement of ours placed at most once
    assert report.unexplained == sum((i.ours or 0) - (i.theirs or 0) for i in items
                                     if i.bucket in rec.UNEXPLAINED and i.kind != rec.OTHER)  # OTHER: the account bill's
    # A line billed twice matches in the statement's order (the second is MISSING_OURS): the shuffle keeps one
    # line per reference, where order cannot matter.
    once = list({(x.kind, x.reference or str(n)): x for n, x in enumerate(statement)}.values())
    report = rec.report_of(rec.classify(once, ours, RULES), RULES, "alipay")
    shuffled = list(once)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    again = rec.report_of(rec.classify(shuffled, ours, RULES), RULES, "alipay")
    assert again.totals == report.totals and again.unexplained == report.unexplained


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def test_planted_differences_each_in_its_bucket() -> None:
    statement = [Line(rec.PAYMENT, "pay_a", "t1", 1_000, 6, at(2)), Line(rec.PAYMENT, "pay_c", "t3", 3_001, 18, at(2)),
                 Line(rec.PAYMENT, "pay_d", "t4", 5_000, 40, at(2)), Line(rec.PAYMENT, "pay_x", "t9", 700, 4, at(2)),
                 Line(rec.PAYMENT, "pay_a", "t1", 1_000, 6, at(3)),  # billed twice
                 Line(rec.OTHER, "", "f1", 50_000, 0, at(4))]
    ours = [Movement(rec.PAYMENT, p, "shop", a, at(2)) for p, a in
            (("pay_a", 1_000), ("pay_b", 2_000), ("pay_c", 3_000), ("pay_d", 5_000))]
    found = {(i.bucket, i.reference, i.rank) for i in rec.classify(statement, ours, RULES)}
    assert found == {(Bucket.MATCHED, "pay_a", 1), (Bucket.MISSING_OURS, "pay_a", 2), (Bucket.MISSING_THEIRS, "pay_b", 1),
                     (Bucket.AMOUNT_DIFFERENCE, "pay_c", 1), (Bucket.FEE_DIFFERENCE, "pay_d", 1),
                     (Bucket.MISSING_OURS, "pay_x", 1), (Bucket.OTHER, "", 1)}


def test_fees_are_checked_in_exact_fen_round_half_up() -> None:
    assert rec.expected_fee(250, 60) == 2  # 1.5 fen rounds up
    assert rec.expected_fee(249, 60) == 1  # 1.494
    assert rec.expected_fee(-250, 60) == 2
    assert Rules(DAY, rec.TRADES).contracted_fee(rec.PAYMENT, 250) is None  # no rate configured: not checked
    assert Rules(DAY, rec.ACCOUNT, fee_bps=60).contracted_fee(rec.PAYMENT, 250) is None


def test_the_day_boundary_is_expected_until_the_neighbour_says_otherwise() -> None:
    last_second = at(24) - timedelta(seconds=1)
    ours = [Movement(rec.PAYMENT, "pay_e", "shop", 800, last_second)]
    assert [i.bucket for i in rec.classify([], ours, RULES)] == [Bucket.EXPECTED]
    billed_next = Neighbour(reconciled=True, billed=frozenset({(rec.PAYMENT, "pay_e")}))
    assert [i.bucket for i in rec.classify([], ours, RULES, after=billed_next)] == [Bucket.EXPECTED]
    assert [i.bucket for i in rec.classify([], ours, RULES, after=Neighbour(reconciled=True))] == [Bucket.MISSING_THEIRS]
    # The next day's statement sees it at 00:00:01: EXPECTED; the day before's waiting item it does not see: missing.
    next_day = Rules(DAY + timedelta(days=1), rec.TRADES)
    line = Line(rec.PAYMENT, "pay_e", "t", 800, 0, last_second + timedelta(seconds=2))
    assert [i.bucket for i in rec.classify([line], ours, next_day)] == [Bucket.EXPECTED]
    waiting = Neighbour(reconciled=True, waiting=frozenset({(rec.PAYMENT, "pay_e")}))
    assert [i.bucket for i in rec.classify([], ours, next_day, before=waiting)] == [Bucket.MISSING_THEIRS]
    assert rec.classify([], ours, next_day) == []  # the day before's business


def test_suspense_direction_follows_the_sign_convention() -> None:
    expected_more = ledger.reconciliation_difference("rcn:1:1:PAYMENT:1:pay_b", 2_000, "shop")
    assert expected_more.amount_on(accounts.SUSPENSE) == 2_000  # debit: suspense reads +2,000
    assert expected_more.amount_on(accounts.CHANNEL_CLEARING) == -2_000
    rail_shows_more = ledger.reconciliation_difference("rcn:1:1:PAYMENT:1:pay_x", -700)
    assert accounts.SUSPENSE.balance(rail_shows_more.amount_on(accounts.SUSPENSE)) == -700
    assert rail_shows_more.amount_on(accounts.CHANNEL_CLEARING) == 700


def test_only_one_statement_books_each_kind_in_suspense() -> None:
    missing = rec.Item(Bucket.MISSING_THEIRS, rec.PAYMENT, "pay_b", ours=2_000)
    assert (missing.unexplained(rec.TRADES), missing.unexplained(rec.ACCOUNT)) == (2_000, 0)
    # A verification transfer is booked when the rail says it was sent: one no bill shows is unexplained too.
    unbilled = rec.Item(Bucket.MISSING_THEIRS, rec.TRANSFER, "ver_1", ours=-37)
    assert (unbilled.unexplained(rec.TRADES), unbilled.unexplained(rec.ACCOUNT)) == (0, -37)


def test_the_account_bill_matches_refunds_and_fees_per_payment_and_the_trade_bill_per_refund() -> None:
    assert rec.line_reference(rec.ACCOUNT, rec.REFUND, "", "pay_a") == "pay_a"  # Alipay names only the trade
    assert rec.line_reference(rec.TRADES, rec.REFUND, "", "pay_a") == ""
    assert rec.line_reference(rec.ACCOUNT, rec.REFUND, "ref_1", "pay_a") == "ref_1"
    statement = [Line(rec.PAYMENT, "pay_a", "t1", 2_000, 0, at(2)), Line(rec.FEE, "pay_a", "f1", -12, 0, at(2)),
                 Line(rec.REFUND, "pay_a", "f2", -500, 0, at(3)), Line(rec.FEE, "pay_a", "f3", 3, 0, at(3)),
                 Line(rec.REFUND, "pay_a", "f4", -100, 0, at(4)), Line(rec.FEE, "pay_a", "f5", 1, 0, at(4)),
                 Line(rec.REFUND, "", "f6", -7, 0, at(5)), Line(rec.REFUND, "", "f7", -8, 0, at(5))]
    assert rec.collapse(statement, rec.TRADES) == statement
    assert rec.collapse(statement, rec.ACCOUNT) == [
        statement[0], Line(rec.FEE, "pay_a", "f1", -8, 0, at(2)), Line(rec.REFUND, "pay_a", "f2", -600, 0, at(3)),
        statement[6], statement[7]]  # lines with no reference are never summed: nothing says they belong together
    ours = [Movement(rec.PAYMENT, "pay_a", "shop", 2_000, at(2)), Movement(rec.FEE, "pay_a", "shop", -8, at(2)),
            Movement(rec.REFUND, "pay_a", "shop", -600, at(3))]
    rules = Rules(DAY, rec.ACCOUNT)
    found = sorted((i.bucket.value, i.kind, i.reference) for i in rec.classify(statement, ours, rules))
    assert found == [("MATCHED", rec.FEE, "pay_a"), ("MATCHED", rec.PAYMENT, "pay_a"), ("MATCHED", rec.REFUND, "pay_a"),
                     ("MISSING_OURS", rec.REFUND, ""), ("MISSING_OURS", rec.REFUND, "")]
