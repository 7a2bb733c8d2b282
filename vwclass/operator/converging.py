"""Makes one object match its rendering: applied when it differs, replaced when an apply cannot
remove what another manager added. Shared by everything a reconcile writes."""

from __future__ import annotations

import logging
from typing import Any

from vwclass.core import drift
from vwclass.kube.api import Kube

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
