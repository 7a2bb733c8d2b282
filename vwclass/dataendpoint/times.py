"""Parses the data API's absolute and relative times, and formats timestamps as the API prints them.

The real API hands `start`/`end` to InfluxDB's Flux `range()`, so the accepted forms are Flux's:
relative durations (`-1h`, `-30m`, `-2d`, `-1h30m`, `-1mo`, `-500ms`; units ns us ms s m h d w mo y),
RFC3339 times (`2021-05-01T10:30:00Z`, fractions up to nanoseconds, `Z` or `+hh:mm`), bare dates
(`2021-05-01`, midnight UTC) and integers (Unix seconds).
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

NS = 1_000_000_000
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

_DURATION = re.compile(r"^[+-]?(?:\d+(?:mo|ms|us|ns|y|w|d|h|m|s))+$")
# Longer unit names first so `mo`/`ms` are not read as `m`.
_DURATION_PART = re.compile(r"(\d+)(mo|ms|us|ns|y|w|d|h|m|s)")
_FIXED_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
    "d": 86400 * NS,
    "w": 7 * 86400 * NS,
}
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}))?$"
)
_UNIX_SECONDS = re.compile(r"^-?\d{1,12}$")


class TimeError(ValueError):
    """The text is none of the time forms the data API accepts."""


def parse_time(text: str, now_ns: int) -> int:
    """Nanoseconds since the epoch for an absolute or relative (to `now_ns`) time."""
    text = text.strip()
    if _DURATION.match(text):
        return _clamp(_add_duration(now_ns, text))
    if _UNIX_SECONDS.match(text):
        return _clamp(int(text) * NS)
    match = _RFC3339.match(text)
    if match:
        return _clamp(_absolute(match))
    raise TimeError(
        f"{text!r} is not a time: use RFC3339 like 2021-05-01T10:30:00Z or a relative time like -1h, -30m or -2d"
    )


def format_timestamp(ns: int) -> str:
    """RFC3339 in UTC with nanoseconds, trailing zeros trimmed, as Go's time.RFC3339Nano prints."""
    seconds, fraction = divmod(ns, NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        return f"{base}.{fraction:09d}".rstrip("0") + "Z"
    return base + "Z"


def _absolute(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as error:
        raise TimeError(f"{match.string!r} is not a valid time: {error}") from None
    seconds = calendar.timegm(moment.timetuple())
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    nanos = int((fraction or "").ljust(9, "0")) if fraction else 0
    return seconds * NS + nanos


def _add_duration(now_ns: int, text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    months = 0
    fixed = 0
    for amount, unit in _DURATION_PART.findall(text):
        if unit == "y":
            months += 12 * int(amount)
        elif unit == "mo":
            months += int(amount)
        else:
            fixed += int(amount) * _FIXED_UNITS_NS[unit]
    # Flux adds months and years on the calendar (clamping the day), the rest as fixed lengths.
    return _add_months(now_ns, sign * months) + sign * fixed


def _add_months(ns: int, months: int) -> int:
    if not months:
        return ns
    seconds, fraction = divmod(ns, NS)
    moment = datetime.fromtimestamp(seconds, UTC)
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise TimeError(f"{months} months from now is out of range")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    shifted = moment.replace(year=year, month=month, day=day)
    return calendar.timegm(shifted.timetuple()) * NS + fraction


def _clamp(ns: int) -> int:
    # SQLite integers are 64-bit; times beyond that range select nothing more than the bound does.
    return max(INT64_MIN, min(INT64_MAX, ns))
