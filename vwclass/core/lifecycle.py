"""A class's life in time, as pure functions of its spec and a clock: lecture hours and expiry.

A schedule keeps a class suspended outside its lectures and resumes it `leadTime` before each one, so
the nodes are Ready when the students arrive. An expiry warns from WARN_BEFORE ahead, suspends the class
when it comes, and deletes it a grace period later unless `spec.expires` was moved (renewed). Both only
ever decide *whether* the class runs: stopping and restoring are the same as a teacher's suspend, so
records, volumes and credentials stay.

Every function takes `now` (an aware datetime): the operator passes its clock, tests a virtual one.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WARN_BEFORE = dt.timedelta(days=3)
_DURATION = re.compile(r"^([0-9]+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Looking this far ahead finds the next lecture of any weekly schedule.
_HORIZON_DAYS = 8


class InvalidLifecycle(ValueError):
    """A schedule or expiry the schema admits but that means nothing: (field, message)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class SuspendedBy(enum.StrEnum):
    """Why a class is suspended, as status.suspendedBy says it."""

    TEACHER = "Teacher"  # spec.suspended
    SCHEDULE = "OutsideLectureHours"
    EXPIRY = "Expired"


def parse_duration(text: str) -> dt.timedelta:
    """'15m', '2h', '7d': one number and one unit (s, m, h, d, w), as the CRD's pattern allows."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"not a duration: {text!r} (a number and one of s, m, h, d, w: 15m, 7d)")
    return dt.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def _clock(text: str) -> dt.time:
    hours, minutes = (int(part) for part in text.split(":"))
    return dt.time(0, 0) if hours == 24 else dt.time(hours, minutes)


@dataclass(frozen=True)
class Lecture:
    days: tuple[int, ...]  # 0 is Monday, as date.weekday()
    start: dt.time
    end: dt.time  # 00:00 here means midnight at the end of the day (24:00)


@dataclass(frozen=True)
class Schedule:
    time_zone: str
    lead_time: dt.timedelta
    lectures: tuple[Lecture, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Expiry:
    at: dt.datetime  # aware
    grace: dt.timedelta

    @property
    def deletes_at(self) -> dt.datetime:
        return self.at + self.grace

    @property
    def warns_from(self) -> dt.datetime:
        return self.at - WARN_BEFORE


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidLifecycle(
            "spec.timeZone", f"unknown time zone {name!r} (an IANA name: Europe/Berlin, America/Chicago, UTC)"
        ) from None


def parse_schedule(spec: Mapping[str, Any] | None, time_zone: str) -> Schedule | None:
    """spec.schedule (defaults applied) in the class's time zone as a Schedule; None without one."""
    if not spec:
        return None
    zone(time_zone)  # raises on an unknown zone
    lectures = tuple(
        Lecture(
            tuple(sorted({DAYS.index(d) for d in lecture["days"]})), _clock(lecture["start"]), _clock(lecture["end"])
        )
        for lecture in spec["lectures"]
    )
    return Schedule(time_zone, parse_duration(spec["leadTime"]), lectures)


def parse_expiry(expires: str | None, grace: str, time_zone: str) -> Expiry | None:
    """spec.expires: a date ends at the midnight after it in time_zone; a time is taken as written."""
    if not expires:
        return None
    try:
        parsed = dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) if "T" in expires else None
        day = None if parsed else dt.date.fromisoformat(expires) + dt.timedelta(days=1)
    except ValueError:
        message = f"not a date or time: {expires!r} (2027-01-31, or 2027-01-31T18:00:00Z)"
        raise InvalidLifecycle("spec.expires", message) from None
    at = parsed or dt.datetime.combine(day or dt.date.min, dt.time(0, 0), tzinfo=zone(time_zone))
    return Expiry(at.astimezone(dt.UTC), parse_duration(grace))


def _windows(schedule: Schedule, around: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The class's running windows (lead time before each lecture to its end) near `around`, merged."""
    tz = schedule.zone
    today = around.astimezone(tz).date()
    windows = []
    for offset in range(-1, _HORIZON_DAYS):
        day = today + dt.timedelta(days=offset)
        for lecture in schedule.lectures:
            if day.weekday() not in lecture.days:
                continue
            start = dt.datetime.combine(day, lecture.start, tzinfo=tz)
            end_day = day + dt.timedelta(days=1) if lecture.end == dt.time(0, 0) else day
            end = dt.datetime.combine(end_day, lecture.end, tzinfo=tz)
            windows.append(((start - schedule.lead_time).astimezone(dt.UTC), end.astimezone(dt.UTC)))
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def in_lecture_hours(schedule: Schedule, now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """Whether the class should run now, and when that next changes (None: never within a week)."""
    for start, end in _windows(schedule, now):
        if start <= now < end:
            return True, end
        if now < start:
            return False, start
    return False, None


@dataclass(frozen=True)
class Plan:
    """What the clock says of a class now."""

    suspended_by: SuspendedBy | None = None
    delete: bool = False
    expiring: bool = False  # within WARN_BEFORE of its expiry, or past it
    next_change: dt.datetime | None = None  # when the plan next changes: the operator looks again then
    next_lecture: dt.datetime | None = None  # when a scheduled class next resumes (None: it runs, or no schedule)


def plan(suspended: bool, schedule: Schedule | None, expiry: Expiry | None, now: dt.datetime) -> Plan:
    """Whether the class runs now (and why not), whether it is due for deletion, and when to look again."""
    changes: list[dt.datetime] = []
    suspended_by = SuspendedBy.TEACHER if suspended else None
    expiring = delete = False
    if expiry is not None:
        if now >= expiry.deletes_at:
            return Plan(SuspendedBy.EXPIRY, delete=True, expiring=True)
        if now >= expiry.at:
            suspended_by, expiring = SuspendedBy.EXPIRY, True
            changes.append(expiry.deletes_at)
        else:
            expiring = now >= expiry.warns_from
            changes.append(expiry.at if expiring else expiry.warns_from)
    next_lecture = None
    if schedule is not None:
        running, change = in_lecture_hours(schedule, now)
        if change is not None:
            changes.append(change)
        if not running:
            next_lecture = change
            suspended_by = suspended_by or SuspendedBy.SCHEDULE
    return Plan(suspended_by, delete, expiring, min(changes, default=None), next_lecture)


def timestamp(moment: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC to the second, as Kubernetes writes times."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
