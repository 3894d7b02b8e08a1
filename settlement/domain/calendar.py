"""Settlement days, working days and the date a payment's money becomes available.

**Settlement day.** Days end at the daily cut-off (`[settlement] cutoff = "00:00"`) in China time
(Asia/Shanghai): settlement day D runs from the cut-off on D−1 up to, not including, the cut-off on D, where
a cut-off of 00:00 means the end of D (24:00), so that by default a settlement day is the calendar day.
With a cut-off of 22:00, a payment at 21:59:59 on 5 May belongs to 5 May and one at 22:00:00 to 6 May.

**Availability.** A payment's money becomes available in the run for date X (the run that may start once
X's cut-off has passed, `run_may_start`):
- calendar days (default): T+0 → X = D; T+15 → X = D + 15 days.
- working days (`[settlement] days = "working"`): T is the first working day on or after D (money taken on
  a holiday counts from the next working day, the usual reading of T+N in China), then T+0 → X = T and
  T+15 → X = the 15th working day after T.
The plan is the one in effect on D (`plan_in_effect`), never the one in effect on the run's date: a plan
change applies to money taken from its effective date on and never re-dates money taken before.

**Working days** come from the `chinese-calendar` library (the State Council's announced holidays and
make-up working days). Its data ends at some year; for a date past it nothing is guessed: `WorkingDays`
raises `WorkingDaysUnknown` naming the date and the year, unless an operator supplied that year's holidays
in a file (`parse_holiday_file`). For a year the library covers, the library is used.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]  # ships no type information

from gateway.domain.errors import CashierError, FailedPrecondition, FieldViolation, InvalidArgument
from gateway.domain.merchants import SettlementPlan

CHINA = ZoneInfo("Asia/Shanghai")
DEFAULT_CUTOFF = time(0, 0)
T15_DAYS = 15
# How far ahead any availability date may be computed: 15 working days never span more than ~40 calendar
# days even around Spring Festival; the bound stops a corrupt calendar from looping for ever.
MAX_SCAN_DAYS = 120
_CUTOFF = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class DayCount(enum.Enum):
    CALENDAR = "calendar"
    WORKING = "working"


class WorkingDaysUnknown(FailedPrecondition):
    """A working-day date falls in a year neither the library nor an operator's holiday file covers."""

    reason = "WORKING_DAYS_UNKNOWN"


def parse_cutoff(text: str) -> time:
    """`"HH:MM"` (24-hour, China time) → the cut-off; anything else is refused naming the setting."""
    match = _CUTOFF.fullmatch(text.strip()) if isinstance(text, str) and len(text) <= 16 else None
    if match is None:
        raise InvalidArgument([FieldViolation("settlement.cutoff", 'must be "HH:MM", 00:00 to 23:59 (China time)')])
    return time(int(match.group(1)), int(match.group(2)))


def _cutoff_delta(cutoff: time) -> timedelta:
    if cutoff.second or cutoff.microsecond or cutoff.tzinfo is not None:
        raise InvalidArgument([FieldViolation("settlement.cutoff", "whole minutes, China time, no time zone")])
    return timedelta(hours=cutoff.hour, minutes=cutoff.minute)


def settlement_day(at: datetime, cutoff: time = DEFAULT_CUTOFF) -> date:
    """The settlement day an instant belongs to (see the module)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidArgument([FieldViolation("at", "must carry a time zone (a naive time is ambiguous)")])
    delta = _cutoff_delta(cutoff)
    shifted = at.astimezone(CHINA) - delta
    return shifted.date() + timedelta(days=1) if delta else shifted.date()


def day_end(day: date, cutoff: time = DEFAULT_CUTOFF) -> datetime:
    """The instant settlement day `day` ends (exclusive): its cut-off, or 24:00 for a cut-off of 00:00."""
    delta = _cutoff_delta(cutoff)
    end_date = day if delta else day + timedelta(days=1)
    return datetime.combine(end_date, cutoff, tzinfo=CHINA)


def run_may_start(run_date: date, now: datetime, cutoff: time = DEFAULT_CUTOFF) -> bool:
    """The run for `run_date` releases that day's T+0 money, so it may start only once the day is over."""
    return now >= day_end(run_date, cutoff)


