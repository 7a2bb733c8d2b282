"""Whether a class's missing pods fit its usable nodes: when a reconcile looks, and the shortfall if not."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from vwclass.core import capacity, names, status
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import NODE, POD

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
UNSCHEDULABLE_FOR = datetime.timedelta(seconds=10)


def _unschedulable(pods: dict[str, list[Obj]], now: datetime.datetime) -> bool:
    """Whether the scheduler has failed to place a pod for UNSCHEDULABLE_FOR: a moment's refusal (a
    claim not bound yet) is what every pod of a new class goes through, and costs no look at the nodes."""
    return any(
        (pod.get("metadata", {}).get("labels") or {}).get(names.MANAGED_BY) == names.MANAGED_BY_VALUE  # not a plugin
        and c.get("type") == "PodScheduled"
        and c.get("status") == "False"
        and c.get("reason") == "Unschedulable"
        and now - _time(c.get("lastTransitionTime")) >= UNSCHEDULABLE_FOR
        for namespace_pods in pods.values()
        for pod in namespace_pods
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _time(stamp: str | None) -> datetime.datetime:
    """An API timestamp ("2026-11-30T18:00:00Z"); the epoch when absent (an old refusal, then)."""
    try:
        return datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.fromtimestamp(0, datetime.UTC)


def needs_capacity_check(body: Obj, cls: ClassSpec, pods: dict[str, list[Obj]]) -> bool:
    """Whether this reconcile looks at the nodes: a spec the operator has not yet checked, a pod the
    scheduler has not placed for UNSCHEDULABLE_FOR, or a class already short (to see it recover). A class whose pods all
    run costs no node or pod list at all."""
    if cls.suspended:
        return False
    old = body.get("status") or {}
    return (
        old.get("observedGeneration") != body["metadata"].get("generation")
        or status.condition(old, "Stalled").get("reason") == status.Stalled.INSUFFICIENT_CAPACITY
        or _unschedulable(pods, datetime.datetime.now(datetime.UTC))
    )


def capacity_shortfall(kube: Kube, body: Obj, cls: ClassSpec) -> str:
    """The shortfall when the class's missing pods do not fit its usable nodes ("" when they do).

    One LIST of nodes and one of the pods holding room (finished ones filtered out on the server); the
    class's own placed pods count as used, so only its missing pods are weighed.
    """
    try:
        nodes = kube.list(NODE)
        pods = kube.list(POD, field_selector=capacity.HOLDING_ROOM)
    except ApiError as error:  # an install without the nodes rule: the class just goes unchecked
        log.warning("class %s: cannot check capacity: %s", cls.name, error)
        return ""
    verdict = capacity.assess(cls, nodes, pods, *capacity.placement_of(body.get("spec") or {}))
    return "" if verdict.fits else verdict.message
