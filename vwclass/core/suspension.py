"""What suspending a student stops beside their node, and what resuming gives back: no I/O.

The node itself is scaled to zero by its rendering. What the student made (their plugins from
`vwclass plugin run|deploy`, and any Deployment, StatefulSet, ReplicaSet, Job or CronJob made with
kubectl) is stopped here in a way that can be undone: a replica count is kept in an annotation and set
to zero; a Job or CronJob is suspended (a suspended Job's pods stop, and start again when resumed). Each
object stopped is labelled with the class, so resuming finds them by label alone. A pod with no
controller can never come back once stopped: it is deleted (the README says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vwclass.core import names

Obj = dict[str, Any]
# Which class stopped it: resuming lists these by label, cluster-wide, instead of every workload.
STOPPED_LABEL = f"{names.GROUP}/stopped-by"
# The replicas a Deployment, StatefulSet or ReplicaSet had when it was stopped.
REPLICAS_ANNOTATION = f"{names.GROUP}/replicas-before-suspend"
SCALED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
SUSPENDED_KINDS = frozenset({"Job", "CronJob"})
KINDS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Pod"),
)
FINISHED_POD_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class Action:
    """One write: a JSON merge patch of the object (uid-checked), or its deletion when patch is None."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    patch: Obj | None

    @property
    def what(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _action(obj: Obj, patch: Obj | None) -> Action:
    meta = obj["metadata"]
    return Action(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"], meta.get("uid", ""), patch)


def _controlled(obj: Obj) -> bool:
    return any(ref.get("controller") for ref in obj["metadata"].get("ownerReferences", []))


def _the_operators(obj: Obj) -> bool:
    return bool(obj["metadata"].get("labels", {}).get(names.MANAGED_BY) == names.MANAGED_BY_VALUE)


def _finished_job(job: Obj) -> bool:
    conditions = job.get("status", {}).get("conditions", [])
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def stop(objects: Iterable[Obj], class_name: str) -> list[Action]:
    """What stops the student's own workloads among objects (of KINDS, in the class's namespaces)."""
    actions = []
    marked = {"labels": {STOPPED_LABEL: class_name}}
    for obj in objects:
        kind, spec = obj["kind"], obj.get("spec", {})
        if _the_operators(obj):
            continue  # the node: its rendering scales it
        if kind in SCALED_KINDS and not _controlled(obj):
            replicas = spec.get("replicas", 1)
            if replicas:
                # Scaled up again while stopped (by the student): that count is the one to give back.
                metadata = {**marked, "annotations": {REPLICAS_ANNOTATION: str(replicas)}}
                actions.append(_action(obj, {"metadata": metadata, "spec": {"replicas": 0}}))
        elif kind in SUSPENDED_KINDS and not spec.get("suspend") and not (kind == "Job" and _finished_job(obj)):
            actions.append(_action(obj, {"metadata": marked, "spec": {"suspend": True}}))
        elif kind == "Pod" and not _controlled(obj) and obj.get("status", {}).get("phase") not in FINISHED_POD_PHASES:
            actions.append(_action(obj, None))
    return actions


def restore(objects: Iterable[Obj]) -> list[Action]:
    """What gives back what stop() stopped, among objects carrying STOPPED_LABEL."""
    actions = []
    unmarked: Obj = {"labels": {STOPPED_LABEL: None}}
    for obj in objects:
        kind = obj["kind"]
        if STOPPED_LABEL not in obj["metadata"].get("labels", {}):
            continue
        if kind in SCALED_KINDS:
            kept = obj["metadata"].get("annotations", {}).get(REPLICAS_ANNOTATION, "1")
            replicas = int(kept) if kept.isdigit() else 1
            metadata = {**unmarked, "annotations": {REPLICAS_ANNOTATION: None}}
            actions.append(_action(obj, {"metadata": metadata, "spec": {"replicas": replicas}}))
        elif kind in SUSPENDED_KINDS:
            actions.append(_action(obj, {"metadata": unmarked, "spec": {"suspend": False}}))
    return actions


def stopped_selector(class_name: str) -> str:
    """The label selector of what a class stopped."""
    return f"{STOPPED_LABEL}={class_name}"
