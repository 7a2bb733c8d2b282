"""A class's gateway in a full pass: its ConfigMap, Deployment and Service made to match (or removed when
workspaces are off), and where the API server answers, for the workspaces' egress policy. The objects
are vwclass.core.gateway's.

A gateway that cannot be made (no vwclass-system namespace, an install whose role lacks a rule) holds
nothing back: the nodes run, their workspaces wait for a way in, and the operator's log says why.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from vwclass.core import gateway, names
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import BY_KIND
from vwclass.operator.changes import Key, fingerprint, key_of
from vwclass.operator.converging import converge, unmade

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
_KINDS = ("ConfigMap", "Deployment", "Service")
_ENDPOINT_SLICES = BY_KIND[("discovery.k8s.io/v1", "EndpointSlice")]


def with_api_endpoints(kube: Kube, cls: ClassSpec) -> ClassSpec:
    """cls with where the API server answers (the `kubernetes` Service's endpoints), when its workspaces
    need it; unchanged when they do not, or when the operator may not read it (then said in its log)."""
    if not cls.components.workspace:
        return cls
    try:
        slices = kube.list(_ENDPOINT_SLICES, "kubernetes.io/service-name=kubernetes", "default")
    except ApiError as error:
        if error.status != 403:
            raise
        log.warning("cannot read where the API server answers (workspaces cannot reach it): %s", error.message)
        return cls
    found = sorted(
        {
            (address, int(port["port"]))
            for each in slices
            for port in each.get("ports") or []
            if port.get("port")
            for endpoint in each.get("endpoints") or []
            for address in endpoint.get("addresses") or []
        }
    )
    return dataclasses.replace(cls, api_endpoints=tuple(found))


@dataclass
class Result:
    """The writes, the gateway's fingerprints for the pass's comparison, and why it could not be made."""

    writes: int = 0
    problem: str = ""
    fingerprints: dict[Key, str] = field(default_factory=dict)


def ensure(kube: Kube, cls: ClassSpec, objects: dict[Key, Obj]) -> Result:
    """The class's gateway made to match its spec, or removed when its workspaces are off.

    objects: what the pass listed (the class's objects in the operator's namespace among them)."""
    desired = gateway.objects(cls) if cls.components.workspace else []
    wanted = {key_of(obj) for obj in desired}
    result = Result()
    for key, obj in objects.items():
        if key[0] == names.OPERATOR_NAMESPACE and key[2] in _KINDS and key not in wanted:
            kube.delete(BY_KIND[(key[1], key[2])], key[3], key[0], uid=obj["metadata"]["uid"])
            result.writes += 1
    for obj in desired:
        try:
            actual, wrote = converge(kube, obj, objects.get(key_of(obj)))
        except ApiError as error:
            result.problem = unmade(error, "no gateway")
            log.warning("class %s: %s", cls.name, result.problem)
            return result
        result.writes += wrote
        result.fingerprints[key_of(obj)] = fingerprint(actual)
    return result
