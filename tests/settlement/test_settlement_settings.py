"""`[settlement]`'s fees, refund fee policy and cut-off as an operator writes them: every mistake refused naming
its key and line, and the start-up rule for channels without a rate (gateway/config.py's SettlementSettings)."""

from __future__ import annotations

import logging
from datetime import date, time
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings
from gateway.domain.merchants import SettlementPlan
from settlement.domain.calendar import DayCount
from settlement.domain.fees import RefundFeePolicy
from settlement.domain.payouts import PayoutRules


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


def test_the_runs_rules_and_calendar_come_from_the_section(tmp_path: Path) -> None:
    defaults = load(tmp_path, "").settlement
    assert defaults.payout_rules == PayoutRules(max_transfer=5_000_000, max_failures=3, negative_days=7,
                                                deposit_required=2_000_000)
    assert defaults.calendar().days is DayCount.CALENDAR
    holidays = tmp_path / "holidays-2027.txt"
    holidays.write_text("year 2027\n2027-01-01 holiday\n2027-02-06..2027-02-12 holiday\n2027-02-14 workday\n")
    settings = load(tmp_path, f'[settlement]\ndays = "working"\nholiday_file = "{holidays}"\n'
                              "max_payout_failures = 5\nmax_transfer = 100000\nnegative_days = 3\n").settlement
    assert settings.payout_rules == PayoutRules(max_transfer=100_000, max_failures=5, negative_days=3)
    calendar = settings.calendar()
    assert calendar.days is DayCount.WORKING
    # Money of Friday 5 February 2027 (Spring Festival from the 6th): T+0 on the 5th, T+15 counted past the break.
    assert calendar.available_on(date(2027, 2, 5), SettlementPlan.T0) == date(2027, 2, 5)
    assert calendar.working_days.is_working(date(2027, 2, 14)) and not calendar.working_days.is_working(
        date(2027, 2, 8))


@pytest.mark.parametrize(("body", "named"), [
    ('[settlement]\ndays = "business"\n', "line 2: settlement.days"),
    ("[settlement]\nmax_payout_failures = 0\n", "line 2: settlement.max_payout_failures"),
    ('[settlement]\nmax_payout_failures = "3"\n', "line 2: settlement.max_payout_failures"),
    ("[settlement]\nmax_transfer = 19\n", "line 2: settlement.max_transfer"),
    ("[settlement]\nmax_transfer = 10000000001\n", "line 2: settlement.max_transfer"),
    ("[settlement]\nmax_transfer = 5000.5\n", "line 2: settlement.max_transfer"),
    ("[settlement]\nnegative_days = 0\n", "line 2: settlement.negative_days"),
    ("[settlement]\nnegative_days = 367\n", "line 2: settlement.negative_days"),
    ('[settlement]\nholiday_file = "/nonexistent/holidays.txt"\n', "line 2: settlement.holiday_file"),
])
def test_each_run_setting_mistake_is_refused_naming_its_key(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, body)
    assert named in str(err.value)


def test_a_faulty_holiday_file_is_refused_at_start_up_naming_the_key_and_the_line(tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("year 2027\n2027-02-10 workday\n")  # a Wednesday is a working day already
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f'[settlement]\nholiday_file = "{holidays}"\n')
    assert "settlement.holiday_file" in str(err.value) and "line 2 2027-02-10 is a weekday" in str(err.value)
    holidays.write_bytes(b"year 2027\n" + b"#" * 17_000)
    with pytest.raises(ConfigError, match="larger than 16384 bytes"):
        load(tmp_path, f'[settlement]\nholiday_file = "{holidays}"\n')
