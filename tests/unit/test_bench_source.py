"""`python -m bench --source DIR` really runs the gateway's code from DIR. Before it existed, a comparison of
two commits through PYTHONPATH silently ran this checkout's code on both sides (the bench put this
checkout's root ahead of the caller's PYTHONPATH), so the comparison recorded noise as differences."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench import gateway as gw
from tests.support import ROOT


def test_the_gateway_code_comes_from_the_source_given(tmp_path: Path) -> None:
    other = tmp_path / "other-commit"
    for package in ("gateway", "channels"):
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", other)
    env = gw.gateway_env("sqlite:///unused.db", other)
    source = gw.gateway_source(env)
    assert source["path"] == str(other.resolve())
    assert source["commit"] is None  # a plain copy is no git checkout, and the record says so


def test_without_a_source_the_gateway_is_this_checkout() -> None:
    source = gw.gateway_source(gw.gateway_env("sqlite:///unused.db"))
    assert source["path"] == str(ROOT.resolve())
    assert source["commit"] and len(source["commit"]) == 40


def test_the_sources_own_entry_points_win_over_this_environments(tmp_path: Path) -> None:
    # An older checkout lacks plugins this environment's install registers; loading them would fail.
    other = tmp_path / "older-commit"
    other.mkdir()
    (other / "pyproject.toml").write_text(
        '[project]\nname = "unified-cashier"\n[project.entry-points."cashier.plugins"]\nonly_here = "x.y"\n')
    env = gw.gateway_env("sqlite:///unused.db", other)
    listed = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import entry_points; "
         "print(sorted(e.name for e in entry_points(group='cashier.plugins')))"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert listed == "['only_here']"
