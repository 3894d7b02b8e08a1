"""Settlement days and availability dates: the cut-off, T+0 and T+15 across a month boundary and Chinese
public holidays (2026's Spring Festival and National Day, from the chinese-calendar library), a refusal to
guess past the library's data unless an operator's holiday file covers the year, and plan changes that
never reach back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import InvalidArgument
from gateway.domain.merchants import SettlementPlan
from settlement.domain import calendar
from settlement.domain.calendar import Calendar, DayCount, WorkingDays, WorkingDaysUnknown

T0, T15 = SettlementPlan.T0, SettlementPlan.T15
UTC = timezone.utc
CALENDAR_DAYS = Calendar()
WORKING_DAYS = Calendar(days=DayCount.WORKING)
HOLIDAYS_2027 = """\
# Holidays of 2027 as an operator would copy them from the State Council's notice (test data).
year 2027
2027-01-01 holiday
2027-02-08..2027-02-12 holiday   # Spring Festival
2027-02-06 workday               # a Saturday worked in lieu
"""


@dataclass(frozen=True)
class Change:
    effective_on: date
    plan: SettlementPlan


def test_the_default_settlement_day_is_the_calendar_day_in_china() -> None:
    assert calendar.settlement_day(datetime(2026, 5, 31, 15, 59, 59, tzinfo=UTC)) == date(2026, 5, 31)
    assert calendar.settlement_day(datetime(2026, 5, 31, 16, 0, 0, tzinfo=UTC)) == date(2026, 6, 1)
    assert calendar.day_end(date(2026, 5, 31)) == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)


def test_a_later_cutoff_moves_what_comes_after_it_to_the_next_day() -> None:
    cutoff = calendar.parse_cutoff("22:00")
    assert calendar.settlement_day(datetime(2026, 5, 5, 13, 59, 59, tzinfo=UTC), cutoff) == date(2026, 5, 5)
    assert calendar.settlement_day(datetime(2026, 5, 5, 14, 0, 0, tzinfo=UTC), cutoff) == date(2026, 5, 6)
    assert calendar.day_end(date(2026, 5, 5), cutoff) == datetime(2026, 5, 5, 14, 0, tzinfo=UTC)


@given(at=st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
       cutoff=st.times().map(lambda t: t.replace(second=0, microsecond=0)))
@settings(deadline=None, database=None, derandomize=True)
def test_an_instant_lies_inside_its_settlement_day(at: datetime, cutoff: time) -> None:
    day = calendar.settlement_day(at, cutoff)
    assert calendar.day_end(day - timedelta(days=1), cutoff) <= at < calendar.day_end(day, cutoff)


def test_a_naive_time_and_a_malformed_cutoff_are_refused() -> None:
    with pytest.raises(InvalidArgument) as raised:
        calendar.settlement_day(datetime(2026, 5, 5, 12, 0))
    assert raised.value.violations[0].field == "at"
    for text in ["24:00", "7:00", "07:00:00", "noon", ""]:
        with pytest.raises(InvalidArgument) as raised:
            calendar.parse_cutoff(text)
        assert raised.value.violations[0].field == "settlement.cutoff"


def test_calendar_days_across_a_month_boundary() -> None:
    assert CALENDAR_DAYS.available_on(date(2026, 1, 20), T15) == date(2026, 2, 4)
    assert CALENDAR_DAYS.available_on(date(2026, 1, 31), T0) == date(2026, 1, 31)
    assert CALENDAR_DAYS.available_on(date(2026, 12, 31), T15) == date(2027, 1, 15)


def test_t0_money_waits_for_the_end_of_its_day() -> None:
    day = date(2026, 1, 31)
    assert not calendar.run_may_start(day, datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC))
    assert calendar.run_may_start(day, datetime(2026, 1, 31, 16, 0, tzinfo=UTC))


def test_working_days_skip_national_day_and_count_its_make_up_saturday() -> None:
    # 2026-10-01..07 off; Saturday 2026-10-10 is worked in lieu.
    assert WORKING_DAYS.available_on(date(2026, 9, 30), T0) == date(2026, 9, 30)
    assert WORKING_DAYS.available_on(date(2026, 10, 1), T0) == date(2026, 10, 8)
    assert WORKING_DAYS.available_on(date(2026, 10, 3), T15) == date(2026, 10, 28)
    assert WORKING_DAYS.available_on(date(2026, 9, 30), T15) == date(2026, 10, 27)


def test_working_days_across_spring_festival_and_a_month_boundary() -> None:
    # 2026-02-15..23 off; Saturdays 2026-02-14 and 2026-02-28 are worked.
    assert WORKING_DAYS.available_on(date(2026, 2, 14), T0) == date(2026, 2, 14)
    assert WORKING_DAYS.available_on(date(2026, 2, 15), T0) == date(2026, 2, 24)
    assert WORKING_DAYS.available_on(date(2026, 2, 13), T15) == date(2026, 3, 12)
    assert CALENDAR_DAYS.available_on(date(2026, 2, 13), T15) == date(2026, 2, 28)


def test_past_the_librarys_data_working_days_are_refused_naming_the_date_and_year() -> None:
    first, last = calendar.library_years()
    assert last == 2026  # the pinned chinese-calendar covers 2026; update this test when it grows
    with pytest.raises(WorkingDaysUnknown) as raised:
        WORKING_DAYS.available_on(date(2026, 12, 20), T15)
    assert raised.value.metadata == {"date": "2027-01-01", "year": "2027"}
    assert "supply a holiday file for 2027" in raised.value.message
    # Calendar days need no holiday data at all.
    assert CALENDAR_DAYS.available_on(date(2026, 12, 20), T15) == date(2027, 1, 4)


def test_an_operators_holiday_file_covers_the_missing_year() -> None:
    supplied = Calendar(days=DayCount.WORKING, working_days=WorkingDays.with_files(
        [calendar.parse_holiday_file(HOLIDAYS_2027)]))
    assert supplied.available_on(date(2027, 1, 1), T0) == date(2027, 1, 4)
    assert supplied.available_on(date(2027, 2, 6), T0) == date(2027, 2, 6)  # the Saturday worked in lieu
    assert supplied.available_on(date(2027, 2, 7), T0) == date(2027, 2, 15)  # Sunday, then five days off
    # From Thursday 2026-12-31, fifteen working days of 2027 (1 Jan is a holiday).
    assert supplied.available_on(date(2026, 12, 31), T15) == date(2027, 1, 22)


def test_the_library_wins_for_a_year_it_covers() -> None:
    everything_off = "year 2026\n2026-10-08..2026-10-09 holiday\n"
    working = WorkingDays.with_files([calendar.parse_holiday_file(everything_off)])
    assert working.is_working(date(2026, 10, 8))


@pytest.mark.parametrize(("text", "words"), [
    ("", "the file is empty"),
    ("2027-01-01 holiday\n", "line 1 must say `year YYYY`"),
    ("year 2027\n2026-12-31 holiday\n", "line 2 names a date outside the file's year 2027"),
    ("year 2027\n2027-02-30 holiday\n", "line 2 names a date that does not exist"),
    ("year 2027\n2027-01-01 holiday\n\n2027-01-01 holiday\n", "line 4 names 2027-01-01 a second time"),
    ("year 2027\n2027-01-04 workday\n", "line 2 2027-01-04 is a weekday"),
    ("year 2027\n2027-01-09..2027-01-02 holiday\n", "line 2 has a range that ends before it starts"),
    ("year 2027\nholiday 2027-01-01\n", "line 2 must be `YYYY-MM-DD holiday`"),
    ("year 1999\n", "year 1999 is out of range"),
    ("year 2027\n" + "# padding\n" * 400, "more than 400 lines"),
    ("year 2027\n#" + "x" * 17_000, "larger than 16384 bytes"),
])
def test_a_bad_holiday_file_is_refused_naming_the_line(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        calendar.parse_holiday_file(text)
    assert raised.value.violations[0].field == "settlement.holiday_file"
    assert words in raised.value.violations[0].description


def test_two_files_for_one_year_are_refused() -> None:
    data = calendar.parse_holiday_file(HOLIDAYS_2027)
    with pytest.raises(InvalidArgument, match="two files cover the year 2027"):
        WorkingDays.with_files([data, data])


def test_a_plan_change_applies_from_its_effective_date_and_never_before() -> None:
    history = [Change(date(2026, 3, 10), T0), Change(date(2026, 3, 20), T15)]
    assert CALENDAR_DAYS.available_on_for(history, date(2026, 3, 9)) == date(2026, 3, 24)  # still T+15
    assert CALENDAR_DAYS.available_on_for(history, date(2026, 3, 10)) == date(2026, 3, 10)  # T+0 from its day
    assert CALENDAR_DAYS.available_on_for(history, date(2026, 3, 19)) == date(2026, 3, 19)
    assert CALENDAR_DAYS.available_on_for(history, date(2026, 3, 20)) == date(2026, 4, 4)  # back to T+15
    assert calendar.plan_in_effect([], date(2026, 3, 9)) is T15


changes = st.lists(st.builds(Change, st.dates(date(2026, 1, 1), date(2026, 12, 31)), st.sampled_from([T0, T15])),
                   max_size=8)


@given(history=changes, later=changes, day=st.dates(date(2026, 1, 1), date(2026, 12, 31)))
@settings(deadline=None, database=None, derandomize=True)
def test_changes_recorded_later_and_effective_later_never_move_an_earlier_days_date(
        history: list[Change], later: list[Change], day: date) -> None:
    before = CALENDAR_DAYS.available_on_for(history, day)
    future = [Change(max(c.effective_on, day + timedelta(days=1)), c.plan) for c in later]
    assert CALENDAR_DAYS.available_on_for([*history, *future], day) == before
    assert CALENDAR_DAYS.available_on_for(history, day) >= day
