"""`[settlement]`'s fees, refund fee policy and cut-off as an operator writes them: every mistake refused naming
its key and line, and the start-up rule for channels without a rate (gateway/config.py's SettlementSettings)."""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from settlement.domain.fees import RefundFeePolicy


def load(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "cashier.toml"
    path.write_text(body)
    return load_settings(path, env={})


def test_a_full_section_is_read_into_the_schedule(tmp_path: Path) -> None:
    settings = load(tmp_path, '[settlement]\nrefund_fee = "kept"\ncutoff = "22:00"\n\n'
                              '[settlement.fees]\nmobile = 60\npc = 0\n').settlement
    assert settings.cutoff_time == time(22, 0) and settings.refund_policy is RefundFeePolicy.KEPT
    schedule = settings.fee_schedule(["mobile", "pc"])
    assert dict(schedule.rates) == {"mobile": 60, "pc": 0} and schedule.refund_policy is RefundFeePolicy.KEPT
    assert schedule.fee_for("mobile", 1_250) == (60, 8)


@pytest.mark.parametrize(("body", "named"), [
    ('[settlement.fees]\nmobile = "60"\n', "line 2: settlement.fees.mobile"),
    ("[settlement.fees]\nmobile = 0.6\n", "line 2: settlement.fees.mobile"),
    ("[settlement.fees]\nmobile = -1\n", "line 2: settlement.fees.mobile"),
    ("[settlement.fees]\nmobile = 10001\n", "line 2: settlement.fees.mobile"),
    ("[settlement.fees]\nmobile = true\n", "line 2: settlement.fees.mobile"),
    ('[settlement.fees]\n"mo bile" = 60\n', "settlement.fees: Value error, 'mo bile' is no channel name"),
    ('[settlement]\ncutoff = "24:00"\n', 'line 2: settlement.cutoff: Value error, must be "HH:MM"'),
    ('[settlement]\ncutoff = "9:00"\n', "line 2: settlement.cutoff"),
    ('[settlement]\nrefund_fee = "half"\n', "line 2: settlement.refund_fee"),
])
def test_each_mistake_is_refused_naming_its_key(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, body)
    assert named in str(err.value)


def test_a_fees_table_must_name_every_loaded_channel(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load(tmp_path, "[settlement.fees]\nmobile = 60\nretired = 10\n").settlement
    with pytest.raises(ConfigError, match=r"no rate for channel\(s\) pc, shared_link"):
        settings.fee_schedule(["mobile", "pc", "shared_link"])
    with caplog.at_level(logging.WARNING, logger="cashier.config"):
        assert dict(settings.fee_schedule(["mobile"]).rates) == {"mobile": 60, "retired": 10}
    assert "retired, which are not loaded" in caplog.text


def test_no_fees_table_charges_nothing_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load(tmp_path, "").settlement
    assert (settings.cutoff_time, settings.refund_policy) == (time(0, 0), RefundFeePolicy.PRO_RATA)
    with caplog.at_level(logging.WARNING, logger="cashier.config"):
        schedule = settings.fee_schedule(["mobile", "pc"])
    assert dict(schedule.rates) == {"mobile": 0, "pc": 0}
    assert "no [settlement.fees]" in caplog.text and "mobile, pc" in caplog.text
