"""`[recovery]` was `[reconcile]`: the old section is read for one release, with a warning naming the new one;
both at once are refused with a message naming both."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings


def test_the_old_section_is_read_as_the_new_one_with_a_warning(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text("[reconcile]\nevery_seconds = 5\npending_after_seconds = 7\n")
    with caplog.at_level(logging.WARNING, logger="cashier.config"):
        settings = load_settings(path, env={})
    assert (settings.recovery.every_seconds, settings.recovery.pending_after_seconds) == (5, 7)
    assert [r.getMessage() for r in caplog.records if r.name == "cashier.config"] == [
        "configuration: [reconcile] is deprecated and will be refused in the next release; "
        "rename it [recovery] (same keys)"]


def test_the_new_section_alone_warns_of_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text("[recovery]\nevery_seconds = 5\n")
    with caplog.at_level(logging.WARNING, logger="cashier.config"):
        assert load_settings(path, env={}).recovery.every_seconds == 5
    assert not [r for r in caplog.records if r.name == "cashier.config"]


def test_both_sections_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text("[reconcile]\nevery_seconds = 5\n\n[recovery]\nevery_seconds = 6\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, env={})
    assert str(refused.value) == (f"{path} is not valid:\n"
                                  "  Value error, [reconcile] is the old name of [recovery]: give [recovery] only")


def test_a_mistake_in_the_old_section_is_reported_under_the_new_name(tmp_path: Path) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text("[reconcile]\nevery_seconds = 0\n")
    with pytest.raises(ConfigError, match=r"recovery\.every_seconds: Input should be greater than 0"):
        load_settings(path, env={})
