"""On the real node, one student's runaway pod is stopped alone: disk, process IDs, memory.

Student A runs, as themselves and with nothing but the namespace's defaults (the LimitRange's limits),
a pod that fills its disk, a fork bomb, and a pod that allocates past its memory limit. Each time:
- the kubelet stops that pod alone (evicted for its ephemeral storage, held at the node's
  podPidsLimit, OOM-killed);
- the node reports no pressure, and every student's node (A's own included) stays Ready with no
  container restarted, still answering the data API with the records stored before.

Behaviour, not layout: the limits are whatever the namespace's LimitRange and the kubelet say.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube import eventually, unique
from tests.support.realnode import ON_THE_REAL_NODE, RealClass, Student, class_on_the_real_node, runner_image, stored
from vwclass.core import capacity
from vwclass.kube.api import Kube
from vwclass.kube.resources import NODE
from vwclass.testenv import realnode
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode


@pytest.fixture(scope="module")
def course(cluster: Cluster, teacher: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClass]:
    handout = tmp_path_factory.mktemp("handout") / "out"
    with class_on_the_real_node(teacher, cluster, unique("safe"), handout, students=2) as course:
        for student in course.students:
            student.python_in_runner(
                "from waggle.plugin import Plugin\nwith Plugin() as p:\n    p.publish('safety.before', 1)\n"
            )
            stored(student, "safety.before")
        yield course


def runaway_pod(student: Student, name: str, script: str, volumes: bool = False) -> dict[str, Any]:
    """A pod the student creates as themselves with no resources of its own (the LimitRange's apply),
    running script; returned as the API server admitted it."""
    container: dict[str, Any] = {
        "name": "runaway",
        "image": runner_image(student),
        "command": ["sh", "-c", script],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    spec: dict[str, Any] = {
        **ON_THE_REAL_NODE,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if volumes:
        container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    student.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    admitted: dict[str, Any] = json.loads(student.kubectl("get", "pod", name, "-o", "json"))
    return admitted


def pod(student: Student, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(student.kubectl("get", "pod", name, "-o", "json"))
    return found


def limit_of(admitted: dict[str, Any], resource: str) -> int:
    return int(capacity.quantity(admitted["spec"]["containers"][0]["resources"]["limits"][resource]))


def restarts(student: Student) -> dict[str, int]:
    counts = {}
    for node_pod in student.node_pods():
        status = node_pod.get("status", {})
        for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            counts[f"{node_pod['metadata']['name']}/{container['name']}"] = int(container.get("restartCount", 0))
    return counts


def assert_the_class_is_unharmed(course: RealClass, restarts_before: dict[str, dict[str, int]]) -> None:
    """No node pressure; every student's node Ready, nothing restarted, the records of before answered."""
    node = course.teacher.get(NODE, realnode.NODE_NAME)
    assert node is not None
    pressure = {c["type"]: c["status"] for c in node["status"]["conditions"] if c["type"].endswith("Pressure")}
    assert set(pressure.values()) == {"False"}, pressure
    for student in course.students:
        ready = [
            all(c.get("ready") for c in p.get("status", {}).get("containerStatuses", [])) for p in student.node_pods()
        ]
        assert ready, f"{student.id}'s node has no pod"
        assert all(ready), f"{student.id}'s node not Ready"
        assert restarts(student) == restarts_before[student.id], student.id
        assert stored(student, "safety.before", timeout=60)


def test_a_pod_writing_past_its_disk_limit_is_evicted_alone(course: RealClass) -> None:
    a = course.students[0]
    before = {s.id: restarts(s) for s in course.students}
    # Past the container's limit, in an emptyDir of no size of its own: only the pod's limit holds it.
    admitted = runaway_pod(a, "disk-filler", "dd if=/dev/zero of=/scratch/fill bs=1M count=1400; sleep 3600", True)
    limit = limit_of(admitted, "ephemeral-storage")
    assert limit < 1400 * 2**20, f"the LimitRange's default disk limit ({limit} bytes) is not below what dd writes"
    started = time.monotonic()

    def evicted() -> dict[str, Any] | None:
        status = pod(a, "disk-filler").get("status", {})
        return status if status.get("reason") == "Evicted" else None

    status = eventually(evicted, timeout=180, interval=3, what="the disk filler evicted")
    print(f"\ndisk filler evicted {time.monotonic() - started:.0f}s after creation: {status.get('message')}")
    assert "ephemeral" in status.get("message", "").lower(), status
    assert_the_class_is_unharmed(course, before)
    a.kubectl("delete", "pod", "disk-filler", "--wait=true")


def test_a_fork_bomb_stops_at_its_own_pod(course: RealClass) -> None:
    a = course.students[0]
    before = {s.id: restarts(s) for s in course.students}
    runaway_pod(a, "fork-bomb", "bomb() { bomb | bomb & }; bomb; sleep 3600")
    uid = eventually(
        lambda: (p := pod(a, "fork-bomb")).get("status", {}).get("phase") == "Running" and p["metadata"]["uid"],
        timeout=120,
        what="the fork bomb running",
    )
    [cgroup] = list(Path("/sys/fs/cgroup/pids/kubepods").glob(f"**/pod{uid}"))
    pids_max = (cgroup / "pids.max").read_text().strip()
    assert pids_max != "max", "the pod's PIDs are not limited"
    assert int(pids_max) <= 4096, pids_max

    def at_the_limit() -> int | None:
        current = int((cgroup / "pids.current").read_text())
        return current if current >= int(pids_max) * 0.9 else None

    reached = eventually(at_the_limit, timeout=120, interval=2, what="the fork bomb reaching its pod's PID limit")
    print(f"\nfork bomb at {reached} of its pod's {pids_max} PIDs")
    # While it runs: other processes still start, in B's node as on the machine.
    b = course.students[1]
    assert b.in_runner("sh", "-c", "echo forked").strip() == "forked"
    assert_the_class_is_unharmed(course, before)
    a.kubectl("delete", "pod", "fork-bomb", "--grace-period=0", "--wait=true", timeout=180)


def test_a_pod_past_its_memory_limit_is_oom_killed_alone(course: RealClass) -> None:
    a = course.students[0]
    before = {s.id: restarts(s) for s in course.students}
    admitted = runaway_pod(a, "memory-hog", "python3 -c 'b = bytearray(2 * 1024**3); print(len(b))'")
    assert limit_of(admitted, "memory") < 2 * 1024**3

    def terminated() -> dict[str, Any] | None:
        statuses = pod(a, "memory-hog").get("status", {}).get("containerStatuses", [])
        state = statuses[0].get("state", {}).get("terminated") if statuses else None
        return state or None

    state = eventually(terminated, timeout=120, interval=2, what="the memory hog stopped")
    assert state["reason"] == "OOMKilled", state
    assert_the_class_is_unharmed(course, before)
    a.kubectl("delete", "pod", "memory-hog", "--wait=true")
