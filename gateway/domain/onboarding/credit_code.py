"""The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters, the last one a check
character computed over the first 17.

The standard's alphabet is the digits and the capital letters without I, O, Z, S and V (31 characters, each
worth its position in the alphabet). Character i (0-based) of the first 17 weighs 3^i mod 31; the check
character is worth 31 - (weighted sum mod 31), where 31 stands for 0. Written from the standard: no library
on PyPI that we could find is maintained for this one rule.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(LENGTH - 1))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, ...


def check_character(first17: str) -> str:
    """The check character of the code whose first 17 characters are `first17` (all in ALPHABET)."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """What is wrong with `code` as a unified social credit code, in words for the applicant; None when it is
    well formed and its check character is right. Lower case is not accepted: the code is printed in capitals."""
    if len(code) != LENGTH:
        return f"must be {LENGTH} characters, not {len(code)}"
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        return f"may hold only digits and capital letters other than I, O, Z, S and V; found {shown}"
    expected = check_character(code[:-1])
    if code[-1] != expected:
        return f"wrong check character: {code[-1]!r} given, the first 17 characters give {expected!r}"
    return None
