"""The pure parts of `vwclass report`: a node pod's state, metrics read, and who is stuck."""

from __future__ import annotations

from typing import Any

from vwclass.core import nodereport

NS = 10**9
NOW = 1_764_489_600 * NS
HOUR_AGO = NOW - 3600 * NS


def pod(ready: bool = True, runner_ready: bool = True, waiting: str | None = None) -> dict[str, Any]:
    runner: dict[str, Any] = {"name": "plugin-runner", "ready": runner_ready, "state": {"running": {}}}
    endpoint: dict[str, Any] = {"name": "data-endpoint", "ready": waiting is None, "state": {"running": {}}}
    if waiting:
        endpoint["state"] = {"waiting": {"reason": waiting}}
    return {
        "metadata": {"name": "node-0", "namespace": "c-student-001"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [endpoint, runner],
        },
    }


RABBITMQ = """# TYPE rabbitmq_queue_messages_ready gauge
rabbitmq_queue_messages_ready{vhost="/",queue="to-validator"} 3
rabbitmq_queue_messages_ready{vhost="/",queue="to-beehive"} 0
rabbitmq_queue_messages_ready{vhost="/",queue="amq.gen-abc"} 2
rabbitmq_queue_messages_ready{vhost="/",queue="amq.gen-def"} 1
rabbitmq_queue_messages_ready{vhost="other",queue="to-validator"} 99
# TYPE rabbitmq_queue_messages_unacked gauge
rabbitmq_queue_messages_unacked{vhost="/",queue="to-validator"} 1
# TYPE rabbitmq_queue_consumers gauge
rabbitmq_queue_consumers{vhost="/",queue="to-validator"} 1
"""
ENDPOINT = """# TYPE vwclass_dataendpoint_records_stored_total counter
vwclass_dataendpoint_records_stored_total 7.0
# TYPE vwclass_dataendpoint_messages_rejected_total counter
vwclass_dataendpoint_messages_rejected_total{reason="json"} 2.0
vwclass_dataendpoint_messages_rejected_total{reason="scope"} 0.0
# TYPE vwclass_dataendpoint_consuming gauge
vwclass_dataendpoint_consuming 1.0
"""
SHARING = """wes_data_sharing_service_messages_total 12
wes_data_sharing_service_messages_rejected_total{reason="no_app_meta"} 4
"""


def test_a_node_pod_is_ready_or_says_why_not() -> None:
    assert nodereport.node_state(pod()) == nodereport.NodeState(True, True)
    assert nodereport.node_state(None).why.startswith("no node pod")
    state = nodereport.node_state(pod(ready=False, waiting="CrashLoopBackOff"))
    assert not state.ready
    assert state.why == "data-endpoint CrashLoopBackOff"
    assert nodereport.node_state({"metadata": {}, "status": {"phase": "Pending"}}).why == "node pod Pending"


def test_queue_depths_are_ready_plus_unacked_of_the_nodes_vhost() -> None:
    assert nodereport.queue_depths(RABBITMQ) == {"to-validator": 4, "to-beehive": 0, "amq.gen-*": 3}
    assert nodereport.queues_cell({"to-validator": 4, "to-beehive": 0, "amq.gen-*": 3, "x": 0}) == (
        "to-validator=4 to-beehive=0 amq.gen-*=3"
    )
    assert nodereport.queue_depths("not prometheus {{{") == {}


def test_stored_and_rejected_by_reason_from_the_endpoint_and_the_data_sharing_service() -> None:
    counts = nodereport.endpoint_counts(ENDPOINT, SHARING)
    assert counts.stored == 7
    assert counts.rejected == {"json": 2, "no_app_meta": 4}
    assert counts.consuming
    assert nodereport.rejected_cell(counts.rejected) == "6 (no_app_meta 4, json 2)"
    assert nodereport.rejected_cell({}) == "0"


def report(**overrides: Any) -> nodereport.StudentReport:
    arguments: dict[str, Any] = {
        "rabbitmq_metrics": RABBITMQ,
        "endpoint_metrics": ENDPOINT,
        "sharing_metrics": SHARING,
        "last_message_ns": NOW - 60 * NS,
        "now_ns": NOW,
        "window": "-1h",
        "window_start_ns": HOUR_AGO,
    }
    node = overrides.pop("pod", pod())
    arguments.update(overrides)
    return nodereport.student_report("student-001", "c-student-001", node, **arguments)


def test_a_student_with_a_recent_message_is_ok() -> None:
    row = report()
    assert (row.state, row.stuck, row.stored, row.node) == ("ok", False, 7, "ready")
    assert row.as_dict("2025-11-30T07:59:00Z")["lastMessage"] == "2025-11-30T07:59:00Z"


def test_a_ready_runner_and_no_message_in_the_window_is_stuck_with_the_rejections() -> None:
    row = report(last_message_ns=HOUR_AGO - NS)
    assert row.stuck
    assert row.state == "STUCK: no message stored since -1h (6 rejected)"
    assert report(last_message_ns=None, sharing_metrics="", endpoint_metrics="").state == (
        "STUCK: no message stored since -1h"
    )


def test_a_node_not_ready_is_a_row_that_says_so() -> None:
    row = report(pod=pod(ready=False, waiting="ImagePullBackOff"), endpoint_metrics=None, rabbitmq_metrics=None)
    assert row.state == "NODE NOT READY: data-endpoint ImagePullBackOff"
    assert row.stored is None
    assert report(pod=None).state.startswith("NODE NOT READY: no node pod")


def test_an_endpoint_that_does_not_answer_is_unreachable_with_the_reason() -> None:
    row = report(endpoint_metrics=None, problems=["data endpoint: 503 no endpoints"])
    assert row.state == "UNREACHABLE: data endpoint: 503 no endpoints"


def test_a_last_message_that_could_not_be_read_is_unreachable_not_stuck() -> None:
    row = report(last_message_ns=nodereport.UNREAD, problems=["data endpoint query: 503 busy"])
    assert row.state == "UNREACHABLE: data endpoint query: 503 busy"
    assert row.last_message_ns is None
