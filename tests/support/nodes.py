"""Shaping the local cluster's kwok nodes for a test: one classroom node alone, or room for a big class."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.kube import eventually
from vwclass.core import capacity
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import Kube
from vwclass.kube.resources import NODE
from vwclass.testenv.cluster import Cluster, NodeShape


def schedulable_nodes(kube: Kube) -> list[str]:
    return [n["metadata"]["name"] for n in kube.list(NODE) if not (n.get("spec") or {}).get("unschedulable")]


@contextmanager
def only_node(cluster: Cluster, kube: Kube, shape: NodeShape | None = None) -> Iterator[str]:
    """One fresh node of `shape` (a kubelet's 110 pods by default) is the only one pods may use."""
    others = schedulable_nodes(kube)
    (name,) = cluster.add_nodes(1, shape, prefix="kwok-classroom")
    cluster.cordon(others)
    try:
        # Usable once kwok has made it Ready and the node controller lifted its not-ready taint.
        eventually(
            lambda: [r for r in capacity.node_rooms(kube.list(NODE), []) if r.name == name],
            timeout=60,
            what=f"node {name} usable",
        )
        yield name
    finally:
        cluster.cordon(others, cordoned=False)
        cluster.remove_nodes([name])


@contextmanager
def room_for(
    cluster: Cluster | None, cls: ClassSpec, classes: int = 1, shape: NodeShape | None = None
) -> Iterator[None]:
    """Enough more nodes of `shape` for `classes` classes like `cls` (by the capacity check's own count of
    pods per student), removed afterwards; the pods already running keep the room they hold. An
    existing cluster (VWCLASS_TEST_KUBECONFIG) is used as it is."""
    if cluster is None:
        yield
        return
    shape = shape or NodeShape()
    pods = classes * capacity.class_need(cls).pods
    added = cluster.add_nodes(math.ceil(pods / shape.pods), shape, prefix="kwok-load")
    try:
        yield
    finally:
        cluster.remove_nodes(added)


@contextmanager
def tuned_clients(cluster: Cluster | None) -> Iterator[None]:
    """The controller manager and scheduler with tuned clients for the block, stock ones again after
    (on the local control plane; an existing cluster keeps the settings it has)."""
    if cluster is None:
        yield
        return
    cluster.retune(True)
    try:
        yield
    finally:
        cluster.retune(False)
