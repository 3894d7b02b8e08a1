"""Time as Alipay writes it: Beijing time, whatever the machine's time zone is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from channels.alipay.rail.errors import AlipayConfigError

#: China has had no daylight saving since 1991, so a fixed +08:00 offset is Asia/Shanghai exactly and
#: needs no tz database on the host (slim containers often lack one).
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

#: What the client asks for "now"; it must return timezone-aware datetimes.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def beijing_timestamp(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, whatever the machine's time zone is."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive datetime is the machine's local time by convention: exactly the ambiguity we avoid.
        raise AlipayConfigError("the clock must return timezone-aware datetimes")
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
