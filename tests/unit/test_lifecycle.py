"""A class's life in time: lecture hours (time zones, lead time, daylight saving), expiry and grace."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.classes import class_body
from vwclass.core import lifecycle
from vwclass.core.lifecycle import SuspendedBy
from vwclass.core.schema import InvalidClass
from vwclass.core.spec import parse_class

BERLIN = "Europe/Berlin"
MON_WED: dict[str, Any] = {
    "leadTime": "15m",
    "lectures": [{"days": ["Mon", "Wed"], "start": "09:00", "end": "11:00"}],
}


def at(text: str, zone: str = BERLIN) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=lifecycle.zone(zone))


def schedule(spec: dict[str, Any] = MON_WED, zone: str = BERLIN) -> lifecycle.Schedule:
    parsed = lifecycle.parse_schedule(spec, zone)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("now", "running", "change"),
    [
        ("2026-12-07 08:44", False, "2026-12-07 08:45"),  # Monday, 16 min before: still suspended
        ("2026-12-07 08:45", True, "2026-12-07 11:00"),  # the lead time: resumed
        ("2026-12-07 10:59", True, "2026-12-07 11:00"),
        ("2026-12-07 11:00", False, "2026-12-09 08:45"),  # Monday's lecture over: Wednesday's next
        ("2026-12-10 12:00", False, "2026-12-14 08:45"),  # Thursday: next Monday
    ],
)
def test_a_class_runs_from_its_lead_time_to_the_end_of_each_lecture(now: str, running: bool, change: str) -> None:
    assert lifecycle.in_lecture_hours(schedule(), at(now)) == (running, at(change))


def test_lecture_hours_follow_daylight_saving_time_in_their_zone() -> None:
    # Berlin moves from UTC+1 to UTC+2 on 2027-03-28: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    winter = lifecycle.in_lecture_hours(schedule(), at("2027-03-22 12:00"))
    summer = lifecycle.in_lecture_hours(schedule(), at("2027-03-29 12:00"))
    assert winter[1] is not None
    assert summer[1] is not None
    assert winter[1].astimezone(dt.UTC).hour == 7
    assert winter[1].astimezone(dt.UTC).minute == 45
    assert summer[1].astimezone(dt.UTC).hour == 6
    assert summer[1].astimezone(dt.UTC).minute == 45


def test_back_to_back_lectures_and_one_ending_at_midnight_make_one_window() -> None:
    spec = {
        "leadTime": "30m",
        "lectures": [
            {"days": ["Fri"], "start": "20:00", "end": "22:00"},
            {"days": ["Fri"], "start": "22:15", "end": "24:00"},
        ],
    }
    running, end = lifecycle.in_lecture_hours(schedule(spec, "UTC"), at("2026-12-11 21:59", "UTC"))
    assert (running, end) == (True, at("2026-12-12 00:00", "UTC"))  # 22:15's lead time overlaps 22:00


def test_expiry_warns_then_suspends_then_deletes_after_its_grace() -> None:
    expiry = lifecycle.parse_expiry("2027-01-31", "7d", BERLIN)
    assert expiry is not None
    assert expiry.at == at("2027-02-01 00:00")  # the end of the day, in the class's zone
    plan = lifecycle.plan(False, None, expiry, at("2027-01-20 12:00"))
    assert plan == lifecycle.Plan(next_change=at("2027-01-29 00:00"))  # the warning starts 3 days before
    warned = lifecycle.plan(False, None, expiry, at("2027-01-30 12:00"))
    assert (warned.expiring, warned.suspended_by, warned.next_change) == (True, None, expiry.at)
    expired = lifecycle.plan(False, None, expiry, at("2027-02-03 12:00"))
    assert (expired.suspended_by, expired.delete, expired.next_change) == (
        SuspendedBy.EXPIRY,
        False,
        at("2027-02-08 00:00"),
    )
    assert lifecycle.plan(False, None, expiry, at("2027-02-08 00:00")).delete


def test_an_expiry_as_a_time_is_taken_as_written() -> None:
    expiry = lifecycle.parse_expiry("2027-01-31T18:00:00Z", "1d", BERLIN)
    assert expiry is not None
    assert lifecycle.timestamp(expiry.at) == "2027-01-31T18:00:00Z"
    assert lifecycle.timestamp(expiry.deletes_at) == "2027-02-01T18:00:00Z"


def test_the_teacher_and_the_expiry_outrank_the_schedule() -> None:
    outside = at("2026-12-10 12:00")
    assert lifecycle.plan(False, schedule(), None, outside).suspended_by is SuspendedBy.SCHEDULE
    assert lifecycle.plan(False, schedule(), None, outside).next_lecture == at("2026-12-14 08:45")
    assert lifecycle.plan(True, schedule(), None, outside).suspended_by is SuspendedBy.TEACHER
    inside = at("2026-12-07 10:00")
    assert lifecycle.plan(False, schedule(), None, inside) == lifecycle.Plan(next_change=at("2026-12-07 11:00"))
    assert lifecycle.plan(True, schedule(), None, inside).suspended_by is SuspendedBy.TEACHER


def test_the_class_spec_carries_its_schedule_and_expiry() -> None:
    cls = parse_class(class_body("week", students=2, timeZone=BERLIN, schedule=MON_WED, expires="2027-01-31"))
    assert cls.schedule is not None
    assert cls.schedule.lead_time == dt.timedelta(minutes=15)
    assert cls.schedule.lectures[0].days == (0, 2)
    assert cls.expiry is not None
    assert cls.expiry.grace == dt.timedelta(days=7)  # the CRD's default
    plain = parse_class(class_body("plain", students=2))
    assert (plain.schedule, plain.expiry) == (None, None)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"timeZone": "Mars/Olympus", "schedule": MON_WED}, "spec.timeZone: unknown time zone"),
        ({"schedule": {"lectures": [{"days": ["Mon"], "start": "11:00", "end": "09:00"}]}}, "end must be after start"),
        (
            {"schedule": {"lectures": [{"days": ["Monday"], "start": "09:00", "end": "11:00"}]}},
            "spec.schedule.lectures[0].days[0]",
        ),
        ({"schedule": {**MON_WED, "leadTime": "15 minutes"}}, "spec.schedule.leadTime"),
        ({"expires": "31.01.2027"}, "spec.expires"),
        ({"expires": "2027-02-30"}, "spec.expires: not a date or time"),
    ],
)
def test_a_bad_schedule_or_expiry_names_its_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidClass, match=None) as raised:
        parse_class(class_body("bad", students=1, **spec))
    assert field in str(raised.value), str(raised.value)
