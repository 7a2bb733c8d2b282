"""The dashboard's snapshot, from what was read of a class: health words, plots, latest values, log tails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vwclass.cli.dashboard import model
from vwclass.cli.studentview import StudentRow
from vwclass.core import names, plugins
from vwclass.core.classdata import Record

S = 10**9
T0 = 1_764_489_600 * S  # 2025-11-30T08:00:00Z
COMPONENTS = ("rabbitmq", "data-endpoint", "plugin-runner")


def row(student: str = "student-001", ready: bool = True, reason: str = "", **cells: str) -> StudentRow:
    components = {c: "ready" for c in COMPONENTS} | {k.replace("_", "-"): v for k, v in cells.items()}
    return StudentRow(student, "", f"physics-{student}", ready, components, 0, reason)


def record(name: str, value: Any, seconds: float, student: str = "student-001") -> Record:
    ns = T0 + int(seconds * S)
    return Record(student, f"t+{seconds}", ns, name, value, {"task": "hello"})


def plugin_pod(namespace: str, name: str, created: str, state: str = "running", task: str = "hello") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created,
            "labels": {names.MANAGED_BY: plugins.MANAGER, plugins.TASK_LABEL: task},
        },
        "spec": {"containers": [{"name": "plugin", "env": [{"name": "WAGGLE_PLUGIN_PASSWORD", "value": "s3cret"}]}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "plugin", "state": {state: {}}}]},
    }


# -- health ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("student", "suspended", "expected"),
    [
        (row(), False, ("ready", "")),
        (row(ready=False, reason="rabbitmq: ContainerCreating", rabbitmq="ContainerCreating"), False, None),
        (row(ready=False, reason="namespace not created yet"), False, ("starting", "namespace not created yet")),
        (row(ready=True), True, ("suspended", "")),
        (row(ready=False, reason="node: scaling down"), True, ("suspended", "scaling down")),
        (
            row(reason="idle since 2025-11-30T08:00:00Z: `vwclass resume physics --student student-001`"),
            False,
            ("idle", "idle since 2025-11-30T08:00:00Z: `vwclass resume physics --student student-001`"),
        ),
        (
            row(ready=False, reason="rabbitmq: ImagePullBackOff", rabbitmq="ImagePullBackOff"),
            False,
            ("failing: rabbitmq: ImagePullBackOff", ""),
        ),
        (
            row(ready=False, reason="data-endpoint: CrashLoopBackOff"),
            False,
            ("failing: data-endpoint: CrashLoopBackOff", ""),
        ),
        (
            row(ready=False, reason="namespace physics-x already exists and is not managed by class physics; left"),
            False,
            ("failing: namespace physics-x already exists and is not managed by class physics; left", ""),
        ),
    ],
)
def test_each_student_gets_one_health_word_and_a_detail(
    student: StudentRow, suspended: bool, expected: tuple[str, str] | None
) -> None:
    word = model.health(student, suspended)
    assert word == (expected or ("starting", student.reason))


# -- data -----------------------------------------------------------------------------------------------
def test_a_plot_has_a_line_per_measurement_name_of_its_last_numeric_points_in_time_order() -> None:
    records = [
        record("env.temperature", 21.0, 2),
        record("env.temperature", 20.5, 1),
        record("env.temperature", 21.5, 3),
        record("env.humidity", 40, 1),
        record("env.humidity", True, 2),  # not a number to plot
        record("upload", "http://x/api/v1/files/1-ab/img.jpg", 2),
        record("env.pressure", float("nan"), 1),
    ]
    assert model.series(records, points=2) == {
        "env.humidity": [[T0 // 10**6 + 1000, 40.0]],
        "env.temperature": [[T0 // 10**6 + 2000, 21.0], [T0 // 10**6 + 3000, 21.5]],
    }
    assert list(model.series(records, points=60)["env.temperature"]) == [
        [T0 // 10**6 + 1000, 20.5],
        [T0 // 10**6 + 2000, 21.0],
        [T0 // 10**6 + 3000, 21.5],
    ]


def test_the_latest_value_of_each_name_reads_as_vwclass_data_prints_it() -> None:
    records = [
        record("env.temperature", 21.0, 1),
        record("env.temperature", 21.5, 3),
        record("upload", "http://x/file.jpg", 2),
        record("flag", True, 2),
        record("count", 21.0, 2),
        record("broken", float("inf"), 2),
        record("list", [1, 2], 2),
    ]
    latest = {item["name"]: item for item in model.latest(records)}
    assert [item["name"] for item in model.latest(records)] == sorted(latest)
    assert {name: item["text"] for name, item in latest.items()} == {
        "broken": "Infinity",
        "count": "21.0",
        "env.temperature": "21.5",
        "flag": "true",
        "list": "[1, 2]",
        "upload": "http://x/file.jpg",
    }
    assert latest["env.temperature"]["value"] == 21.5
    assert latest["env.temperature"]["timestamp"] == "t+3"
    assert latest["broken"]["value"] == "inf"  # the page's JSON.parse knows no Infinity
    assert latest["list"]["value"] == "[1, 2]"


def test_a_log_keeps_its_last_lines_as_plain_text() -> None:
    text = "".join(f"line {i}\n" for i in range(30)) + "\x1b[31mred\x1b[0m\r\nbell\x07 " + "x" * 500 + "\n"
    tail = model.log_tail(text, lines=3).split("\n")
    assert tail[0] == "line 29"
    assert tail[1] == "red"
    assert tail[2].startswith("bell " + "x" * 100)
    assert tail[2].endswith(" ...")
    assert len(tail[2]) == model.MAX_LOG_LINE + 4
    assert model.log_tail("") == ""


def test_the_newest_plugin_pod_of_each_namespace_is_the_one_shown() -> None:
    node = {"metadata": {"name": "node-0", "namespace": "a", "labels": {"app.kubernetes.io/name": "node"}}}
    old = plugin_pod("a", "hello-1", "2025-11-30T08:00:00Z", task="hello")
    new = plugin_pod("a", "counter-2", "2025-11-30T08:05:00Z", state="waiting", task="counter")
    other = plugin_pod("b", "hello-3", "2025-11-30T08:01:00Z")
    newest = model.newest_plugin_pods([node, new, old, other])
    assert {ns: pod["metadata"]["name"] for ns, pod in newest.items()} == {"a": "counter-2", "b": "hello-3"}
    assert model.has_log(old)
    assert not model.has_log(new)
    assert model.plugin_of(new) == {"name": "counter", "phase": "Running", "created": "2025-11-30T08:05:00Z"}
    assert model.plugin_of(None) is None


# -- the snapshot ---------------------------------------------------------------------------------------
def test_the_snapshot_has_a_card_per_student_in_roster_order_with_what_was_read() -> None:
    rows = (
        row("student-002"),
        row("student-001", ready=False, reason="rabbitmq: ImagePullBackOff", rabbitmq="ImagePullBackOff"),
        row("student-003"),
    )
    pod = plugin_pod("physics-student-002", "hello-1", "2025-11-30T08:00:00Z")
    health = model.Health(rows, False, "Degraded", {"physics-student-002": pod})
    readings = {
        "student-002": model.Reading(
            (record("env.temperature", 21.5, 1, "student-002"),), "", "2025-11-30T08:00:05Z", "hello\nworld", ""
        ),
        "student-003": model.Reading(data_error="unreachable (502 connection refused)"),
    }
    document = model.snapshot("physics", health, readings, updated_at="2025-11-30T08:00:06Z", since="-2h", points=30)
    assert json.loads(model.to_json(document)) == document
    assert {k: v for k, v in document.items() if k != "students"} == {
        "class": "physics",
        "phase": "Degraded",
        "updatedAt": "2025-11-30T08:00:06Z",
        "error": "",
        "since": "-2h",
        "points": 30,
        "counts": {"ready": 2, "failing": 1},
    }
    cards = {card["id"]: card for card in document["students"]}
    assert [card["id"] for card in document["students"]] == ["student-002", "student-001", "student-003"]
    assert cards["student-002"] == {
        "id": "student-002",
        "name": "",
        "namespace": "physics-student-002",
        "health": "ready",
        "detail": "",
        "restarts": 0,
        "data": {
            "series": {"env.temperature": [[T0 // 10**6 + 1000, 21.5]]},
            "latest": [{"name": "env.temperature", "value": 21.5, "text": "21.5", "timestamp": "t+1"}],
            "error": "",
            "readAt": "2025-11-30T08:00:05Z",
        },
        "plugin": {"name": "hello", "phase": "Running", "created": "2025-11-30T08:00:00Z"},
        "logs": {"text": "hello\nworld", "error": ""},
    }
    assert cards["student-001"]["health"] == "failing: rabbitmq: ImagePullBackOff"
    assert cards["student-001"]["data"] == {"series": {}, "latest": [], "error": "", "readAt": ""}
    assert cards["student-001"]["plugin"] is None
    assert cards["student-003"]["data"]["error"] == "unreachable (502 connection refused)"
    # Nothing of the pods' specs (a plugin's environment, say) reaches the page.
    assert "s3cret" not in model.to_json(document).decode()


def test_before_the_first_reading_the_snapshot_names_the_class_and_its_error() -> None:
    document = model.snapshot("physics", None, {}, updated_at="", error="cannot reach the cluster: refused")
    assert document["students"] == []
    assert document["error"] == "cannot reach the cluster: refused"
    assert json.loads(model.to_json(document))["class"] == "physics"


def test_the_json_is_strict() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        model.to_json({"value": float("nan")})
