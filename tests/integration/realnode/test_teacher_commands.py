"""The teacher's commands on real data: a class of two on the real node, student A publishes, and
`vwclass data`, `collect` and `report` show it (read through the API server's proxy) while student B,
who published nothing, shows as stuck. Then the whole loop as a student runs it: from a fresh plugin
template to a value in the teacher's table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.cli import Cli
from tests.support.kube import eventually, unique
from tests.support.realnode import ON_THE_REAL_NODE
from vwclass.kube.api import Kube
from vwclass.testenv import TestenvError as KubectlFailed
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode

A, B = "student-001", "student-002"
FILE_TEXT = "hello from student-001\n"
# Run in student A's plugin runner, as a student does in a terminal there.
PUBLISH = f"""
import pathlib
from waggle.plugin import Plugin
path = pathlib.Path.home() / "hello.txt"
path.write_text({FILE_TEXT!r})
with Plugin() as plugin:
    plugin.publish("test.value", 42)
    plugin.upload_file(str(path))
"""


@pytest.fixture(scope="module")
def lesson(cluster: Cluster, teacher: Kube) -> Iterator[str]:
    """A class of two with default components (the data-sharing service on) on the real node, Ready."""
    name = unique("teach")
    teacher.apply(class_body(name, students=2, placement=ON_THE_REAL_NODE))
    try:
        try:
            wait_ready(teacher, name, students=2, timeout=600)
        except AssertionError as error:
            raise AssertionError(f"{error}; pods: {_pod_states(cluster, name)}") from None
        yield name
    finally:
        delete_class(teacher, name, wait=False)  # as class_on_the_real_node does


def _pod_states(cluster: Cluster, name: str) -> str:
    try:
        pods = json.loads(
            cluster.kubectl("get", "pods", "-A", "-l", f"edu.sagecontinuum.org/class={name}", "-o", "json")
        )
    except KubectlFailed as error:
        return str(error)
    return "; ".join(
        f"{p['metadata']['namespace']}/{p['metadata']['name']}: "
        + ", ".join(
            f"{c['name']} ready={c.get('ready')} {list(c.get('state', {}).items())}"
            for c in p["status"].get("initContainerStatuses", []) + p["status"].get("containerStatuses", [])
        )
        for p in pods["items"]
    )


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def data_rows(teacher: Cli, lesson: str, *args: str) -> list[dict[str, Any]]:
    result = teacher("data", lesson, "--since", "-30m", "--format", "ndjson", *args)
    assert result.exit_code == 0, result.output
    return ndjson(result.stdout)


def test_a_value_published_by_student_a_is_in_data_collect_and_report(
    cluster: Cluster, lesson: str, tmp_path: Path
) -> None:
    teacher = Cli(cluster.kubeconfig)
    cluster.kubectl("exec", "-n", f"{lesson}-{A}", "node-0", "-c", "plugin-runner", "--", "python3", "-c", PUBLISH)

    def published() -> list[dict[str, Any]] | None:
        rows = data_rows(teacher, lesson)
        names = {r["name"] for r in rows}
        return rows if {"test.value", "upload"} <= names else None

    rows = eventually(published, timeout=60, what="student A's value and upload in `vwclass data`")
    [value] = [r for r in rows if r["name"] == "test.value"]
    assert value["student"] == A
    assert value["value"] == 42
    # Added by the node's data-sharing service from the runner's registered app meta.
    assert value["meta"]["task"]
    assert value["meta"]["plugin"]
    assert {r["student"] for r in rows} == {A}, "student B published nothing"

    table = teacher("data", lesson, "--since", "-30m", "--name", "test.*")
    assert table.exit_code == 0, table.output
    print(f"\n{table.stdout}")
    [header, line] = table.stdout.splitlines()
    assert header.split() == ["TIMESTAMP", "STUDENT", "NAME", "VALUE", "TASK", "PLUGIN", "META"]
    assert line.split()[1:4] == [A, "test.value", "42"]
    csv = teacher("data", lesson, "--since", "-30m", "--format", "csv", "--student", A, "--name", "test.value")
    assert csv.exit_code == 0, csv.output
    assert csv.stdout.splitlines()[1].split(",")[1:4] == [A, "test.value", "42"]

    out = tmp_path / "collected"
    result = teacher("collect", lesson, "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["students"][A]["records"] >= 2
    assert manifest["students"][A]["files"] == 1
    assert manifest["students"][B] == {"namespace": f"{lesson}-{B}", "records": 0, "files": 0}
    records = ndjson((out / A / "records.ndjson").read_text())
    assert any(r["name"] == "test.value" and r["value"] == 42 for r in records)
    [uploaded] = list((out / A / "uploads").glob("*/hello.txt"))
    assert uploaded.read_text() == FILE_TEXT
    assert (out / B / "records.ndjson").read_text() == ""

    def reported() -> dict[str, dict[str, Any]]:
        result = teacher("report", lesson, "-o", "json")
        assert result.exit_code == 0, result.output
        rows = {r["student"]: r for r in json.loads(result.stdout)}
        # A read that failed on its way three times (the row says UNREACHABLE and why) is asked again.
        for student in (A, B):
            assert not rows[student]["state"].startswith("UNREACHABLE"), rows[student]
        return rows

    report = eventually(reported, timeout=30, what="a report of both students")
    assert report[A]["node"] == "ready"
    assert report[A]["stored"] >= 1, report[A]
    assert report[A]["state"] == "ok", report[A]
    assert report[A]["lastMessage"]
    assert set(report[A]["queues"]) >= {"to-validator", "to-beehive"}
    assert report[B]["state"].startswith("STUCK: no message stored since -1h"), report[B]
    assert report[B]["lastMessage"] is None
    table = teacher("report", lesson)
    assert table.exit_code == 0, table.output
    print(f"\n{table.stdout}")
    assert "STUCK" in next(line for line in table.stdout.splitlines() if line.startswith(B))
    assert table.stderr == "1 of 2 students ok, 1 to look at\n"


def test_from_a_fresh_template_to_a_value_in_the_teachers_table(cluster: Cluster, lesson: str, tmp_path: Path) -> None:
    teacher = Cli(cluster.kubeconfig)
    handout = tmp_path / "handout"
    result = teacher("credentials", lesson, "--out", str(handout), "--duration", "1h")
    assert result.exit_code == 0, result.output
    student = Cli(handout / f"{A}.kubeconfig")

    folder = tmp_path / "thermo"
    result = student("newplugin", "thermo", "--out", str(folder))
    assert result.exit_code == 0, result.output
    main = folder / "main.py"
    text = main.read_text()
    assert "return round(random.uniform(20.0, 25.0), 2)" in text
    main.write_text(text.replace("return round(random.uniform(20.0, 25.0), 2)", "return 17.25"))

    started = time.monotonic()
    result = student("plugin", "run", "thermo", "--dir", str(folder), "--", "--count", "1", "--interval", "0")
    print(f"\nplugin run --dir: {time.monotonic() - started:.1f}s")
    assert result.exit_code == 0, result.output
    assert "published thermo.value = 17.25" in result.output

    def shown() -> dict[str, Any] | None:
        rows = data_rows(teacher, lesson, "--name", "thermo.value")
        return rows[0] if rows else None

    row = eventually(shown, timeout=60, what="the plugin's value in the teacher's `vwclass data`")
    assert row["student"] == A
    assert row["value"] == 17.25
    assert row["meta"]["task"] == "thermo"
    assert row["meta"]["plugin"] == "thermo"
    assert row["meta"]["units"] == "C"
    table = teacher("data", lesson, "--since", "-30m", "--name", "thermo.value")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[1].split()[1:6] == [A, "thermo.value", "17.25", "thermo", "thermo"]
