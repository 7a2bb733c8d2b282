"""A class's life through the CLI, with the operator running: create, scale, suspend, resume, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.classes import class_namespaces
from tests.support.cli import Cli, one_line
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually, unique
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]


def _status(cli: Cli, name: str) -> dict[str, Any]:
    result = cli("status", name, "-o", "json")
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_create_scale_suspend_resume_delete(cli: Cli, cli_kube: Kube) -> None:
    name = unique("life")
    created = cli("create", name, "--students", "1", "--no-data-sharing-service", "--wait", "--timeout", "90s")
    assert created.exit_code == 0, created.output
    assert created.stdout == f"class {name} created: 1 student ({name}-student-001)\nclass {name} is Ready\n"
    assert "students ready" in created.stderr
    assert "1/1" in created.stderr  # the progress bar, on stderr
    assert class_namespaces(cli_kube, name) == {f"{name}-student-001"}

    scaled = cli("scale", name, "--students", "2", "--wait", "--timeout", "90s")
    assert scaled.exit_code == 0, scaled.output
    assert scaled.stdout == f"class {name} scaled to 2 students\nclass {name} is Ready\n"
    assert class_namespaces(cli_kube, name) == {f"{name}-student-001", f"{name}-student-002"}
    listed = {c["name"]: c for c in json.loads(cli("list", "-o", "json").stdout)}
    assert listed[name]["ready"] == 2
    assert listed[name]["desired"] == 2
    assert listed[name]["phase"] == "Ready"
    table = cli("list").stdout.splitlines()
    assert table[0].split() == ["NAME", "STUDENTS", "PHASE", "EXPIRES", "AGE"]
    assert next(line for line in table if line.startswith(name)).split()[1:3] == ["2/2", "Ready"]

    suspended = cli("suspend", name, "--wait", "--timeout", "90s")
    assert suspended.exit_code == 0, suspended.output
    assert suspended.stdout == f"class {name} suspended\nclass {name} is Suspended\n"
    status = _status(cli, name)
    assert status["phase"] == "Suspended"
    assert status["suspended"] is True
    assert all(set(s["components"].values()) == {"suspended"} for s in status["students"])
    node = cli_kube.get(STATEFULSET, names.NODE_WORKLOAD, f"{name}-student-002")
    assert node is not None
    assert node["spec"]["replicas"] == 0
    again = cli("suspend", name)
    assert again.exit_code == 0
    assert again.stdout == f"class {name} suspended already; nothing to change\n"

    resumed = cli("resume", name, "--wait", "--timeout", "90s")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == f"class {name} resumed\nclass {name} is Ready\n"
    assert _status(cli, name)["ready"] == 2

    kept = cli("scale", name, "--students", "1", input="n\n")
    assert kept.exit_code == 1
    assert f"Scale class {name} down by 1 student, deleting its namespace with all data? [y/N]" in kept.stderr
    assert kept.stderr.endswith(f"error: class {name} not scaled (answer y, or pass --yes)\n")
    assert class_namespaces(cli_kube, name) == {f"{name}-student-001", f"{name}-student-002"}
    down = cli("scale", name, "--students", "1", "--yes", "--wait", "--timeout", "90s")
    assert down.exit_code == 0, down.output
    assert _status(cli, name)["desired"] == 1
    assert class_namespaces(cli_kube, name) == {f"{name}-student-001"}  # student-002's is being deleted

    declined = cli("delete", name, input="n\n")
    assert declined.exit_code == 1
    assert f"Delete class {name} and its " in declined.stderr
    assert "with all their data? [y/N]" in declined.stderr
    assert declined.stderr.endswith(f"error: class {name} not deleted (answer y, or pass --yes)\n")
    assert cli_kube.get(CLASS, name) is not None

    deleted = cli("delete", name, "--yes", "--wait", "--timeout", "3m")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.startswith(f"class {name} deleted; its ")
    assert deleted.stderr.endswith(f"class {name} and its namespaces are gone\n")
    assert cli_kube.get(CLASS, name) is None
    assert not [n for n in cli_kube.list(NAMESPACE) if n["metadata"]["name"].startswith(f"{name}-")]


def test_wait_gives_up_at_once_when_a_namespace_is_taken_and_status_says_why(cli: Cli, cli_kube: Kube) -> None:
    name = unique("taken")
    cli_kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{name}-student-002"}})
    try:
        result = cli("create", name, "--students", "2", "--wait", "--timeout", "5m")
        assert result.exit_code == 1, result.output
        why = f"namespace {name}-student-002 already exists and is not managed by class {name}; left untouched"
        assert f"error: class '{name}' cannot become ready: {why}\n" in result.stderr
        assert f"\n  student-002: {why}\n" in result.stderr

        def status_table() -> str | None:
            shown = cli("status", name)
            assert shown.exit_code == 0
            return shown.stdout if shown.stdout.startswith(f"class {name}: Degraded, 1/2 students ready\n") else None

        table = eventually(status_table, timeout=60, what="student-001 ready, student-002 not")
        rows = {line.split()[0]: line for line in table.splitlines()[2:]}
        assert rows["student-001"].split()[1:3] == [f"{name}-student-001", "ready"]
        assert rows["student-002"].endswith(why)
        assert rows["student-002"].split()[1:3] == [f"{name}-student-002", "-"]
    finally:
        cli("delete", name, "--yes")
        cli_kube.delete(NAMESPACE, f"{name}-student-002")


def test_wait_times_out_with_exit_1_naming_what_is_not_ready(cli: Cli, cli_kube: Kube) -> None:
    name = unique("hasty")
    try:
        result = cli("create", name, "--students", "1", "--wait", "--timeout", "0s")
        assert result.exit_code == 1
        assert result.stdout == f"class {name} created: 1 student ({name}-student-001)\n"
        assert f"error: class '{name}' not ready after 0s" in result.stderr
    finally:
        cli("delete", name, "--yes")


def test_create_refuses_an_existing_class_and_keeps_it(cli: Cli, cli_kube: Kube, operator: EmbeddedOperator) -> None:
    name = unique("twice")
    assert cli("create", name, "--students", "1", "--suspended").exit_code == 0
    try:
        result = cli("create", name, "--students", "3")
        assert result.exit_code == 2
        assert one_line(result.stderr) == f"error: class '{name}' already exists (see `vwclass status {name}`)\n"
        body = cli_kube.get(CLASS, name)
        assert body is not None
        assert body["spec"] == {**body["spec"], "students": 1, "suspended": True}
    finally:
        cli("delete", name, "--yes")
