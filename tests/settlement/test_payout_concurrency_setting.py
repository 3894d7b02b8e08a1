"""`[settlement] payout_concurrency`: 4 by default, read into the run's PayoutRules, and refused by name outside
1 to 32 (gateway/config.py's SettlementSettings, settlement/domain/payouts.py's PayoutRules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, Settings, load_settings
from gateway.domain.errors import InvalidArgument
from settlement.domain.payouts import PayoutRules


def load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "cashier.toml"
    path.write_text(body)
    return load_settings(path, env={})


def test_the_default_is_four_and_the_setting_reaches_the_runs_rules(tmp_path: Path) -> None:
    assert load(tmp_path, "").settlement.payout_rules.payout_concurrency == 4
    assert PayoutRules().payout_concurrency == 4
    for value in (1, 32):
        rules = load(tmp_path, f"[settlement]\npayout_concurrency = {value}\n").settlement.payout_rules
        assert rules.payout_concurrency == value


@pytest.mark.parametrize("value", ["0", "33", "-1", '"4"', "2.5", "true"])
def test_a_bad_value_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"[settlement]\npayout_concurrency = {value}\n")
    assert "line 2: settlement.payout_concurrency" in str(err.value)


@pytest.mark.parametrize("value", [0, 33, True])
def test_the_rules_refuse_it_too(value: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        PayoutRules(payout_concurrency=value)
    assert [v.field for v in err.value.violations] == ["settlement.payout_concurrency"]
