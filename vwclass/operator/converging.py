"""Makes one object match its rendering: applied when it differs, replaced when an apply cannot
remove what another manager added. Shared by everything a reconcile writes, with the listing of a
class's objects in the operator's namespace (its image pre-pull)."""

from __future__ import annotations

import logging
from typing import Any

from vwclass.core import drift, names
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import Resource

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]


def converge(kube: Kube, desired: Obj, actual: Obj | None) -> tuple[Obj, int]:
    """Applies desired if actual differs; replaces it when an apply cannot remove what others added."""
    if not drift.differs(desired, actual):
        assert actual is not None
        return actual, 0
    applied = kube.apply(desired)
    if not drift.differs(desired, applied):
        return applied, 1
    log.info(
        "replacing %s/%s %s: fields added by another manager",
        desired["metadata"].get("namespace"),
        desired["metadata"]["name"],
        desired["kind"],
    )
    return kube.replace(desired, applied["metadata"]["resourceVersion"]), 2


def unmade(error: ApiError, what: str) -> str:
    """Why a class's object in the operator's namespace could not be made, when that holds nothing back
    (no namespace: 404; a role without the rule: 403); any other error is raised."""
    if error.status not in (403, 404):
        raise error
    missing = f"namespace {names.OPERATOR_NAMESPACE} not found (`vwclass install` makes it)"
    return f"{what}: {missing if error.status == 404 else error.message}"


def list_in_operator_namespace(kube: Kube, resource: Resource, selector: str, page_size: int) -> list[Obj]:
    """The class's objects of a kind in the operator's namespace only: students may make the same kinds
    (with any labels) in theirs, and none of those is the class's. An install from before the kind was
    used (its role lacks the rule) gives none: the class runs without them."""
    try:
        pages = kube.list_pages(resource, selector, names.OPERATOR_NAMESPACE, page_size=page_size)
        listed = [obj for page in pages for obj in page]
    except ApiError as error:
        if error.status == 403:
            log.warning("cannot list classes' %s in %s: %s", resource.plural, names.OPERATOR_NAMESPACE, error.message)
            return []
        raise
    for obj in listed:
        obj["metadata"].pop("managedFields", None)
    return listed
