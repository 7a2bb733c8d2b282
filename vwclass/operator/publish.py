"""A class's status as the API server sees it: patched only when it changed, an Event when the class
stalls, and the condition saying whether the admission policies of student namespaces are installed."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from vwclass.core import admission, names, status
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import BY_KIND

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]


_POLICIES = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")]
_BINDINGS = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")]


def admission_policies_condition(kube: Kube, generation: int) -> Obj:
    """Whether the admission policies of student namespaces are installed: two small labelled LISTs."""
    selector = f"{names.PART_OF}=vwclass"
    try:
        policies = {p["metadata"]["name"] for p in kube.list(_POLICIES, selector)}
        bindings = {b["metadata"]["name"] for b in kube.list(_BINDINGS, selector)}
    except ApiError as error:
        if error.status == 404:  # a server without the v1 API: nothing guards the namespaces
            return admission.condition(generation, admission.missing_policies(set(), set()))
        if error.status == 403:
            return admission.condition(generation, None)
        raise
    return admission.condition(generation, admission.missing_policies(policies, bindings))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_times(block: Obj | None) -> Obj:
    block = dict(block or {})
    block["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in block.get("conditions", [])
    ]
    return block


def _with_removals(new: Obj, old: Obj) -> Obj:
    """new as a merge patch of old: a merge patch keeps what it does not name, so a field the status no
    longer has (suspendedBy after a resume, nextLecture, students.idle) is named null, at any depth."""
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        patch[key] = _with_removals(value, before) if isinstance(value, dict) and isinstance(before, dict) else value
    return patch


def _true(block: Obj | None, kind: str) -> bool:
    return status.condition(block, kind).get("status") == "True"


def publish_status(kube: Kube, body: Obj, new: Obj) -> int:
    """Patches status only when it changed; posts an Event when the class becomes Stalled or Expiring,
    or when its schedule or expiry suspends or resumes it."""
    old = body.get("status")
    if _without_times(old) == _without_times(new):
        return 0
    patch = _with_removals(status.with_transition_times(new, old, _now()), old or {})
    kube.patch_class_status(body["metadata"]["name"], patch)
    writes = 1
    for kind in ("Stalled", "Expiring"):
        if _true(new, kind) and not _true(old, kind):
            condition = status.condition(new, kind)
            post_event(kube, body, "Warning", condition["reason"], condition["message"])
            writes += 1
    # The clock suspending or resuming a class is worth a line in `kubectl describe` (a teacher's own
    # suspend is their edit, already in their shell).
    before, after = (old or {}).get("suspendedBy"), new.get("suspendedBy")
    if before != after and (after or before) not in (None, "Teacher"):
        resumed = f"resumed ({before} no more)"
        message = status.condition(new, "Ready")["message"] if after else resumed
        post_event(kube, body, "Normal", after or "Resumed", message)
        writes += 1
    return writes


def post_event(kube: Kube, body: Obj, kind: str, reason: str, message: str) -> None:
    meta = body["metadata"]
    now = _now()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": "default"},
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "type": kind,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "vwclass-operator"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        kube.create(event)
    except ApiError as error:  # an Event is a courtesy: never fail a reconcile over one
        log.warning("could not post event for %s: %s", meta["name"], error)
