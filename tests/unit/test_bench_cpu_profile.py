"""`python -m bench.cpu_profile`: a commit's calls profiled with a CPU clock, and two commits compared with the
machine's share (the library frames both run) taken out."""

from __future__ import annotations

from pathlib import Path

from bench.cpu_profile import Profile, compare, profile
from tests.support import ROOT


def _profile(name: str, shared: float, ours: dict[str, float]) -> Profile:
    functions = {"=grpc/_server.py:_call_behavior": (shared, shared, 1.0)}
    functions.update({key: (own, own, 1.0) for key, own in ours.items()})
    return Profile(Path(name), cpu=0.0, wall=0.0, functions=functions)


def test_a_slower_machine_is_not_taken_for_a_slower_change() -> None:
    before = _profile("before", shared=0.001, ours={"gateway/api/servicers.py:GetPayment": 0.0002})
    # The second run's machine was twice as slow: every frame took twice as long, ours unchanged in code.
    after = _profile("after", shared=0.002, ours={"gateway/api/servicers.py:GetPayment": 0.0004,
                                                   "gateway/api/convert.py:new": 0.00002})
    lines = compare(before, after)
    assert "scaled by 0.500" in lines[0]
    assert "200 → 210 µs per call (+10 µs" in lines[1]
    # The function that is really new leads; the one only slowed by the machine shows no change.
    assert lines[3].split()[0] == "+10.0" and lines[3].endswith("gateway/api/convert.py:new")
    assert lines[4].split()[0] == "+0.0"


def test_a_checkout_is_profiled_over_real_grpc() -> None:
    measured = profile(ROOT, "get", calls=30, database="sqlite")
    ours = measured.ours()
    own, calls = ours["gateway/api/servicers.py:CashierServicer.GetPayment"]
    assert calls == 1.0 and own > 0  # each profiled call went through the servicer once
    assert measured.shared() > 0 and measured.cpu > 0
