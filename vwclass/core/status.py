"""Readiness of a student's node and the class status, computed from observed objects: no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from vwclass.core import lifecycle
from vwclass.core.names import NODE_WORKLOAD as NODE

Obj = dict[str, Any]
MAX_NOT_READY_LISTED = 20
# Waiting reasons that will not fix themselves: the class is Degraded, not still Provisioning.
FAILING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


class Stalled(enum.StrEnum):
    """Why a class is Stalled: the reason of its Stalled condition (and of the Event posted with it)."""

    INVALID_SPEC = "InvalidSpec"  # slipped past admission (an older CRD); needs an edit
    PERMISSION_DENIED = "PermissionDenied"  # the operator lacks RBAC; needs an admin
    NAMESPACE_CONFLICT = "NamespaceConflict"  # a student's namespace is someone else's; needs a person
    STUDENTS_FAILING = "StudentsFailing"  # a bad image, a crash loop: may recover (an image pushed late)
    # The usable nodes cannot hold the pods still missing: may recover (a node added, a class deleted).
    INSUFFICIENT_CAPACITY = "InsufficientCapacity"

    @property
    def hopeless(self) -> bool:
        """Whether no amount of waiting fixes it: only a person's change does."""
        return self not in (Stalled.STUDENTS_FAILING, Stalled.INSUFFICIENT_CAPACITY)


def condition(block: Obj | None, kind: str) -> Obj:
    """The condition of type `kind` in a status block ({} when there is none)."""
    return next((c for c in (block or {}).get("conditions") or [] if c.get("type") == kind), {})


@dataclass(frozen=True)
class StudentState:
    student: str
    ready: bool
    reason: str = ""
    failing: bool = False  # a reason that needs a person (bad image, crash loop, name conflict)
    # Suspended alone for being idle (spec.idleTimeout) since this time (RFC 3339); ready once at zero.
    idle_since: str | None = None


def _workload_ready(workload: Obj, replicas: int) -> bool:
    spec, status = workload.get("spec", {}), workload.get("status", {})
    if status.get("observedGeneration", 0) < workload.get("metadata", {}).get("generation", 0):
        return False
    if spec.get("replicas", 1) != replicas:
        return False
    if replicas == 0:
        return int(status.get("replicas", 0)) == 0
    wanted = ("readyReplicas", "updatedReplicas") + (("availableReplicas",) if workload["kind"] == "Deployment" else ())
    return all(int(status.get(field, 0)) >= replicas for field in wanted)


_STILL_STARTING = (None, "ContainerCreating", "PodInitializing")


def node_pod(pods: list[Obj]) -> Obj | None:
    """The pod of a student's node among the pods of its namespace (plugin pods are not it)."""
    mine = [p for p in pods if p.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name") == NODE]
    # During a restart the old pod may still be terminating: the one that is not is the node.
    return next((p for p in mine if not p["metadata"].get("deletionTimestamp")), mine[0] if mine else None)


def _pod_problem(pod: Obj | None) -> tuple[str, bool] | None:
    """What keeps the whole pod back (not scheduled), or None."""
    if pod is None:
        return "starting", False
    conditions = {c.get("type"): c for c in pod.get("status", {}).get("conditions", [])}
    if conditions.get("PodScheduled", {}).get("status") == "False":
        return f"unschedulable ({conditions['PodScheduled'].get('reason', '')})", False
    return None


def component_problem(pod: Obj | None, component: str) -> tuple[str, bool] | None:
    """What keeps one component (a container of the node's pod) from being ready, and whether it
    needs a person; None when its container is ready."""
    problem = _pod_problem(pod)
    if problem is not None or pod is None:
        return problem
    statuses = pod.get("status", {}).get("initContainerStatuses", []) + pod.get("status", {}).get(
        "containerStatuses", []
    )
    container = next((c for c in statuses if c.get("name") == component), None)
    if container is None:
        return "starting", False
    waiting = container.get("state", {}).get("waiting")
    if waiting and waiting.get("reason") not in _STILL_STARTING:
        return waiting["reason"], waiting["reason"] in FAILING_REASONS
    if container.get("ready"):
        return None
    if "running" in container.get("state", {}):
        return "running, not ready yet", False
    return "starting", False


def student_state(
    student: str, node: Obj | None, components: list[str], pods: list[Obj], replicas: int
) -> StudentState:
    """Ready when the node's StatefulSet has `replicas` ready (or none, when suspended); else the
    first component whose container holds it back, in start order."""
    if node is None:
        return StudentState(student, False, f"{NODE}: not created yet")
    if _workload_ready(node, replicas):
        return StudentState(student, True)
    if replicas == 0:
        return StudentState(student, False, f"{NODE}: scaling down")
    pod = node_pod(pods)
    problem = _pod_problem(pod)
    if problem is not None and pod is not None:
        return StudentState(student, False, f"{NODE}: {problem[0]}", problem[1])
    for component in components:
        problem = component_problem(pod, component)
        if problem is not None:
            return StudentState(student, False, f"{component}: {problem[0]}", problem[1])
    conditions = {c.get("type"): c for c in (pod or {}).get("status", {}).get("conditions", [])}
    if (
        conditions.get("ContainersReady", {}).get("status") == "True"
        and conditions.get("Ready", {}).get("status") != "True"
    ):
        # Containers up, pod not Ready: its node stopped reporting (or a readiness gate is unmet).
        return StudentState(student, False, f"{NODE}: running but not Ready (node not reporting?)")
    return StudentState(student, False, f"{NODE}: starting")


def _condition(kind: str, status: bool, reason: str, message: str, generation: int) -> Obj:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": str(reason),  # a plain string, whatever enum it came from
        "message": message,
        "observedGeneration": generation,
    }


