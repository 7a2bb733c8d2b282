"""`--schedule`, `--time-zone`, `--lead-time`, `--expires` and `--expiry-grace` of `create`/`render`:
what a teacher types becomes the CRD's fields, and a mistake is one line naming the option."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner, Result

from vwclass.cli.app import app
from vwclass.cli.errors import Exit


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="vwclass")


def test_lecture_hours_and_an_end_become_the_class_spec() -> None:
    result = run(
        "render", "physics", "--students", "30",
        "--schedule", "Mon,Wed 9:00-11:00", "--schedule", "fri-mon 13:00-14:30",
        "--time-zone", "Europe/Berlin", "--lead-time", "30m",
        "--expires", "2027-02-28", "--expiry-grace", "14d",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.stdout)["spec"]
    assert spec == {
        "students": 30,
        "timeZone": "Europe/Berlin",
        "schedule": {
            "leadTime": "30m",
            "lectures": [
                {"days": ["Mon", "Wed"], "start": "09:00", "end": "11:00"},
                {"days": ["Mon", "Fri", "Sat", "Sun"], "start": "13:00", "end": "14:30"},  # a range over the weekend
            ],
        },
        "expires": "2027-02-28",
        "expiryGracePeriod": "14d",
    }


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--schedule", "Moonday 9:00-10:00"], "--schedule 'Moonday 9:00-10:00': 'Moonday' is not a weekday"),
        (["--schedule", "Mon 9-10"], "--schedule 'Mon 9-10': write DAYS HH:MM-HH:MM"),
        (
            ["--schedule", "Mon 11:00-09:00"],
            "invalid class 'physics': --schedule: spec.schedule.lectures[0]: end must be after start",
        ),
        (
            ["--schedule", "Mon 9:00-10:00", "--time-zone", "Mars/Olympus"],
            "invalid class 'physics': --time-zone: spec.timeZone: unknown time zone 'Mars/Olympus'",
        ),
        (
            ["--expires", "next friday"],
            "--expires: spec.expires: 'next friday' is not a date (YYYY-MM-DD) or an RFC 3339 time",
        ),
        (["--schedule", "Mon 9:00-10:00", "--lead-time", "soon"], "--lead-time: spec.schedule.leadTime: 'soon' is not"),
        (["--lead-time", "15m"], "--lead-time needs --schedule"),
        (["--expiry-grace", "7d"], "--expiry-grace needs --expires"),
    ],
)
def test_a_mistake_is_one_line_naming_the_option(args: list[str], line: str) -> None:
    result = run("render", "physics", "--students", "2", *args)
    assert result.exit_code == Exit.BAD_INPUT, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert line in result.stderr, result.stderr


def test_an_idle_timeout_becomes_the_class_spec_and_a_bad_one_is_one_line_naming_the_option() -> None:
    result = run("render", "physics", "--students", "30", "--idle-timeout", "45m")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["spec"] == {"students": 30, "idleTimeout": "45m"}
    for bad in ("30s", "soon", "-5m"):
        result = run("render", "physics", "--students", "30", "--idle-timeout", bad)
        assert result.exit_code == Exit.BAD_INPUT, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "--idle-timeout" in result.stderr