# --- operator-supplied holidays --------------------------------------------------------------------------

MAX_HOLIDAY_FILE_BYTES = 16 * 1024
MAX_HOLIDAY_LINES = 400
_LINE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?\s+(holiday|workday)")
_YEAR = re.compile(r"year\s+(\d{4})")


@dataclass(frozen=True, slots=True)
class HolidayYear:
    """One year's exceptions to "Monday to Friday work, weekends rest": weekdays off (`holidays`) and
    weekend days worked in lieu (`workdays`, 调休)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def parse_holiday_file(text: str) -> HolidayYear:
    """Parse an operator's holiday file for one year the library does not cover. The format:

        # Holidays of 2027, from the State Council's notice of <date>   (comments and blank lines ignored)
        year 2027                            first line that is not a comment: the one year the file covers
        2027-01-01 holiday                   one day off
        2027-02-06..2027-02-12 holiday       days off, both ends included
        2027-02-14 workday                   a weekend day worked in lieu (调休)

    Every date must fall in the declared year; a date may be named once; a `workday` must be a Saturday or
    Sunday (a weekday already is one). The file is at most 16 KiB and 400 lines. Any fault is refused naming
    the line, and nothing of the file is used."""
    if len(text.encode("utf-8", "replace")) > MAX_HOLIDAY_FILE_BYTES:
        raise _file_error(0, f"is larger than {MAX_HOLIDAY_FILE_BYTES} bytes")
    lines = text.splitlines()
    if len(lines) > MAX_HOLIDAY_LINES:
        raise _file_error(0, f"has more than {MAX_HOLIDAY_LINES} lines")
    year: int | None = None
    holidays: set[date] = set()
    workdays: set[date] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if year is None:
            match = _YEAR.fullmatch(line)
            if match is None:
                raise _file_error(number, "must say `year YYYY` before any date")
            year = int(match.group(1))
            if not 2000 <= year <= 2200:
                raise _file_error(number, f"year {year} is out of range")
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise _file_error(number, "must be `YYYY-MM-DD holiday`, `YYYY-MM-DD..YYYY-MM-DD holiday` or "
                                      "`YYYY-MM-DD workday`")
        try:
            first = date.fromisoformat(match.group(1))
            last = date.fromisoformat(match.group(2)) if match.group(2) else first
        except ValueError:
            raise _file_error(number, "names a date that does not exist") from None
        if first.year != year or last.year != year:
            raise _file_error(number, f"names a date outside the file's year {year}")
        if last < first:
            raise _file_error(number, "has a range that ends before it starts")
        kind = match.group(3)
        day = first
        while day <= last:
            if day in holidays or day in workdays:
                raise _file_error(number, f"names {day.isoformat()} a second time")
            if kind == "workday":
                if day.weekday() < 5:
                    raise _file_error(number, f"{day.isoformat()} is a weekday, already a working day")
                workdays.add(day)
            else:
                holidays.add(day)
            day += timedelta(days=1)
    if year is None:
        raise _file_error(0, "is empty: it must say `year YYYY`")
    return HolidayYear(year, frozenset(holidays), frozenset(workdays))


def _file_error(line: int, problem: str) -> InvalidArgument:
    where = f"line {line}" if line else "the file"
    return InvalidArgument([FieldViolation("settlement.holiday_file", f"{where} {problem}")])


@functools.cache  # the library's data is fixed for the life of the process
def library_years() -> tuple[int, int]:
    """The first and last year the installed `chinese-calendar` has data for."""
    known = chinese_calendar.constants.holidays
    return min(known).year, max(known).year


@dataclass(frozen=True, slots=True)
class WorkingDays:
    """Chinese working days: the library's data, then operator-supplied years, then a refusal."""

    operator_years: Mapping[int, HolidayYear] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for year, data in self.operator_years.items():
            if data.year != year:
                raise InvalidArgument([FieldViolation("settlement.holiday_file",
                                                      f"the file given for {year} covers {data.year}")])
        object.__setattr__(self, "operator_years", MappingProxyType(dict(self.operator_years)))

    @classmethod
    def with_files(cls, files: Iterable[HolidayYear]) -> WorkingDays:
        years: dict[int, HolidayYear] = {}
        for data in files:
            if data.year in years:
                raise InvalidArgument([FieldViolation("settlement.holiday_file",
                                                      f"two files cover the year {data.year}")])
            years[data.year] = data
        return cls(years)

    def is_working(self, day: date) -> bool:
        first, last = library_years()
        if first <= day.year <= last:
            return bool(chinese_calendar.is_workday(day))
        supplied = self.operator_years.get(day.year)
        if supplied is None:
            raise WorkingDaysUnknown(
                f"working days of {day.year} are unknown (needed for {day.isoformat()}): the chinese-calendar "
                f"library covers {first} to {last}; supply a holiday file for {day.year} or upgrade the library",
                metadata={"date": day.isoformat(), "year": str(day.year)})
        return supplied.is_working(day)


