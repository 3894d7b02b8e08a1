"""Configuration: TOML in, typed settings out, every mistake named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.bootstrap import allowed_channels, rules_from
from gateway.config import ConfigError, load_settings
from gateway.domain.payments import Platform


def test_rules_and_channel_tables_are_read(tmp_path: Path) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text("""
[server]
workers = 2
[channels.mobile.min_native_version]
ios = "8.1"
[[routing.rules]]
name = "old-ios"
platforms = ["ios_app"]
app_version = "<8.1"
deny = ["mobile"]
""")
    settings = load_settings(path, env={"CASHIER_DATABASE_URL": "sqlite:///x.db"})
    assert settings.server.workers == 2
    assert settings.database.url == "sqlite:///x.db"
    assert settings.channels["mobile"] == {"min_native_version": {"ios": "8.1"}}
    (rule,) = rules_from(settings)
    assert rule.platforms == frozenset({Platform.IOS_APP}) and rule.deny == frozenset({"mobile"})


def test_every_mistake_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text('[server]\ngrpc = "nowhere"\nthreads = 0\n[auth]\nnonsense = 1\n'
                    '[[routing.rules]]\nname = "r"\nplatforms = ["fax"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    for key in ("server.grpc", "server.threads", "auth.nonsense", "routing.rules.0.platforms.0"):
        assert key in message


def test_missing_file_and_allow_list() -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings("/nonexistent/cashier.toml", env={})
    assert allowed_channels({}) is None
    assert allowed_channels({"CASHIER_LOAD_CHANNELS": "mobile, pc"}) == {"mobile", "pc"}


def test_problems_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "cashier.toml"
    path.write_text('# routing\n[server]\nworkers = 2\n\n[[routing.rules]]\nname = "a"\npin = "x"\n\n'
                    '[[routing.rules]]\nname = "b"\nplatforms = ["fax"]\napp_version = "<<8"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    message = str(err.value)
    assert "line 11: routing.rules.1.platforms.0" in message
    assert "line 12: routing.rules.1.app_version" in message and "'<<8' is not a version range" in message
