"""Capacity, checked before it bites: on one kwok node of a kubelet's 110 pods, a class that cannot fit
says so by name, and the largest class the check predicts does fit (and reads as fitting when full)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.classes import class_body, condition, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from tests.support.nodes import only_node
from tests.support.pods import student_pod
from vwclass.core import capacity, presets
from vwclass.core.spec import ClassSpec, parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, NAMESPACE, NODE, POD
from vwclass.operator.capacity_check import capacity_shortfall
from vwclass.testenv.cluster import Cluster, NodeShape


@pytest.fixture(scope="module")
def classroom_node(testenv_cluster: Cluster | None, kube: Kube) -> Iterator[str]:
    if testenv_cluster is None:
        pytest.skip("shaping nodes needs the local control plane's kwok, not VWCLASS_TEST_KUBECONFIG")
    with only_node(testenv_cluster, kube, NodeShape(cpu="48", memory="187Gi", pods=110)) as name:
        yield name


def rooms(kube: Kube) -> list[capacity.NodeRoom]:
    return capacity.node_rooms(kube.list(NODE), kube.list(POD, field_selector=capacity.HOLDING_ROOM))


def sizing(students: int = 1) -> ClassSpec:
    return parse_class(class_body("sizing", students=students))


def per_student(students: int = 1) -> tuple[capacity.PodNeed, ...]:
    return capacity.class_need(sizing(students)).pods_per_student


def filler(node: str, replicas: int) -> list[dict[str, Any]]:
    """Pods of someone else on the node (a namespace and a Deployment pinned there)."""
    labels = {"app": "filler"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "capacity-filler"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "filler", "namespace": "capacity-filler"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": node},
                        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}],
                    },
                },
            },
        },
    ]


# One class of about a hundred students plays both parts (each takes a minute or two to come up on a
# stock control plane): too big by one student while another tenant holds a student's worth of slots,
# then, once that tenant leaves, the largest class the check predicts for the empty node.
def test_a_class_too_big_for_the_node_says_so_then_with_room_is_the_largest_that_fits_and_reads_as_fitting(
    kube: Kube, classroom_node: str, operator: EmbeddedOperator
) -> None:
    (empty,) = rooms(kube)
    assert empty == capacity.NodeRoom(classroom_node, 110, 48000, 187 * 2**30, 2**40)
    # The class's image pre-pull pod and its gateway's take slots of the node beside its students.
    largest = capacity.largest_class(per_student(), capacity.room_beside_shared_pods(sizing(), [empty]))
    assert largest >= 2
    pods = len(per_student())
    # Someone else holds one student's worth of slots on the node; room appears when they leave.
    for obj in filler(classroom_node, pods):
        kube.apply(obj)
    eventually(lambda: rooms(kube)[0].pods == 110 - pods, timeout=60, what="the filler's pods placed")
    students = capacity.largest_class(per_student(), capacity.room_beside_shared_pods(sizing(), rooms(kube))) + 1
    assert students == largest, "pod slots are what runs short"
    kube.apply(class_body("overfull", students=students))
    try:

        def short() -> dict[str, str] | None:
            ready = condition(kube, "overfull", "Ready")
            return ready if ready.get("reason") == "InsufficientCapacity" else None

        ready = eventually(short, timeout=60, what="class overfull not Ready for InsufficientCapacity")
        assert ready["status"] == "False"
        assert re.match(r"needs \S+ (pods|CPUs|of memory)", ready["message"]), ready
        assert condition(kube, "overfull", "Stalled")["reason"] == "InsufficientCapacity"
        # Once the node is full, what is left is exactly what does not fit: stated, not flapping.
        missing = students * pods + 2 - (110 - pods)  # its students' pods, its pre-pull and gateway pods
        eventually(
            lambda: (short() or {}).get("message") == f"needs {missing} pods; the nodes can take 0 more",
            timeout=240,
            what=f"the shortfall settles at {missing} pods",
        )
        body = kube.get(CLASS, "overfull")
        assert body is not None
        assert body["status"]["phase"] == "Degraded"

        # Room appears on the node (the other tenant leaves): the class becomes Ready by itself.
        kube.delete(NAMESPACE, "capacity-filler")
        body = wait_ready(kube, "overfull", students, timeout=300)
        assert condition(kube, "overfull", "Stalled")["status"] == "False"
        # The node is now full of this class's own pods: they count as used, nothing is missing, no flap.
        (room,) = rooms(kube)
        assert room.pods == 110 - largest * pods - 2  # and its pre-pull and gateway pods
        assert capacity_shortfall(kube, body, parse_class(body)) == ""
        # One student more would not fit, and the check says so.
        assert not capacity.check(list(per_student()), [room]).fits
    finally:
        kube.delete(NAMESPACE, "capacity-filler")
        delete_class(kube, "overfull", timeout=300)


def plugin_pod(namespace: str, index: int) -> dict[str, Any]:
    """A plugin's pod as a student starts one."""
    return student_pod(f"plugin-{index}", namespace, {"app": "plugin"})


# With the node in one pod, 30 students take 30 of a kubelet's 110 slots; with five pods each (before)
# they needed 150, and the capacity check said so at once.
def test_thirty_students_fit_one_node_with_room_for_two_plugin_pods_each(
    kube: Kube, classroom_node: str, operator: EmbeddedOperator
) -> None:
    need = per_student()
    # A plugin pod without requests of its own gets the namespace LimitRange's defaults.
    defaults = presets.CONTAINER_DEFAULTS
    cpu_millis = int(capacity.quantity(defaults.request_cpu) * 1000)
    plugins = [capacity.PodNeed("plugin", cpu_millis, int(capacity.quantity(defaults.request_memory)))] * 2
    verdict = capacity.check(list(need + tuple(plugins)) * 30, rooms(kube))
    assert verdict.fits, verdict.message
    kube.apply(class_body("thirty", students=30))
    try:
        body = wait_ready(kube, "thirty", 30, timeout=300)
        for student in parse_class(body).students:
            for index in range(2):
                kube.create(plugin_pod(student.namespace, index))

        def plugins_placed() -> bool:
            placed = [
                p
                for p in kube.list(POD, "app=plugin")
                if p["metadata"]["namespace"].startswith("thirty-") and p["spec"].get("nodeName") == classroom_node
            ]
            return len(placed) == 60

        eventually(plugins_placed, timeout=120, what="60 plugin pods placed on the one node")
        assert rooms(kube)[0].pods == 110 - 30 * len(need) - 60 - 2  # and the class's pre-pull and gateway pods
    finally:
        delete_class(kube, "thirty", timeout=300)
