"""When a student's node is idle (spec.idleTimeout), from what shows their activity; and what the class
status says of idle students."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vwclass.core import idleness, names, status

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
MINUTES = dt.timedelta(minutes=1)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def plugin_pod(created: dt.datetime, phase: str = "Running", finished: dt.datetime | None = None) -> dict[str, Any]:
    statuses = [{"state": {"terminated": {"finishedAt": stamp(finished)}}}] if finished else []
    return {
        "metadata": {"labels": {names.MANAGED_BY: idleness.PLUGIN_MANAGER}, "creationTimestamp": stamp(created)},
        "status": {"phase": phase, "containerStatuses": statuses},
    }


def test_a_running_plugin_is_activity_now_and_a_finished_one_when_it_started_or_ended() -> None:
    assert idleness.plugin_activity([plugin_pod(NOW - 90 * MINUTES)], NOW) == NOW
    finished = plugin_pod(NOW - 90 * MINUTES, "Succeeded", NOW - 60 * MINUTES)
    assert idleness.plugin_activity([finished], NOW) == NOW - 60 * MINUTES
    older = plugin_pod(NOW - 200 * MINUTES, "Failed")
    assert idleness.plugin_activity([older, finished], NOW) == NOW - 60 * MINUTES
    # The node's own pods, and a plugin pod on its way out, say nothing.
    node = {"metadata": {"labels": {names.MANAGED_BY: names.MANAGED_BY_VALUE}}, "status": {"phase": "Running"}}
    leaving = plugin_pod(NOW)
    leaving["metadata"]["deletionTimestamp"] = stamp(NOW)
    assert idleness.plugin_activity([node, leaving], NOW) is None


def test_the_teachers_wake_is_read_from_the_namespace() -> None:
    namespace = {"metadata": {"annotations": {names.WOKEN_ANNOTATION: stamp(NOW - 5 * MINUTES)}}}
    assert idleness.woken_at(namespace) == NOW - 5 * MINUTES
    assert idleness.woken_at({"metadata": {}}) is None
    assert idleness.woken_at(None) is None


def test_the_class_starts_running_when_first_seen_and_again_after_any_suspension() -> None:
    assert idleness.running_since(None, False, NOW) == NOW
    kept = {"runningSince": stamp(NOW - 60 * MINUTES)}
    assert idleness.running_since(kept, False, NOW) == NOW - 60 * MINUTES
    assert idleness.running_since({**kept, "suspendedBy": "OutsideLectureHours"}, False, NOW) == NOW
    assert idleness.running_since(kept, True, NOW) is None


def test_a_student_is_idle_a_timeout_after_their_last_activity_of_any_kind() -> None:
    timeout = 30 * MINUTES
    quiet = idleness.Activity(class_started=NOW - 45 * MINUTES)
    assert quiet.idle(timeout, NOW)
    assert quiet.idle_at(timeout) == NOW - 15 * MINUTES
    for recent in (
        idleness.Activity(NOW - 45 * MINUTES, woken=NOW - 10 * MINUTES),
        idleness.Activity(NOW - 45 * MINUTES, plugins=NOW - 10 * MINUTES),
        idleness.Activity(NOW - 45 * MINUTES, messages=NOW - 10 * MINUTES),
    ):
        assert not recent.idle(timeout, NOW)
        assert recent.idle_at(timeout) == NOW + 20 * MINUTES
    assert not idleness.Activity(None).idle(timeout, NOW)  # nothing known: never idle


def test_the_last_message_is_the_data_endpoints_last_stored_batch() -> None:
    metrics = (
        "# HELP vwclass_dataendpoint_last_commit_timestamp_seconds Unix time of the last committed batch.\n"
        "# TYPE vwclass_dataendpoint_last_commit_timestamp_seconds gauge\n"
        f"vwclass_dataendpoint_last_commit_timestamp_seconds {NOW.timestamp()}\n"
    )
    assert idleness.last_message(metrics) == NOW
    assert idleness.last_message(metrics.replace(str(NOW.timestamp()), "0.0")) is None  # nothing since it started
    assert idleness.last_message("not metrics {") is None


def test_an_idle_student_is_at_zero_not_ready_yet_the_class_is_ready() -> None:
    students = [
        status.StudentState("student-001", True),
        status.StudentState("student-002", True, idle_since=stamp(NOW)),
    ]
    block = status.class_status(3, students, suspended=False)
    assert block["students"] == {"desired": 2, "ready": 1, "idle": 1, "summary": "1/2 (1 idle)"}
    assert block["idle"] == [{"student": "student-002", "since": stamp(NOW)}]
    ready = status.condition(block, "Ready")
    assert (ready["status"], ready["message"]) == (
        "True",
        "all 2 students' virtual Waggle nodes are ready (1 idle, at zero)",
    )
    assert block["phase"] == "Ready"
    # Without idle students the block is as it always was.
    assert "idle" not in status.class_status(3, students[:1], suspended=False)


def test_a_plugin_run_counts_after_its_pod_is_gone_and_drops_the_nodes_kept_answer() -> None:
    from vwclass.operator.idling import LastMessages

    memory, key = LastMessages(), ("uid", "student-001")
    memory.put(key, None, NOW - MINUTES / 2)  # the node said: nothing stored
    assert memory.get(key, 30 * MINUTES, NOW) == (True, None)
    assert memory.plugins_seen(key, NOW) == NOW  # a plugin runs
    assert memory.get(key, 30 * MINUTES, NOW) == (False, None)  # the node must be asked again
    assert memory.plugins_seen(key, None) == NOW  # `vwclass plugin run` removed its pod: it still counts
    assert memory.plugins_seen(key, NOW - 60 * MINUTES) == NOW  # an older one changes nothing


def test_the_last_workspace_use_is_jupyters_last_activity() -> None:
    metrics = (
        "# HELP jupyter_server_last_activity_timestamp_seconds Timestamp of last seen activity\n"
        "# TYPE jupyter_server_last_activity_timestamp_seconds gauge\n"
        f"jupyter_server_last_activity_timestamp_seconds {NOW.timestamp()}\n"
        f"jupyter_server_started_timestamp_seconds {NOW.timestamp() - 3600}\n"
    )
    assert idleness.last_workspace_use(metrics) == NOW
    assert idleness.last_workspace_use("") is None  # not read: it says nothing
    assert idleness.last_message(metrics) is None  # the data endpoint's is another sample
