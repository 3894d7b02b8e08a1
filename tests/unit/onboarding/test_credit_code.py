"""GB 32100-2015 check character, against codes issued to real enterprises and hand-made wrong variants."""

from __future__ import annotations

import pytest

from gateway.domain.onboarding.credit_code import ALPHABET, WEIGHTS, check_character, credit_code_problem

# Published codes of registered enterprises (their licences show them).
VALID = ["91350100M000100Y43", "91110000600037341L"]


def test_the_weights_are_the_standards() -> None:
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(ALPHABET) == 31 and not set("IOZSV") & set(ALPHABET)


@pytest.mark.parametrize("code", VALID)
def test_known_codes_pass(code: str) -> None:
    assert credit_code_problem(code) is None
    assert check_character(code[:17]) == code[17]


@pytest.mark.parametrize("code", VALID)
def test_every_other_check_character_is_named_wrong(code: str) -> None:
    for ch in ALPHABET:
        if ch == code[-1]:
            continue
        problem = credit_code_problem(code[:17] + ch)
        assert problem is not None and "wrong check character" in problem and repr(code[-1]) in problem


def test_a_changed_body_character_is_caught() -> None:
    assert "wrong check character" in (credit_code_problem("91350100M000100Y53") or "")  # one digit changed
    assert "wrong check character" in (credit_code_problem("91350100M000010Y43") or "")  # two swapped


def test_a_check_value_of_31_becomes_0() -> None:
    # Find a body whose weighted sum is ≡ 0 (mod 31): its check character must be '0', not out of range.
    body = "9135010000000000"
    for ch in ALPHABET:
        if check_character(body + ch) == "0":
            assert credit_code_problem(body + ch + "0") is None
            return
    raise AssertionError("no body with check character 0 found")


@pytest.mark.parametrize(("code", "words"), [
    ("91350100M000100Y4", "18 characters"),
    ("91350100M000100Y433", "18 characters"),
    ("91350100m000100Y43", "'m'"),
    ("91350100M000I00Y43", "'I'"),
    ("91350100M000100S43", "'S'"),
    ("", "18 characters"),
])
def test_malformed_codes_say_why(code: str, words: str) -> None:
    assert words in (credit_code_problem(code) or "")
