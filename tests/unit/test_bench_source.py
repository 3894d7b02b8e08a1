"""`python -m bench --source DIR` really runs the gateway's code from DIR. Before it existed, a comparison of
two commits through PYTHONPATH silently ran this checkout's code on both sides (the bench put this
checkout's root ahead of the caller's PYTHONPATH), so the comparison recorded noise as differences."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import gateway as gw
from tests.support import ROOT


def test_the_gateway_code_comes_from_the_source_given(tmp_path: Path) -> None:
    other = tmp_path / "other-commit"
    for package in ("gateway", "channels"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = gw.gateway_env("sqlite:///unused.db", other)
    source = gw.gateway_source(env)
    assert source["path"] == str(other.resolve())
    assert source["commit"] is None  # a plain copy is no git checkout, and the record says so


def test_without_a_source_the_gateway_is_this_checkout() -> None:
    source = gw.gateway_source(gw.gateway_env("sqlite:///unused.db"))
    assert source["path"] == str(ROOT.resolve())
    assert source["commit"] and len(source["commit"]) == 40
