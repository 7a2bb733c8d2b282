"""Whether a class's pods fit on the nodes it may use, and the shortfall when not: no I/O.

The scheduler places pods one at a time on one node each, so this packs the pods still missing into
each usable node's free room (allocatable minus the requests of the pods already on it), as it would,
instead of comparing sums that a class split across nodes can never use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from vwclass.core import gateway, names, prepull, render
from vwclass.core.spec import ClassSpec

Obj = dict[str, Any]
# The same component label every rendered pod template carries: how a running pod is matched to the
# pod of the render it stands for.
COMPONENT_LABEL = "app.kubernetes.io/name"
_SUFFIXES: dict[str, Decimal | int] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
# The disk room of a node that reports no ephemeral-storage: nothing the scheduler would count.
UNLIMITED = 2**62
# Pods that hold no room on a node: the scheduler no longer counts them.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# The same, as a field selector: the API server leaves the finished pods out of a cluster-wide LIST.
HOLDING_ROOM = "status.phase!=Succeeded,status.phase!=Failed"
MINE = names.MANAGED_BY_VALUE


def quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity ("250m", "64Mi", "1e3", "2") as a number of base units."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


@dataclass(frozen=True)
class PodNeed:
    """What one pod asks of a node: a pod slot, and its CPU (millicores) and memory (bytes) requests.

    `together_with` names the component of the same student it must share a node with (a required pod
    affinity on the hostname); `student` tells one student's pods from another's, and `node` is where
    that component already runs, when it does: the pod can go nowhere else.
    """

    component: str
    cpu_millis: int
    memory_bytes: int
    together_with: str = ""
    student: str = ""
    node: str = ""
    disk_bytes: int = 0  # ephemeral-storage requested


@dataclass(frozen=True)
class NodeRoom:
    """What a usable node can still take."""

    name: str
    pods: int
    cpu_millis: int
    memory_bytes: int
    disk_bytes: int = UNLIMITED  # ephemeral-storage; a node that reports none is not held to any


@dataclass(frozen=True)
class ClassNeed:
    """What every student of a class runs, from the render: its pods (requests included) and claims."""

    students: int
    pods_per_student: tuple[PodNeed, ...]
    claims_per_student: int

    @property
    def pods(self) -> int:
        return self.students * len(self.pods_per_student)


@dataclass(frozen=True)
class Verdict:
    """Whether the missing pods fit, how many of them the nodes can take, and what runs short."""

    fits: bool
    needed_pods: int
    placeable_pods: int
    message: str
    short: tuple[str, ...] = field(default=())


def _request(container: Mapping[str, Any], resource: str) -> int:
    """A container's request of resource, in millicores for CPU and bytes otherwise."""
    requested = quantity(((container.get("resources") or {}).get("requests") or {}).get(resource, 0))
    return int((requested * 1000 if resource == "cpu" else requested).to_integral_value(rounding="ROUND_CEILING"))


def _pod_request(pod_spec: Mapping[str, Any], resource: str) -> int:
    """As the scheduler counts it: the containers plus the native sidecars (init containers that keep
    running), or the largest plain init container with the sidecars started before it, if larger."""
    total = sidecars = init = 0
    for container in pod_spec.get("initContainers") or []:
        if container.get("restartPolicy") == "Always":
            sidecars += _request(container, resource)
        else:
            init = max(init, sidecars + _request(container, resource))
    total = sum(_request(c, resource) for c in pod_spec.get("containers") or [])
    total += _request({"resources": {"requests": pod_spec.get("overhead") or {}}}, resource)
    return max(total + sidecars, init)


def pod_requests(pod_spec: Mapping[str, Any]) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the scheduler reserves for a pod spec."""
    return _pod_request(pod_spec, "cpu"), _pod_request(pod_spec, "memory")


def pod_disk_request(pod_spec: Mapping[str, Any]) -> int:
    """The local disk (ephemeral-storage bytes) the scheduler reserves for a pod spec."""
    return _pod_request(pod_spec, "ephemeral-storage")


def student_pods(objects: Iterable[Obj]) -> tuple[PodNeed, ...]:
    """The pods one student's rendered objects make (one per replica of each workload)."""
    needs: list[PodNeed] = []
    for obj in objects:
        if obj["kind"] not in render.WORKLOAD_KINDS:
            continue
        template = obj["spec"]["template"]
        component = template.get("metadata", {}).get("labels", {}).get(COMPONENT_LABEL, obj["metadata"]["name"])
        cpu, memory = pod_requests(template["spec"])
        together = _same_node_as(template["spec"])
        disk = pod_disk_request(template["spec"])
        needs += [PodNeed(component, cpu, memory, together, disk_bytes=disk)] * int(obj["spec"].get("replicas", 1))
    return tuple(needs)


