"""The pods and StatefulSets the watches delivered, as a state pass reads them, and a full pass's LIST."""

from __future__ import annotations

from typing import Any

from vwclass.core import names
from vwclass.operator.watched import Watched

Obj = dict[str, Any]


def pod(name: str, phase: str, namespace: str = "c-student-001", owner: str = "c") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {names.CLASS_LABEL: owner},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"containers": [{"name": "plugin-runner", "image": "r:1"}]},
        "status": {"phase": phase},
    }


def node(ready: int) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "node", "namespace": "c-student-001", "labels": {names.CLASS_LABEL: "c"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "plugin-runner"}]}}},
        "status": {"readyReplicas": ready},
    }


def phases(watched: Watched, owner: str = "c") -> dict[str, str]:
    pods, _nodes = watched.of_class(owner)
    return {p["metadata"]["name"]: p["status"]["phase"] for each in pods.values() for p in each}


def test_events_keep_each_pod_and_statefulset_slimmed_by_class_and_drop_the_deleted() -> None:
    watched = Watched()
    watched.record("ADDED", pod("node-0", "Pending"))
    watched.record("MODIFIED", pod("node-0", "Running"))
    watched.record("ADDED", pod("node-0", "Running", owner="other"))
    watched.record("ADDED", node(1))
    watched.record("ADDED", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "rabbitmq"}})
    pods, nodes = watched.of_class("c")
    (kept,) = pods["c-student-001"]
    assert kept["status"]["phase"] == "Running"
    assert "spec" not in kept
    assert "managedFields" not in kept["metadata"]
    (statefulset,) = nodes.values()
    assert statefulset["spec"] == {"replicas": 1}
    assert statefulset["status"] == {"readyReplicas": 1}
    assert phases(watched, "other") == {"node-0": "Running"}
    watched.record("DELETED", pod("node-0", "Running"))
    assert phases(watched) == {}


def test_a_full_pass_list_replaces_the_class_but_not_what_events_said_after_it_began() -> None:
    watched = Watched()
    watched.record("ADDED", pod("stale-0", "Running"))  # deleted while a watch was away: never said
    watched.record("ADDED", pod("node-0", "Pending"))
    since = watched.mark()
    watched.record("MODIFIED", pod("node-0", "Running"))  # newer than what the LIST below read
    watched.record("ADDED", pod("plugin-0", "Running"))
    watched.record("DELETED", pod("plugin-0", "Running"))
    listed = [pod("node-0", "Pending"), pod("plugin-0", "Running"), pod("fresh-0", "Pending")]
    watched.replace("c", listed, since)
    assert phases(watched) == {"node-0": "Running", "fresh-0": "Pending"}
    # The next full pass's LIST, begun after all of that, is the truth again.
    watched.replace("c", [pod("plugin-0", "Running")], watched.mark())
    assert phases(watched) == {"plugin-0": "Running"}


def test_a_deleted_class_is_forgotten() -> None:
    watched = Watched()
    watched.record("ADDED", pod("node-0", "Running"))
    watched.forget("c")
    assert watched.of_class("c") == ({}, {})