def class_status(
    generation: int,
    students: list[StudentState],
    suspended: bool,
    stalled_reason: Stalled | None = None,
    stalled_message: str = "",
) -> Obj:
    """The status block (without transition times) that kubectl wait, Flux and Argo CD understand."""
    desired = len(students)
    idle = [s for s in students if s.idle_since is not None]
    ready = sum(1 for s in students if s.ready and s.idle_since is None)
    not_ready = [s for s in students if not s.ready]
    failing = [s for s in not_ready if s.failing]
    done = not not_ready
    if stalled_reason:
        phase = "Degraded"
    elif suspended:
        phase = "Suspended" if done else "Provisioning"
    elif done:
        phase = "Ready"
    else:
        phase = "Degraded" if failing else "Provisioning"
    if stalled_reason:
        ready_reason, ready_message = str(stalled_reason), stalled_message
    elif done:
        ready_reason = "Suspended" if suspended else "AllStudentsReady"
        ready_message = (
            f"all {desired} students' workloads are scaled to zero"
            if suspended
            else f"all {desired} students' virtual Waggle nodes are ready"
            + (f" ({len(idle)} idle, at zero)" if idle else "")
        )
    else:
        ready_reason = "StudentsNotReady"
        ready_message = (
            f"{len(not_ready)} of {desired} students not ready: "
            + ", ".join(f"{s.student} ({s.reason})" for s in not_ready[:3])
            + (" ..." if len(not_ready) > 3 else "")
        )
    counted_ready = 0 if suspended else ready
    counts: Obj = {"desired": desired, "ready": counted_ready, "summary": f"{counted_ready}/{desired}"}
    block: Obj = {
        "observedGeneration": generation,
        "phase": phase,
        "students": counts,
        "notReady": [{"student": s.student, "reason": s.reason} for s in not_ready[:MAX_NOT_READY_LISTED]],
        "conditions": [
            _condition("Ready", done and not stalled_reason, ready_reason, ready_message, generation),
            _condition(
                "Reconciling",
                not done and not stalled_reason and not failing,
                "Progressing" if not done else "Reconciled",
                ready_message if not done else "nothing left to do",
                generation,
            ),
            _condition(
                "Stalled",
                bool(stalled_reason or failing),
                stalled_reason or (Stalled.STUDENTS_FAILING if failing else "NotStalled"),
                stalled_message or (ready_message if failing else "no error"),
                generation,
            ),
        ],
    }
    if idle and not suspended:
        counts["idle"] = len(idle)
        counts["summary"] += f" ({len(idle)} idle)"
        block["idle"] = [{"student": s.student, "since": s.idle_since} for s in idle[:MAX_NOT_READY_LISTED]]
    return block


def with_transition_times(new: Obj, old: Obj | None, now: str) -> Obj:
    """Keeps each condition's lastTransitionTime unless its status changed."""
    previous = {c.get("type"): c for c in (old or {}).get("conditions", [])}
    for condition in new["conditions"]:
        before = previous.get(condition["type"])
        same = before is not None and before.get("status") == condition["status"]
        condition["lastTransitionTime"] = before.get("lastTransitionTime", now) if same and before else now
    return new


def with_lifecycle(block: Obj, plan: lifecycle.Plan, expiry: lifecycle.Expiry | None, generation: int) -> Obj:
    """The status block with what the clock decided: why it is suspended, when it resumes, when it
    expires and is deleted, and (with an expiry) the Expiring condition."""
    if plan.suspended_by is not None:
        block["suspendedBy"] = str(plan.suspended_by)
    if plan.next_lecture is not None:
        block["nextLecture"] = lifecycle.timestamp(plan.next_lecture)
    ready = next(c for c in block["conditions"] if c["type"] == "Ready")
    if ready["reason"] == "Suspended" and plan.suspended_by is lifecycle.SuspendedBy.SCHEDULE:
        ready["reason"] = str(plan.suspended_by)
        ready["message"] = f"{ready['message']}, outside lecture hours, until {block.get('nextLecture', 'a lecture')}"
    if expiry is None:
        return block
    block["expires"] = lifecycle.timestamp(expiry.at)
    block["deletesAt"] = lifecycle.timestamp(expiry.deletes_at)
    if ready["reason"] == "Suspended" and plan.suspended_by is lifecycle.SuspendedBy.EXPIRY:
        ready["reason"] = str(plan.suspended_by)
        ready["message"] = f"{ready['message']}: the class expired at {block['expires']}"
    when = f"deleted with every student's namespace and data at {block['deletesAt']}"
    message = (
        f"expired at {block['expires']}: suspended, {when} unless spec.expires is moved later"
        if plan.suspended_by is lifecycle.SuspendedBy.EXPIRY
        else f"expires at {block['expires']} (then suspended, {when}) unless spec.expires is moved later"
    )
    block["conditions"].append(
        _condition("Expiring", plan.expiring, "Expiring" if plan.expiring else "NotExpiring", message, generation)
    )
    return block