def _same_node_as(pod_spec: Mapping[str, Any]) -> str:
    """The component a pod must share a node with (a required pod affinity on the hostname), or ""."""
    affinity = ((pod_spec.get("affinity") or {}).get("podAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or []
    for term in affinity:
        if term.get("topologyKey") == "kubernetes.io/hostname":
            component = ((term.get("labelSelector") or {}).get("matchLabels") or {}).get(COMPONENT_LABEL)
            if component:
                return str(component)
    return ""


def class_need(cls: ClassSpec) -> ClassNeed:
    """What the class needs of the nodes, from one student's render (every student runs the same).

    A suspended class needs nothing: its workloads are scaled to zero.
    """
    objects = render.student_objects(cls, cls.students[0])
    claims = sum(1 for o in objects if o["kind"] == "PersistentVolumeClaim") + sum(
        len(o["spec"].get("volumeClaimTemplates") or []) for o in objects if o["kind"] == "StatefulSet"
    )
    return ClassNeed(len(cls.students), student_pods(objects), claims)


def missing_pods(cls: ClassSpec, need: ClassNeed, pods: Iterable[Obj]) -> list[PodNeed]:
    """The pods of the class not yet on a node: the class's own scheduled pods already hold their room,
    so a class that fits never reads as short (the check does not flap)."""
    # namespace -> component -> the nodes its placed pods run on
    placed: dict[str, dict[str, list[str]]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
            continue
        meta = pod["metadata"]
        component = (meta.get("labels") or {}).get(COMPONENT_LABEL, "")
        placed.setdefault(meta.get("namespace", ""), {}).setdefault(component, []).append(node)
    missing: list[PodNeed] = []
    for student in cls.students:
        running = placed.get(student.namespace, {})
        unclaimed = {component: len(on) for component, on in running.items()}
        for pod_need in need.pods_per_student:
            if unclaimed.get(pod_need.component):
                unclaimed[pod_need.component] -= 1
                continue
            anchor = running.get(pod_need.together_with) if pod_need.together_with else None
            missing.append(replace(pod_need, student=student.id, node=anchor[0] if anchor else ""))
    return missing


def _prepull_need(cls: ClassSpec, node: str = "") -> PodNeed:
    """What the class's pre-pull pod asks of a node (node: the one it must run on)."""
    pod_spec = prepull.daemonset(cls)["spec"]["template"]["spec"]
    cpu, memory = pod_requests(pod_spec)
    return PodNeed(names.PREPULL_COMPONENT, cpu, memory, node=node, disk_bytes=pod_disk_request(pod_spec))


def missing_prepull_pods(cls: ClassSpec, rooms: Iterable[NodeRoom], pods: Iterable[Obj]) -> list[PodNeed]:
    """The class's pre-pull pods not yet on a node: one on each usable node that has none yet (the
    DaemonSet puts one on every node the placement allows, each in a pod slot of its own)."""
    if not cls.image_prepull:
        return []
    holding = {
        (pod.get("spec") or {}).get("nodeName")
        for pod in pods
        if pod["metadata"].get("namespace") == names.OPERATOR_NAMESPACE  # where no student may make pods
        and (pod["metadata"].get("labels") or {}).get(COMPONENT_LABEL) == names.PREPULL_COMPONENT
    }
    return [_prepull_need(cls, room.name) for room in rooms if room.name not in holding]


def missing_gateway_pod(cls: ClassSpec, pods: Iterable[Obj]) -> list[PodNeed]:
    """The class's gateway pod, when it has workspaces and the pod is not yet on a node (any node the
    placement allows: it is one pod for the whole class)."""
    if not cls.components.workspace:
        return []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if (
            pod["metadata"].get("namespace") == names.OPERATOR_NAMESPACE
            and labels.get(COMPONENT_LABEL) == names.GATEWAY_COMPONENT
            and (pod.get("spec") or {}).get("nodeName")
            and (pod.get("status") or {}).get("phase") not in FINISHED_PHASES
        ):
            return []
    deployment = next(o for o in gateway.objects(cls) if o["kind"] == "Deployment")
    pod_spec = deployment["spec"]["template"]["spec"]
    cpu, memory = pod_requests(pod_spec)
    return [PodNeed(names.GATEWAY_COMPONENT, cpu, memory, disk_bytes=pod_disk_request(pod_spec))]


def room_beside_shared_pods(cls: ClassSpec, rooms: Iterable[NodeRoom]) -> list[NodeRoom]:
    """Each node's room once the class's own shared pods have taken their share (for sizing a new
    class): its pre-pull pod on every node, and its gateway's pod on the roomiest."""
    rooms = list(rooms)
    if cls.image_prepull:
        rooms = [_less(room, _prepull_need(cls)) for room in rooms]
    gateway_pod = missing_gateway_pod(cls, [])
    if gateway_pod and rooms:
        roomiest = max(range(len(rooms)), key=lambda i: rooms[i].pods)
        rooms[roomiest] = _less(rooms[roomiest], gateway_pod[0])
    return rooms


def _less(room: NodeRoom, need: PodNeed) -> NodeRoom:
    return replace(
        room,
        pods=max(0, room.pods - 1),
        cpu_millis=max(0, room.cpu_millis - need.cpu_millis),
        memory_bytes=max(0, room.memory_bytes - need.memory_bytes),
        disk_bytes=max(0, room.disk_bytes - need.disk_bytes),
    )


def _taints_tolerated(taints: Iterable[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue  # PreferNoSchedule only steers the scheduler; it never keeps a pod off
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return bool(toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", ""))


def usable(
    node: Obj, node_selector: Mapping[str, str] | None = None, tolerations: Sequence[Mapping[str, Any]] | None = None
) -> bool:
    """Whether the scheduler may put a class's pod on the node: not cordoned, labels matching the
    placement's nodeSelector (if any), every NoSchedule/NoExecute taint tolerated."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(key) != value for key, value in (node_selector or {}).items()):
        return False
    return _taints_tolerated((node.get("spec") or {}).get("taints") or [], tolerations or [])


def node_rooms(
    nodes: Iterable[Obj],
    pods: Iterable[Obj],
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
) -> list[NodeRoom]:
    """Each usable node's allocatable minus what the pods bound to it request."""
    used: dict[str, list[int]] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
            continue
        cpu, memory = pod_requests(pod["spec"])
        counts = used.setdefault(node_name, [0, 0, 0, 0])
        counts[0], counts[1], counts[2] = counts[0] + 1, counts[1] + cpu, counts[2] + memory
        counts[3] += pod_disk_request(pod["spec"])
    rooms = []
    for node in nodes:
        if not usable(node, node_selector, tolerations):
            continue
        name = node["metadata"]["name"]
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        pods_used, cpu_used, memory_used, disk_used = used.get(name, [0, 0, 0, 0])
        disk = allocatable.get("ephemeral-storage")
        rooms.append(
            NodeRoom(
                name,
                max(0, int(quantity(allocatable.get("pods", 0))) - pods_used),
                max(0, int(quantity(allocatable.get("cpu", 0)) * 1000) - cpu_used),
                max(0, int(quantity(allocatable.get("memory", 0))) - memory_used),
                UNLIMITED if disk is None else max(0, int(quantity(disk)) - disk_used),
            )
        )
    return rooms


def _units(pods: Sequence[PodNeed]) -> list[tuple[list[PodNeed], str]]:
    """The pods grouped as they must be placed: each with the pods of its student that must share its
    node, and the node they are pinned to ("" for any)."""
    units: list[tuple[list[PodNeed], str]] = []
    anchors: dict[tuple[str, str], list[PodNeed]] = {}
    for pod in pods:
        if not pod.together_with:
            units.append(([pod], pod.node))  # pinned only when it must go to one node (a pre-pull pod)
            if pod.student:
                anchors.setdefault((pod.student, pod.component), units[-1][0])
    for pod in pods:
        if not pod.together_with:
            continue
        anchor = anchors.get((pod.student, pod.together_with)) if pod.student else None
        if anchor is not None:
            anchor.append(pod)  # both still missing: they go together, wherever there is room for both
        else:
            units.append(([pod], pod.node))
    return units


def place(pods: Sequence[PodNeed], rooms: Sequence[NodeRoom]) -> int:
    """How many of the pods the nodes take: largest first, each with the pods that must share its node,
    on the node with the most room left (as the scheduler's default scoring spreads them)."""
    free = {r.name: [r.pods, r.cpu_millis, r.memory_bytes, r.disk_bytes] for r in rooms}
    placed = 0
    units = _units(pods)
    units.sort(key=lambda u: (sum(p.memory_bytes for p in u[0]), sum(p.cpu_millis for p in u[0])), reverse=True)
    for unit, pinned in units:
        candidates = [free[pinned]] if pinned in free else [] if pinned else list(free.values())
        # The whole unit on one node; else its first pod alone (its followers then wait, Pending).
        for pods_here in (unit, unit[:1]):
            count = len(pods_here)
            cpu, memory = sum(p.cpu_millis for p in pods_here), sum(p.memory_bytes for p in pods_here)
            disk = sum(p.disk_bytes for p in pods_here)
            fitting = [f for f in candidates if f[0] >= count and f[1] >= cpu and f[2] >= memory and f[3] >= disk]
            if fitting:
                best = max(fitting, key=lambda f: (f[2], f[1], f[0]))
                best[0], best[1], best[2], best[3] = best[0] - count, best[1] - cpu, best[2] - memory, best[3] - disk
                placed += count
                break
    return placed


def _cpus(millis: int) -> str:
    return f"{millis / 1000:g}"


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f}Gi"


def check(pods: Sequence[PodNeed], rooms: Sequence[NodeRoom]) -> Verdict:
    """Whether the pods fit the nodes' room, naming what runs short first: pod slots, CPU, memory, disk."""
    needed = len(pods)
    placeable = place(pods, rooms)
    if placeable >= needed:
        return Verdict(True, needed, placeable, f"{needed} more pods fit on {len(rooms)} usable nodes")
    if not rooms:
        return Verdict(False, needed, 0, f"needs {needed} pods; no node is usable (cordoned, tainted or not selected)")
    free_pods = sum(r.pods for r in rooms)
    free_cpu = sum(r.cpu_millis for r in rooms)
    free_memory = sum(r.memory_bytes for r in rooms)
    cpu = sum(p.cpu_millis for p in pods)
    memory = sum(p.memory_bytes for p in pods)
    short = []
    if free_pods < needed:
        short.append(f"needs {needed} pods; the nodes can take {free_pods} more")
    if free_cpu < cpu:
        short.append(f"needs {_cpus(cpu)} CPUs of requests; the nodes have {_cpus(free_cpu)} free")
    if free_memory < memory:
        short.append(f"needs {_gib(memory)} of memory requests; the nodes have {_gib(free_memory)} free")
    free_disk = sum(r.disk_bytes for r in rooms)
    disk = sum(p.disk_bytes for p in pods)
    if free_disk < disk:
        short.append(
            f"needs {_gib(disk)} of local disk (ephemeral-storage) requests; the nodes have {_gib(free_disk)} free"
        )
    if not short:  # enough in total, but split across nodes, or not where a student's other pods run
        short.append(
            f"needs {needed} pods; the nodes can place only {placeable}: their free room is split across"
            " nodes, or not on the node a student's other pods share"
        )
    return Verdict(False, needed, placeable, "; ".join(short), tuple(short))


def largest_class(per_student: Sequence[PodNeed], rooms: Sequence[NodeRoom], limit: int = 10_000) -> int:
    """The most students whose pods all fit in the rooms (a binary search over check)."""
    if not per_student:
        return limit
    low, high = 0, min(limit, sum(r.pods for r in rooms) // len(per_student))
    while low < high:
        middle = (low + high + 1) // 2
        students = [replace(p, student=str(i)) for i in range(middle) for p in per_student]
        if place(students, rooms) >= middle * len(per_student):
            low = middle
        else:
            high = middle - 1
    return low


def assess(
    cls: ClassSpec,
    nodes: Iterable[Obj],
    pods: Sequence[Obj],
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
) -> Verdict:
    """Whether the class's pods not yet on a node fit what its usable nodes can still hold.

    `pods` are every pod holding room (the class's own among them); `node_selector` and `tolerations`
    are the class's placement, when it has one.
    """
    need = class_need(cls)
    own = [
        p
        for p in pods
        if _labels(p).get(names.CLASS_LABEL) == cls.name and _labels(p).get(names.MANAGED_BY) == names.MANAGED_BY_VALUE
    ]
    rooms = node_rooms(nodes, pods, node_selector, tolerations)
    missing = missing_pods(cls, need, own) + missing_prepull_pods(cls, rooms, own) + missing_gateway_pod(cls, own)
    return check(missing, rooms)


def _labels(pod: Obj) -> dict[str, str]:
    return dict(pod["metadata"].get("labels") or {})


def placement_of(spec: Mapping[str, Any]) -> tuple[dict[str, str] | None, list[Obj] | None]:
    """(nodeSelector, tolerations) of a class spec's placement, None where it has none."""
    placement = spec.get("placement") or {}
    return placement.get("nodeSelector"), placement.get("tolerations")


def node_free(room: NodeRoom) -> str:
    """A node's free room as a teacher reads it: '42 pods, 3.5 CPUs, 12.0Gi'."""
    return f"{room.pods} pods, {_cpus(room.cpu_millis)} CPUs, {_gib(room.memory_bytes)}"
