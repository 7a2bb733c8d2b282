"""Lecture hours and a class's end through the CLI, with the operator running on the real clock:
`create --schedule --expires`, what `list` and `status` say of it, `schedule`, `resume` and `renew`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.support.cli import Cli
from tests.support.kube import eventually, unique
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _status(cli: Cli, name: str) -> dict[str, Any]:
    result = cli("status", name, "-o", "json")
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_a_class_with_lecture_hours_and_an_end_from_create_to_renew(cli: Cli, cli_kube: Kube) -> None:
    name = unique("term")
    today = dt.datetime.now(dt.UTC).date()
    lecture = f"{DAYS[(today.weekday() + 2) % 7]} 09:00-10:00"  # two days away: asleep now, whatever the hour
    expires = (today + dt.timedelta(days=30)).isoformat()
    created = cli(
        "create", name, "--students", "1", "--no-data-sharing-service",
        "--schedule", lecture, "--time-zone", "UTC", "--expires", expires, "--wait", "--timeout", "90s",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert created.stdout.endswith(f"class {name} is Suspended\n")
    try:
        row = next(line for line in cli("list").stdout.splitlines() if line.startswith(name))
        assert "Suspended (outside lecture hours, resumes in " in row, row
        assert "in 30d" in row or "in 29d" in row, row  # EXPIRES
        status = _status(cli, name)
        assert status["suspendedBy"] == "OutsideLectureHours"
        assert status["expires"] == f"{today + dt.timedelta(days=31)}T00:00:00Z"  # the end of its last day
        table = cli("status", name).stdout
        assert f"class {name}: Suspended (outside lecture hours, resumes in" in table

        # A teacher's resume cannot open it outside its hours, and says how.
        resumed = cli("resume", name)
        assert resumed.exit_code == 0, resumed.output
        assert f"class {name} stays suspended outside its lecture hours" in resumed.stderr
        assert f"`vwclass schedule {name} --none` runs it now" in resumed.stderr

        opened = cli("schedule", name, "--none", "--wait", "--timeout", "90s")
        assert opened.exit_code == 0, opened.output
        assert opened.stdout.endswith(f"class {name} is Ready\n")
        assert "suspendedBy" not in (cli_kube.get(CLASS, name) or {})["status"]

        renewed = cli("renew", name, "--expires", "never")
        assert renewed.exit_code == 0, renewed.output
        assert renewed.stdout == f"class {name} never expires\n"
        eventually(
            lambda: "expires" not in (cli_kube.get(CLASS, name) or {}).get("status", {}),
            timeout=30,
            what="the expiry gone from the status",
        )
        bad = cli("schedule", name, "Mon 9:00-10:00", "--time-zone", "Mars/Olympus")
        assert bad.exit_code == 2
        assert "spec.timeZone: unknown time zone 'Mars/Olympus'" in bad.stderr
        assert bad.stderr.count("\n") == 1
    finally:
        cli("delete", name, "--yes")
