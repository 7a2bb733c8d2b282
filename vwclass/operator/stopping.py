"""Stops the student's own workloads of a suspended class, and gives them back on resume.

The I/O around vwclass.core.suspension: while a class is suspended, each full pass lists the kinds a
student can run (cluster-wide, kept to the class's namespaces) and stops what runs, so something made
during the suspension stops within a resync too. Once it is resumed, a label-selected LIST per kind
finds what the class stopped. Neither happens on a running class's ordinary passes.
"""

from __future__ import annotations

import logging
from typing import Any

from vwclass.core import suspension
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, Resource

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
PAGE = 200
RESOURCES = tuple(BY_KIND[key] for key in suspension.KINDS)


def _slim(obj: Obj) -> Obj:
    """What suspension reads of an object: its metadata, replicas or suspend, phase and conditions."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    spec = {k: v for k, v in obj.get("spec", {}).items() if k in ("replicas", "suspend")}
    status = {k: v for k, v in obj.get("status", {}).items() if k in ("phase", "conditions")}
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta, "spec": spec, "status": status}


def _listed(kube: Kube, resource: Resource, selector: str = "") -> list[Obj]:
    return [_slim(o) for page in kube.list_pages(resource, selector, page_size=PAGE) for o in page]


def restore_due(body: Obj, cls: ClassSpec) -> bool:
    """Whether a pass should look for what the class stopped: it runs, and it was suspended at the last
    status, or its spec changed since (a teacher's resume is an edit; the clock's is not)."""
    if cls.suspended:
        return False
    observed = body.get("status") or {}
    generation = int(body["metadata"].get("generation", 0))
    if observed.get("phase") == "Suspended" or observed.get("suspendedBy"):
        return True  # suspendedBy: suspended (maybe not yet all at zero) by the teacher or the clock
    return observed.get("observedGeneration") != generation


def stop_or_restore(kube: Kube, body: Obj, cls: ClassSpec) -> int:
    """Stops the students' own workloads of a suspended class, or gives them back; the writes made."""
    if cls.suspended:
        namespaces = {s.namespace for s in cls.students}
        found = [o for r in RESOURCES for o in _listed(kube, r) if o["metadata"]["namespace"] in namespaces]
        actions = suspension.stop(found, cls.name)
    elif restore_due(body, cls):
        selector = suspension.stopped_selector(cls.name)
        actions = suspension.restore(o for r in RESOURCES if r.kind != "Pod" for o in _listed(kube, r, selector))
    else:
        return 0
    for action in actions:
        resource = BY_KIND[(action.api_version, action.kind)]
        if action.patch is None:
            kube.delete(resource, action.name, action.namespace, uid=action.uid)
        else:
            kube.merge_patch(resource, action.name, action.namespace, action.patch, uid=action.uid)
    if actions:
        verb = "stopped" if cls.suspended else "gave back"
        listed = ", ".join(a.what for a in actions[:5])
        log.info("class %s: %s %d student workload(s): %s", cls.name, verb, len(actions), listed)
    return len(actions)
