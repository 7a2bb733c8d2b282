"""A class's image pre-pull in a full pass: its DaemonSet listed, made to match, or removed; and the
status block that says how far it has got. The DaemonSet and its progress are vwclass.core.prepull's.

A pre-pull that cannot be made (no vwclass-system namespace, an install whose role lacks the rule)
holds nothing back: the class runs, its pods pull their own images, and its status says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from vwclass.core import names, prepull
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import DAEMONSET
from vwclass.operator.changes import Key, fingerprint, key_of
from vwclass.operator.converging import converge, unmade

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]


@dataclass
class Result:
    """The DaemonSet as the pass left it (None: there is none), why it could not be made, the writes,
    and its fingerprint for the pass's comparison."""

    daemonset: Obj | None = None
    problem: str = ""
    writes: int = 0
    fingerprints: dict[Key, str] = field(default_factory=dict)


def ensure(kube: Kube, cls: ClassSpec, objects: dict[Key, Obj]) -> Result:
    """The class's pre-pull DaemonSet made to match its spec, or removed when switched off.

    objects: what the pass listed (the class's DaemonSets in the operator's namespace among them)."""
    desired = prepull.daemonset(cls) if cls.image_prepull else None
    wanted = key_of(desired) if desired is not None else None
    result = Result()
    for key, obj in objects.items():
        if key[0] == names.OPERATOR_NAMESPACE and key[2] == DAEMONSET.kind and key != wanted:
            kube.delete(DAEMONSET, key[3], key[0], uid=obj["metadata"]["uid"])
            result.writes += 1
    if desired is None or wanted is None:
        return result
    try:
        result.daemonset, wrote = converge(kube, desired, objects.get(wanted))
    except ApiError as error:
        result.problem = unmade(error, "images not pre-pulled")
        log.warning("class %s: %s", cls.name, result.problem)
        return result
    result.writes += wrote
    result.fingerprints[wanted] = fingerprint(result.daemonset)
    return result


def status_block(cls: ClassSpec, daemonset: Obj | None, pods: dict[str, list[Obj]], problem: str) -> Obj | None:
    """status.imagePrePull from the DaemonSet and the pods of the operator's namespace (None: off)."""
    if not cls.image_prepull:
        return None
    return prepull.progress(cls, daemonset, pods.get(names.OPERATOR_NAMESPACE, []), problem).as_status()


def watched_status_block(cls: ClassSpec, body: Obj, pods: dict[str, list[Obj]], objects: dict[Key, Obj]) -> Obj | None:
    """status.imagePrePull in a state pass: from the DaemonSet and pods the watches delivered."""
    key = (names.OPERATOR_NAMESPACE, DAEMONSET.api_version, DAEMONSET.kind, names.prepull_name(cls.name))
    daemonset = objects.get(key)
    # Why the last full pass could not make it (no namespace to put it in) stands until the next one.
    problem = "" if daemonset else ((body.get("status") or {}).get("imagePrePull") or {}).get("message", "")
    return status_block(cls, daemonset, pods, problem)
