"""Drift detection and status computation: the pure halves of a quiet, honest reconcile."""

from __future__ import annotations

from typing import Any

from vwclass.core import drift, status


def test_server_defaults_are_not_drift_but_edits_and_additions_are() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "labels": {"a": "1"}},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}},
    }
    actual: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "labels": {"a": "1"}, "uid": "u", "resourceVersion": "9"},
        "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": "x"}, "clusterIP": "10.0.0.9"},
    }
    assert not drift.differs(desired, actual)
    assert drift.differs(desired, None)
    edited = {**actual, "spec": {**actual["spec"], "selector": {"app": "y"}}}
    assert drift.differs(desired, edited)
    added = {**actual, "spec": {**actual["spec"], "ports": [{"port": 80}, {"port": 81}]}}
    assert drift.differs(desired, added)


def test_a_ready_class_a_provisioning_one_and_a_failing_one() -> None:
    ready = status.class_status(3, [status.StudentState("a", True), status.StudentState("b", True)], False)
    assert ready["phase"] == "Ready"
    assert ready["students"]["summary"] == "2/2"
    assert {c["type"]: c["status"] for c in ready["conditions"]} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
    }
    busy = status.class_status(
        3, [status.StudentState("a", True), status.StudentState("b", False, "rabbitmq: starting")], False
    )
    assert busy["phase"] == "Provisioning"
    assert busy["notReady"] == [{"student": "b", "reason": "rabbitmq: starting"}]
    failing = status.class_status(3, [status.StudentState("b", False, "plugin-runner: ImagePullBackOff", True)], False)
    assert failing["phase"] == "Degraded"
    assert {c["type"]: c["status"] for c in failing["conditions"]}["Stalled"] == "True"


def test_transition_times_move_only_when_a_condition_changes() -> None:
    first = status.with_transition_times(
        status.class_status(1, [status.StudentState("a", False, "x")], False), None, "T1"
    )
    second = status.with_transition_times(status.class_status(1, [status.StudentState("a", True)], False), first, "T2")
    times = {c["type"]: c["lastTransitionTime"] for c in second["conditions"]}
    assert times == {"Ready": "T2", "Reconciling": "T2", "Stalled": "T1"}


def test_an_env_var_added_by_hand_to_a_container_without_env_is_drift() -> None:
    desired = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}},
    }
    actual: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "redis", "image": "redis:7", "imagePullPolicy": "IfNotPresent"}]}
            }
        },
    }
    assert not drift.differs(desired, actual)
    actual["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    assert drift.differs(desired, actual)


def test_a_running_pod_that_is_not_ready_is_not_called_starting() -> None:
    def pod(ready: str, containers_ready: str) -> dict[str, object]:
        return {
            "metadata": {"labels": {"app.kubernetes.io/name": "node"}},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": ready},
                    {"type": "ContainersReady", "status": containers_ready},
                ],
                "initContainerStatuses": [
                    {
                        "name": "rabbitmq",
                        "ready": containers_ready == "True",
                        "state": {"running": {"startedAt": "now"}},
                    }
                ],
            },
        }

    workload = {
        "kind": "StatefulSet",
        "metadata": {"name": "node", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1},
    }
    probing = status.student_state("s", workload, ["rabbitmq"], [pod("False", "False")], 1)
    lost = status.student_state("s", workload, ["rabbitmq"], [pod("False", "True")], 1)
    assert probing.reason == "rabbitmq: running, not ready yet"
    assert lost.reason == "node: running but not Ready (node not reporting?)"
    assert not lost.failing
