"""The options of a class's life in time: lecture hours (--schedule) and its end (--expires).

`--schedule "Mon,Wed 09:00-11:00"` (repeatable; days as a list or a range, Mon-Fri) becomes one entry
of spec.schedule.lectures; the rest goes to the CRD as typed, which validates it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from vwclass.cli.errors import Exit, abort

Obj = dict[str, Any]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LECTURE = re.compile(r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
EXAMPLE = '--schedule "Mon,Wed 09:00-11:00" (or "Mon-Fri 13:00-14:30")'

ScheduleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--schedule",
        metavar='"DAYS HH:MM-HH:MM"',
        show_default=False,
        help='Lecture hours, e.g. "Mon,Wed 09:00-11:00" or "Mon-Fri 13:00-14:30"; repeatable. Outside them '
        "the class is suspended (data kept); it resumes --lead-time before each lecture.",
    ),
]
TimeZoneOption = Annotated[
    str | None,
    typer.Option(
        "--time-zone",
        metavar="ZONE",
        show_default=False,
        help="The class's IANA time zone, of --schedule and of an --expires date, e.g. Europe/Berlin (default UTC).",
    ),
]
LeadTimeOption = Annotated[
    str | None,
    typer.Option(
        "--lead-time",
        metavar="DURATION",
        show_default=False,
        help="How long before each lecture the class resumes, e.g. 15m (the default) or 1h.",
    ),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires",
        metavar="DATE",
        show_default=False,
        help="The last day of the class (YYYY-MM-DD) or an RFC 3339 time: then it is suspended, and deleted "
        "with its data after --expiry-grace unless renewed (`vwclass renew`).",
    ),
]
ExpiryGraceOption = Annotated[
    str | None,
    typer.Option(
        "--expiry-grace",
        metavar="DURATION",
        show_default=False,
        help="How long an expired class stays suspended before it is deleted, e.g. 7d (the default).",
    ),
]


IdleTimeoutOption = Annotated[
    str | None,
    typer.Option(
        "--idle-timeout",
        metavar="DURATION",
        show_default=False,
        help="Suspend a student's node alone once idle this long, e.g. 30m (no message, no plugin; "
        "their next plugin or `vwclass resume NAME --student ID` brings it back). Default: never.",
    ),
]


def _day(text: str, lecture: str) -> int:
    """A weekday by its first three letters, as the CRD spells them (Mon ... Sun), any case."""
    short = text.strip()[:3].lower()
    for index, day in enumerate(DAYS):
        if short == day.lower():
            return index
    abort(
        f"--schedule {lecture!r}: {text.strip()!r} is not a weekday (Mon, Tue, ... Sun); e.g. {EXAMPLE}", Exit.BAD_INPUT
    )


def parse_lecture(text: str) -> Obj:
    """'Mon,Wed 09:00-11:00' or 'Mon-Fri 9:00-10:30' as a lecture of spec.schedule.lectures."""
    found = _LECTURE.match(text)
    if not found:
        abort(f"--schedule {text!r}: write DAYS HH:MM-HH:MM, e.g. {EXAMPLE}", Exit.BAD_INPUT)
    days: list[int] = []
    for part in found.group("days").split(","):
        first, dash, last = part.partition("-")
        if dash:
            low, high = _day(first, text), _day(last, text)
            days += range(low, high + 1) if low <= high else [*range(low, 7), *range(0, high + 1)]  # Fri-Mon
        elif part.strip():
            days.append(_day(part, text))
    start, end = (found.group(key).zfill(5) for key in ("start", "end"))  # 9:00 is 09:00
    return {"days": [DAYS[d] for d in sorted(set(days))], "start": start, "end": end}


def lifecycle_spec(
    schedules: list[str], time_zone: str | None, lead_time: str | None, expires: str | None, grace: str | None
) -> Obj:
    """The spec fields the options give (only those given: the CRD defaults the rest)."""
    if lead_time is not None and not schedules:
        abort("--lead-time needs --schedule: it is how long before each lecture the class resumes", Exit.BAD_INPUT)
    if grace is not None and expires is None:
        abort(
            "--expiry-grace needs --expires: it is how long an expired class waits before it is deleted", Exit.BAD_INPUT
        )
    spec: Obj = {}
    if time_zone is not None:
        spec["timeZone"] = time_zone
    if schedules:
        spec["schedule"] = {"lectures": [parse_lecture(text) for text in schedules]}
        if lead_time is not None:
            spec["schedule"]["leadTime"] = lead_time
    if expires is not None:
        spec["expires"] = expires
    if grace is not None:
        spec["expiryGracePeriod"] = grace
    return spec
