"""Amounts, times and identifiers as the sandbox writes and reads them."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST in China since 1991
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The charsets Alipay accepts (request ``charset``), by label, and the Python codec for each.
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk"}


def codec_of(label: str | None) -> str:
    """The codec for a ``charset`` label; UTF-8 when absent or unknown."""
    return CHARSETS.get((label or "utf-8").lower(), "utf-8")


MIN_FEN = 1
MAX_FEN = 100_000_000_00
_YUAN = re.compile(r"^(0|[1-9]\d*)(\.\d{1,2})?$")


class AmountError(ValueError):
    """A yuan amount that is malformed (``kind`` "format"), too small ("low") or too large ("high")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def beijing_now() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


def fmt_time(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT) if moment else ""


def parse_time(text: str, formats: tuple[str, ...] = (TIME_FORMAT,)) -> datetime:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    raise ValueError(f"bad time {text!r}")


def yuan_to_fen(value: Any, *, min_fen: int = MIN_FEN, max_fen: int = MAX_FEN) -> int:
    """Exact conversion of a yuan amount (string, or int/Decimal from JSON) to integer fen; never a float."""
    if isinstance(value, str):
        if not _YUAN.match(value):
            raise AmountError("format", "金额格式错误，应为最多两位小数的元")
        amount = Decimal(value)
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        amount = Decimal(value)
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
            raise AmountError("format", "金额格式错误，应为最多两位小数的元")
    else:
        raise AmountError("format", "金额格式错误，应为最多两位小数的元")
    fen = int(amount * 100)
    if fen < min_fen:
        raise AmountError("low", "金额小于最小值")
    if fen > max_fen:
        raise AmountError("high", "金额超过上限")
    return fen


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def new_trade_no(now: datetime) -> str:
    """28 digits like Alipay's: date, channel marker ``2200``, 16 random digits."""
    return now.strftime("%Y%m%d") + "2200" + "".join(secrets.choice("0123456789") for _ in range(16))


def new_digits(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix)))


def mask_logon_id(logon_id: str) -> str:
    """Alipay masks the buyer's login: ``abc***@example.com``, ``138****8000``."""
    if "@" in logon_id:
        name, _, domain = logon_id.partition("@")
        return f"{name[:3]}***@{domain}"
    if len(logon_id) >= 11:
        return f"{logon_id[:3]}****{logon_id[-4:]}"
    return f"{logon_id[:1]}***"


_DURATION = re.compile(r"^(\d+)([mhd])$")


def parse_timeout_express(text: str, now: datetime) -> datetime:
    """``90m``, ``2h``, ``15d`` (1 minute to 15 days) or ``1c`` (midnight today)."""
    if text == "1c":
        return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    count, unit = int(match.group(1)), match.group(2)
    minutes = count * {"m": 1, "h": 60, "d": 1440}[unit]
    if not 1 <= minutes <= 15 * 1440:
        raise ValueError(text)
    return now + timedelta(minutes=minutes)
