"""Absolute and relative query times, and the API's timestamp format."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest

from vwclass.dataendpoint.times import NS, TimeError, format_timestamp, parse_time

NOW = calendar.timegm((2024, 3, 31, 12, 0, 0)) * NS + 123_456_789


@pytest.mark.parametrize(
    ("text", "delta_ns"),
    [
        ("-1h", -3600 * NS),
        ("-30m", -1800 * NS),
        ("-2d", -2 * 86400 * NS),
        ("-1w", -7 * 86400 * NS),
        ("-10s", -10 * NS),
        ("-500ms", -500_000_000),
        ("-7us", -7_000),
        ("-9ns", -9),
        ("-1h30m", -5400 * NS),
        ("+2h", 7200 * NS),
        ("2h", 7200 * NS),
        ("-1d12h30m15s", -(86400 + 12 * 3600 + 30 * 60 + 15) * NS),
    ],
)
def test_relative_durations(text: str, delta_ns: int) -> None:
    assert parse_time(text, NOW) == NOW + delta_ns


def test_months_and_years_follow_the_calendar() -> None:
    # 2024-03-31 minus one month is clamped to 2024-02-29 (leap year), as Flux does.
    feb = parse_time("-1mo", NOW)
    assert datetime.fromtimestamp(feb // NS, UTC).date().isoformat() == "2024-02-29"
    assert feb % NS == NOW % NS
    year = parse_time("-1y", NOW)
    assert datetime.fromtimestamp(year // NS, UTC).date().isoformat() == "2023-03-31"
    mixed = parse_time("-1mo2d", NOW)
    assert mixed == feb - 2 * 86400 * NS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-05-01T10:30:00Z", calendar.timegm((2021, 5, 1, 10, 30, 0)) * NS),
        ("2021-05-01T10:30:00.5Z", calendar.timegm((2021, 5, 1, 10, 30, 0)) * NS + 500_000_000),
        ("2021-05-01T10:30:00.123456Z", calendar.timegm((2021, 5, 1, 10, 30, 0)) * NS + 123_456_000),
        ("2021-05-01T10:30:00.123456789Z", calendar.timegm((2021, 5, 1, 10, 30, 0)) * NS + 123_456_789),
        ("2021-05-01T10:30:00-05:00", calendar.timegm((2021, 5, 1, 15, 30, 0)) * NS),
        ("2021-05-01T10:30:00+02:30", calendar.timegm((2021, 5, 1, 8, 0, 0)) * NS),
        ("2021-05-01", calendar.timegm((2021, 5, 1, 0, 0, 0)) * NS),
        ("1620000000", 1620000000 * NS),
    ],
)
def test_absolute_times(text: str, expected: int) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "-1x",
        "1h-",
        "2021-05-01T10:30:00",
        "2021-13-01T00:00:00Z",
        "2021-05-01 10:30:00Z",
        "-h",
        "now",
        "2021-02-30",
    ],
)
def test_invalid_times_are_refused(text: str) -> None:
    with pytest.raises(TimeError):
        parse_time(text, NOW)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1614201273094407742, "2021-02-24T21:14:33.094407742Z"),
        (1614201273094407000, "2021-02-24T21:14:33.094407Z"),
        (1614201273100000000, "2021-02-24T21:14:33.1Z"),
        (1614201273000000000, "2021-02-24T21:14:33Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1, "1970-01-01T00:00:00.000000001Z"),
    ],
)
def test_timestamps_print_like_go_rfc3339nano(ns: int, text: str) -> None:
    assert format_timestamp(ns) == text


def test_formatted_timestamps_parse_back_exactly() -> None:
    for ns in (1614201273094407742, 1700000000000000001, 946684800000000000):
        assert parse_time(format_timestamp(ns), NOW) == ns