# --- plans and availability ------------------------------------------------------------------------------

class PlanChangeLike(Protocol):
    """What availability needs of a plan change; onboarding's stored plan changes have it."""

    @property
    def effective_on(self) -> date: ...

    @property
    def plan(self) -> SettlementPlan: ...


def plan_in_effect(history: Iterable[PlanChangeLike], day: date,
                   default: SettlementPlan = SettlementPlan.T15) -> SettlementPlan:
    """The plan for money taken on settlement day `day`: the latest change effective on or before it
    (ties: the one listed last, i.e. recorded last), else `default`. Changes effective later are ignored,
    which is what keeps a change from reaching back to money taken before it."""
    chosen: PlanChangeLike | None = None
    for change in history:
        if change.effective_on <= day and (chosen is None or change.effective_on >= chosen.effective_on):
            chosen = change
    return chosen.plan if chosen is not None else default


@dataclass(frozen=True, slots=True)
class Calendar:
    """How availability dates are counted: the cut-off, calendar or working days, and working-day data."""

    cutoff: time = DEFAULT_CUTOFF
    days: DayCount = DayCount.CALENDAR
    working_days: WorkingDays = field(default_factory=WorkingDays)

    def settlement_day(self, at: datetime) -> date:
        return settlement_day(at, self.cutoff)

    def available_on(self, day: date, plan: SettlementPlan) -> date:
        """The run date whose run makes money taken on settlement day `day` under `plan` available."""
        offset = 0 if plan is SettlementPlan.T0 else T15_DAYS
        if self.days is DayCount.CALENDAR:
            return day + timedelta(days=offset)
        current = self._next_working(day)  # T
        for _ in range(offset):
            current = self._next_working(current + timedelta(days=1))
        return current

    def available_on_for(self, history: Iterable[PlanChangeLike], day: date,
                         default: SettlementPlan = SettlementPlan.T15) -> date:
        return self.available_on(day, plan_in_effect(history, day, default))

    def last_day_due(self, run_date: date, plan: SettlementPlan) -> date:
        """The latest settlement day whose money under `plan` is available in the run for `run_date`: every
        day up to it is due, none after (`available_on` never decreases as the day grows), which lets the
        run select what is due with one comparison per plan. Calendar days: `run_date` for T+0, 15 days
        before it for T+15; working days: found by stepping back from there (N working days span at
        least N calendar days), at most MAX_SCAN_DAYS."""
        start = run_date - timedelta(days=0 if plan is SettlementPlan.T0 else T15_DAYS)
        for step in range(MAX_SCAN_DAYS):
            day = start - timedelta(days=step)
            if self.available_on(day, plan) <= run_date:
                return day
        raise CashierError(f"no settlement day within {MAX_SCAN_DAYS} days before {run_date.isoformat()} is due",
                           reason="CALENDAR_BROKEN", metadata={"date": run_date.isoformat()})

    def _next_working(self, day: date) -> date:
        for step in range(MAX_SCAN_DAYS):
            candidate = day + timedelta(days=step)
            if self.working_days.is_working(candidate):
                return candidate
        raise CashierError(f"no working day within {MAX_SCAN_DAYS} days of {day.isoformat()}",
                           reason="CALENDAR_BROKEN", metadata={"date": day.isoformat()})
