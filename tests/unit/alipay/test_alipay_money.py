"""Yuan/fen conversion is exact and refuses anything ambiguous."""

from __future__ import annotations

from decimal import Decimal

import pytest

from channels.alipay.rail import AmountError, check_amount_limits, fen_to_yuan, yuan_to_fen
from channels.alipay.rail.money import MAX_AMOUNT_FEN, signed_yuan_to_fen


@pytest.mark.parametrize(
    ("fen", "yuan"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (1234, "12.34"),
        (MAX_AMOUNT_FEN, "100000000.00"),
        (10**17 + 7, "1000000000000000.07"),
    ],
)
def test_round_trip(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(("text", "fen"), [("12", 1200), ("12.3", 1230), ("0.1", 10), ("0", 0)])
def test_short_forms_parse_exactly(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


def test_every_cent_in_a_range_round_trips_without_float_drift() -> None:
    for fen in range(0, 100_000, 7):
        assert yuan_to_fen(fen_to_yuan(fen)) == fen
        assert Decimal(fen_to_yuan(fen)) * 100 == fen


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1.00",
        "1.00 ",
        "1.001",
        "-1.00",
        "+1.00",
        "1e3",
        "1E2",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1,000.00",
        "01.00",
        ".5",
        "5.",
        "１.００",
        "1.00\n",
        "0x10",
        "1_000",
        "12.3.4",
    ],
)
def test_garbage_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(AmountError, match="^total_amount: ") as info:
        yuan_to_fen(text, field="total_amount")
    assert info.value.field == "total_amount"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [12.34, Decimal("12.34"), None, True, 1.0])
def test_non_integer_fen_and_non_string_yuan_are_refused(value) -> None:
    with pytest.raises(AmountError, match="refund_amount"):
        fen_to_yuan(value, field="refund_amount")
    with pytest.raises(AmountError, match="refund_amount"):
        check_amount_limits(value, field="refund_amount")
    if not isinstance(value, str):
        with pytest.raises(AmountError):
            yuan_to_fen(value)  # type: ignore[arg-type]


def test_negative_fen_is_refused() -> None:
    with pytest.raises(AmountError, match="negative"):
        fen_to_yuan(-1)


def test_limits() -> None:
    assert check_amount_limits(1) == 1
    assert check_amount_limits(MAX_AMOUNT_FEN) == MAX_AMOUNT_FEN
    with pytest.raises(AmountError, match="total_amount: must be at least 0.01"):
        check_amount_limits(0, field="total_amount")
    with pytest.raises(AmountError, match="at most 100000000.00"):
        check_amount_limits(MAX_AMOUNT_FEN + 1)


def test_signed_amounts_for_bills() -> None:
    assert signed_yuan_to_fen("-12.30") == -1230
    assert signed_yuan_to_fen("0.00") == 0
    with pytest.raises(AmountError):
        signed_yuan_to_fen("--1")


def test_error_message_for_huge_garbage_is_short() -> None:
    with pytest.raises(AmountError) as info:
        yuan_to_fen("9" * 5000)
    assert len(str(info.value)) < 120
