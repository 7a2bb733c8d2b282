"""The capacity check: a class's missing pods packed into its usable nodes' free room."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from vwclass.core import capacity, names, render
from vwclass.core.capacity import NodeRoom, PodNeed
from vwclass.core.spec import ClassSpec, parse_class

GI = 2**30


def make_class(**spec: Any) -> ClassSpec:
    spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


def node(name: str, pods: int = 110, cpu: str = "16", memory: str = "64Gi", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": spec.pop("labels", {})},
        "spec": spec,
        "status": {"allocatable": {"pods": str(pods), "cpu": cpu, "memory": memory}},
    }


def pod(
    node_name: str | None,
    cpu: str = "100m",
    memory: str = "128Mi",
    phase: str = "Running",
    namespace: str = "other",
    component: str = "x",
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": namespace, "labels": {capacity.COMPONENT_LABEL: component}},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        },
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [("250m", Decimal("0.25")), ("2", 2), ("1.5", Decimal("1.5")), ("64Mi", 64 * 2**20), ("1e3", 1000), ("1k", 1000)],
)
def test_quantities_read_as_the_api_server_writes_them(text: str, value: Decimal) -> None:
    assert capacity.quantity(text) == value


def test_a_bad_quantity_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="12parsecs"):
        capacity.quantity("12parsecs")


def test_pod_requests_count_native_sidecars_and_the_largest_init_container() -> None:
    spec = {
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
            {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "10Mi"}}},
        ],
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b"},
        ],
    }
    cpu, memory = capacity.pod_requests(spec)
    assert cpu == 2100  # the init container and the sidecar started before it outweigh the containers
    assert memory == GI + 64 * 2**20  # the sidecar runs alongside the containers


def test_the_need_of_a_class_comes_from_its_render() -> None:
    cls = make_class(students=30)
    need = capacity.class_need(cls)
    workloads = [o for o in render.student_objects(cls, cls.students[0]) if o["kind"] in render.WORKLOAD_KINDS]
    assert len(need.pods_per_student) == len(workloads) == 1  # a student's node is one pod
    assert need.pods == 30
    assert need.claims_per_student == 1
    (node_pod,) = need.pods_per_student
    assert node_pod.component == "node"
    # the preset's runner request is part of the node pod's requests, with its sidecars' (RabbitMQ's)
    assert node_pod.cpu_millis >= 100 + 25
    assert node_pod.memory_bytes >= (256 + 160) * 2**20


def test_a_class_that_needs_more_pods_than_the_node_has_slots_names_the_shortfall() -> None:
    rooms = capacity.node_rooms([node("n1", pods=110)], [pod("n1") for _ in range(92)])
    verdict = capacity.check([PodNeed("x", 10, 2**20)] * 30, rooms)
    assert not verdict.fits
    assert verdict.placeable_pods == 18
    assert verdict.message == "needs 30 pods; the nodes can take 18 more"


def test_cpu_and_memory_run_short_too() -> None:
    rooms = capacity.node_rooms([node("n1", cpu="1", memory="1Gi")], [])
    verdict = capacity.check([PodNeed("x", 300, 300 * 2**20)] * 4, rooms)
    assert not verdict.fits
    assert "needs 1.2 CPUs of requests; the nodes have 1 free" in verdict.message
    assert "needs 1.2Gi of memory requests; the nodes have 1.0Gi free" in verdict.message


def test_a_node_short_of_local_disk_for_the_pods_disk_requests_says_so() -> None:
    small_disk = node("n1")
    small_disk["status"]["allocatable"]["ephemeral-storage"] = "1Gi"
    rooms = capacity.node_rooms([small_disk], [])
    verdict = capacity.check([PodNeed("x", 10, 2**20, disk_bytes=300 * 2**20)] * 4, rooms)
    assert not verdict.fits
    assert verdict.placeable_pods == 3
    assert "needs 1.2Gi of local disk (ephemeral-storage) requests; the nodes have 1.0Gi free" in verdict.message


def test_a_students_node_requests_local_disk_as_the_scheduler_counts_it() -> None:
    cls = make_class(students=1)
    [node_pod] = capacity.class_need(cls).pods_per_student
    # Every container of the node asks for some; the sum is what the scheduler reserves.
    assert 64 * 2**20 < node_pod.disk_bytes < 512 * 2**20, node_pod.disk_bytes


def test_room_split_across_nodes_is_not_room_for_a_large_pod() -> None:
    rooms = [NodeRoom("a", 10, 500, GI), NodeRoom("b", 10, 500, GI)]
    verdict = capacity.check([PodNeed("big", 800, 2**20)], rooms)
    assert not verdict.fits
    assert "split across" in verdict.message


def test_finished_and_unbound_pods_hold_no_room() -> None:
    pods = [pod("n1", phase="Succeeded"), pod("n1", phase="Failed"), pod(None), pod("n1", cpu="1")]
    (room,) = capacity.node_rooms([node("n1", pods=10, cpu="4")], pods)
    assert room == NodeRoom("n1", 9, 3000, 64 * GI - 128 * 2**20)


def test_cordoned_unselected_and_untolerated_nodes_are_not_usable() -> None:
    nodes = [
        node("cordoned", unschedulable=True),
        node("gpu", labels={"pool": "gpu"}),
        node("class", labels={"pool": "class"}),
        node("tainted", labels={"pool": "class"}, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
        node("preferred", labels={"pool": "class"}, taints=[{"key": "soft", "effect": "PreferNoSchedule"}]),
    ]
    assert [r.name for r in capacity.node_rooms(nodes, [])] == ["gpu", "class", "preferred"]
    selected = capacity.node_rooms(nodes, [], node_selector={"pool": "class"})
    assert [r.name for r in selected] == ["class", "preferred"]
    tolerating = [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
    assert [r.name for r in capacity.node_rooms(nodes, [], {"pool": "class"}, tolerating)] == [
        "class",
        "tainted",
        "preferred",
    ]
    assert capacity.node_rooms(nodes, [], {"pool": "class"}, [{"operator": "Exists"}])[1].name == "tainted"


def test_no_usable_node_says_so() -> None:
    verdict = capacity.check([PodNeed("x", 1, 1)], [])
    assert not verdict.fits
    assert "no node is usable" in verdict.message


def test_a_class_whose_pods_are_placed_misses_nothing_so_it_never_reads_as_short() -> None:
    cls = make_class(students=2)
    need = capacity.class_need(cls)
    placed = [
        pod("n1", namespace=s.namespace, component=p.component) for s in cls.students for p in need.pods_per_student
    ]
    assert capacity.missing_pods(cls, need, placed) == []
    # A full node holding exactly this class: the check weighs nothing and fits.
    rooms = capacity.node_rooms([node("n1", pods=len(placed))], placed)
    assert rooms[0].pods == 0
    assert capacity.check(capacity.missing_pods(cls, need, placed), rooms).fits
    # One pod gone (or still Pending, unbound): only that one is missing.
    pending = [
        *placed[1:],
        pod(None, namespace=cls.students[0].namespace, component=need.pods_per_student[0].component),
    ]
    assert capacity.missing_pods(cls, need, pending) == [
        dataclasses.replace(need.pods_per_student[0], student=cls.students[0].id)
    ]


def test_the_largest_class_that_fits_is_what_the_packing_takes() -> None:
    per_student = (PodNeed("a", 100, 256 * 2**20), PodNeed("b", 10, 16 * 2**20))
    rooms = [NodeRoom("n1", 110, 16000, 64 * GI)]
    assert capacity.largest_class(per_student, rooms) == 55  # pod slots run out first
    rooms = [NodeRoom("n1", 110, 1100, 64 * GI)]
    assert capacity.largest_class(per_student, rooms) == 10  # CPU runs out first
    assert capacity.largest_class(per_student, []) == 0


def test_insufficient_capacity_is_not_ready_and_stalled_but_not_hopeless() -> None:
    from vwclass.core import status

    block = status.class_status(
        1,
        [status.StudentState("student-001", False, "rabbitmq: unschedulable (Unschedulable)")],
        False,
        status.Stalled.INSUFFICIENT_CAPACITY,
        "needs 30 pods; the nodes can take 18 more",
    )
    ready = status.condition(block, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "InsufficientCapacity",
        "needs 30 pods; the nodes can take 18 more",
    )
    assert status.condition(block, "Stalled")["reason"] == "InsufficientCapacity"
    assert block["phase"] == "Degraded"
    assert not status.Stalled.INSUFFICIENT_CAPACITY.hopeless  # a node added, a class deleted: it recovers


def test_assess_weighs_only_the_missing_pods_of_the_class_against_the_placement() -> None:
    # Placement comes from the raw spec: the schema may not have it yet. Pre-pull and gateway pods are
    # weighed below.
    cls = make_class(students=3, imagePrePull=False, components={"workspace": False})
    need = capacity.class_need(cls)
    first = cls.students[0]
    own = [pod("a", namespace=first.namespace, component=p.component) for p in need.pods_per_student]
    for p in own:
        p["metadata"]["labels"] |= {names.CLASS_LABEL: cls.name, names.MANAGED_BY: names.MANAGED_BY_VALUE}
    nodes = [node("a", pods=len(own) + 2 * len(need.pods_per_student), labels={"pool": "class"}), node("b")]
    verdict = capacity.assess(
        cls, nodes, own, *capacity.placement_of({"placement": {"nodeSelector": {"pool": "class"}}})
    )
    assert verdict.fits
    assert verdict.needed_pods == 2 * len(need.pods_per_student)
    crowded = [*own, pod("a")]
    verdict = capacity.assess(cls, nodes, crowded, {"pool": "class"})
    assert not verdict.fits
    assert (
        verdict.message
        == f"needs {2 * len(need.pods_per_student)} pods; the nodes can take {verdict.placeable_pods} more"
    )


def test_a_pod_that_must_share_its_students_node_goes_only_where_that_student_runs() -> None:
    # Today's node is one pod; a render with a pod bound to another by required affinity (as the data
    # endpoint once was to the runner, for a ReadWriteOnce volume) is weighed as such.
    cls = make_class(students=1)
    endpoint = PodNeed("data-endpoint", 100, 2**20, together_with="plugin-runner")
    runner = PodNeed("plugin-runner", 100, 2**20)
    need = capacity.ClassNeed(1, (runner, endpoint), 1)
    namespace = cls.students[0].namespace
    placed = [pod("full", namespace=namespace, component="plugin-runner")]
    nodes = [node("full", pods=len(placed)), node("empty")]
    (missing,) = capacity.missing_pods(cls, need, placed)
    assert missing.node == "full"
    verdict = capacity.check([missing], capacity.node_rooms(nodes, placed))
    assert not verdict.fits  # an empty node is no room for it: its runner is on the full one
    assert "not on the node a student's other pods share" in verdict.message
    # Both still missing: they go together, so room for one of them on each of two nodes is not enough.
    runner = next(p for p in need.pods_per_student if p.component == "plugin-runner")
    pair = [dataclasses.replace(runner, student="a"), dataclasses.replace(endpoint, student="a")]
    assert capacity.place(pair, [NodeRoom("x", 1, 10**6, 10**12), NodeRoom("y", 1, 10**6, 10**12)]) == 1
    assert capacity.place(pair, [NodeRoom("x", 2, 10**6, 10**12)]) == 2


def test_the_pre_pull_pod_of_each_usable_node_is_weighed_on_that_node_until_it_runs_there() -> None:
    cls = make_class(students=1, components={"workspace": False})
    per_student = len(capacity.class_need(cls).pods_per_student)
    # Two usable nodes, one cordoned: a pre-pull pod each for the two, none for the cordoned one.
    nodes = [node("a", pods=per_student + 1), node("b", pods=1), node("c", unschedulable=True)]
    verdict = capacity.assess(cls, nodes, [])
    assert verdict.fits
    assert verdict.needed_pods == per_student + 2
    # Where it runs already, it holds its room and is not weighed again.
    running = pod("a", namespace=names.OPERATOR_NAMESPACE, component=names.PREPULL_COMPONENT)
    running["metadata"]["labels"] |= {names.CLASS_LABEL: cls.name, names.MANAGED_BY: names.MANAGED_BY_VALUE}
    posing = pod("b", component=names.PREPULL_COMPONENT)  # in a student's namespace: not the class's
    posing["metadata"]["labels"] |= {names.CLASS_LABEL: cls.name, names.MANAGED_BY: names.MANAGED_BY_VALUE}
    assert capacity.assess(cls, nodes, [posing]).needed_pods == per_student + 2
    assert capacity.assess(cls, nodes, [running]).needed_pods == per_student + 1
    # Pinned to its node: a full node's pre-pull pod cannot go to another with room.
    full = [node("a", pods=per_student + 10), node("b", pods=0)]
    verdict = capacity.assess(cls, full, [])
    assert not verdict.fits
    assert verdict.placeable_pods == per_student + 1
    # Switched off: nothing but the students' pods.
    off = make_class(students=1, imagePrePull=False, components={"workspace": False})
    assert capacity.assess(off, nodes, []).needed_pods == per_student


def test_a_new_class_is_sized_beside_its_pre_pull_and_gateway_pods() -> None:
    rooms = [NodeRoom("n1", 11, 16000, 64 * GI), NodeRoom("n2", 20, 16000, 64 * GI)]
    beside = capacity.room_beside_shared_pods(make_class(students=1), rooms)
    assert [room.pods for room in beside] == [10, 18]  # a pre-pull pod on each, the gateway on the roomiest
    assert beside[0].cpu_millis < 16000
    no_gateway = make_class(students=1, components={"workspace": False})
    assert [room.pods for room in capacity.room_beside_shared_pods(no_gateway, rooms)] == [10, 19]
    neither = make_class(students=1, imagePrePull=False, components={"workspace": False})
    assert capacity.room_beside_shared_pods(neither, rooms) == rooms


def test_the_gateway_pod_is_weighed_once_for_the_class_until_it_runs() -> None:
    cls = make_class(students=2, imagePrePull=False)
    per_student = len(capacity.class_need(cls).pods_per_student)
    nodes = [node("a", pods=2 * per_student)]
    short = capacity.assess(cls, nodes, [])
    assert not short.fits
    assert short.needed_pods == 2 * per_student + 1
    assert capacity.assess(cls, [node("a", pods=2 * per_student + 1)], []).fits
    running = pod("a", namespace=names.OPERATOR_NAMESPACE, component=names.GATEWAY_COMPONENT)
    running["metadata"]["labels"] |= {names.CLASS_LABEL: cls.name, names.MANAGED_BY: names.MANAGED_BY_VALUE}
    # Once on a node, it holds its own room: the students' pods are what is left to place.
    assert capacity.assess(cls, [node("a", pods=2 * per_student + 1)], [running]).needed_pods == 2 * per_student
    without = make_class(students=2, imagePrePull=False, components={"workspace": False})
    assert capacity.assess(without, nodes, []).fits
