"""Ids' base32 encoding, made cheaper for issue 20 (two digits per step), gives the digits it always gave:
payment ids already stored must keep sorting and comparing with new ones."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.ids import _ALPHABET, _encode, new_payment_id, payment_id_floor


def _digit_by_digit(value: int, length: int) -> str:
    """The encoding as first written: `length` divisions by 32."""
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


@given(st.integers(-(2**140), 2**140), st.integers(1, 30))
def test_encode_gives_the_digits_the_division_gave(value: int, length: int) -> None:
    assert _encode(value, length) == _digit_by_digit(value, length)


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**80 - 1))
def test_ulid_parts_as_before(ms: int, randomness: int) -> None:
    assert _encode(ms, 10) + _encode(randomness, 16) == _digit_by_digit(ms, 10) + _digit_by_digit(randomness, 16)


def test_known_ids() -> None:
    at = datetime(2026, 11, 28, 0, 0, 0, 123000, tzinfo=UTC)
    assert payment_id_floor(at) == "pay_" + _digit_by_digit(int(at.timestamp() * 1000), 10) + "0" * 16
    assert new_payment_id(at)[:14] == payment_id_floor(at)[:14] and len(new_payment_id(at)) == 30
