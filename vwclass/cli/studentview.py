"""What `vwclass status` shows of each student: its components' states, restarts and why it is not ready.

Pure: it works on the objects listed from the cluster, and reuses the operator's own readiness rules
(vwclass.core.status: the node's StatefulSet, and each component's container in its pod), so the two
never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from vwclass.core import names, status
from vwclass.core.spec import ClassSpec

Obj = dict[str, Any]


@dataclass(frozen=True)
class StudentRow:
    student: str
    name: str
    namespace: str
    ready: bool
    components: dict[str, str] = field(default_factory=dict)
    restarts: int = 0
    reason: str = ""

    def as_dict(self) -> Obj:
        return asdict(self)


def component_state(component: str, node: Obj | None, pods: list[Obj], replicas: int) -> str:
    """One cell: ready, suspended, missing, or what holds the component's container back (starting,
    ImagePullBackOff...), read from the node pod's container statuses."""
    if node is None:
        return "missing"
    if replicas == 0:
        return "suspended" if status.student_state("", node, [], pods, 0).ready else "scaling down"
    problem = status.component_problem(status.node_pod(pods), component)
    return "ready" if problem is None else problem[0]


def restarts(pods: list[Obj]) -> int:
    return sum(
        int(container.get("restartCount", 0))
        for pod in pods
        for kind in ("initContainerStatuses", "containerStatuses")
        for container in pod.get("status", {}).get(kind) or []
    )


def _by_namespace(objects: list[Obj]) -> dict[str, list[Obj]]:
    grouped: dict[str, list[Obj]] = defaultdict(list)
    for obj in objects:
        grouped[obj["metadata"].get("namespace", "")].append(obj)
    return grouped


def student_rows(
    cls: ClassSpec,
    components: list[str],
    body: Obj,
    namespaces: list[Obj],
    nodes: list[Obj],
    pods: list[Obj],
) -> list[StudentRow]:
    """A row per student of cls, from the class body (its status) and the objects of its namespaces."""
    reported = {entry.get("student"): entry.get("reason", "") for entry in body.get("status", {}).get("notReady") or []}
    existing = {n["metadata"]["name"]: n for n in namespaces}
    node_in = {n["metadata"].get("namespace", ""): n for n in nodes if n["metadata"]["name"] == names.NODE_WORKLOAD}
    pods_in = _by_namespace(pods)
    idle_since = {entry.get("student"): entry.get("since", "") for entry in body.get("status", {}).get("idle") or []}
    rows = []
    for student in cls.students:
        namespace = existing.get(student.namespace)
        if namespace is None or namespace["metadata"].get("labels", {}).get(names.CLASS_LABEL) != cls.name:
            reason = reported.get(student.id) or "namespace not created yet"
            rows.append(
                StudentRow(
                    student.id, student.display_name, student.namespace, False, {c: "-" for c in components}, 0, reason
                )
            )
            continue
        node = node_in.get(student.namespace)
        student_pods = pods_in.get(student.namespace, [])
        # Idle (spec.idleTimeout): the operator put this node alone at zero (status.idle lists 20 of them).
        idle = (
            cls.idle_timeout is not None
            and not cls.suspended
            and int((node or {}).get("spec", {}).get("replicas", 1)) == 0
        )
        replicas = 0 if cls.suspended or idle else 1
        cells = {c: component_state(c, node, student_pods, replicas) for c in components}
        state = status.student_state(student.id, node, components, student_pods, replicas)
        reason = "" if state.ready else (reported.get(student.id) or state.reason)
        if idle:
            cells = {c: "idle" if cell == "suspended" else cell for c, cell in cells.items()}
            since = idle_since.get(student.id)
            reason = f"idle since {since}: `vwclass resume {cls.name} --student {student.id}`" if since else "idle"
        rows.append(
            StudentRow(
                student.id, student.display_name, student.namespace, state.ready, cells, restarts(student_pods), reason
            )
        )
    return rows
