"""One real-node cluster and one operator shared by this package's modules, once those that need the
machine alone have run.

Only one real node fits on a machine, and each takes about a minute to come up and to go. Modules
marked `realnode_alone` (the node's own up/down checks, `make demo`, the operator in its pod) bring up
their own and must find the machine free: they run first. The others share the package's cluster,
which goes when the package's last test has run, and each makes its own classes on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clock import VirtualClock
from tests.support.realnode import real_node_cluster, running_operator
from vwclass.kube.api import Kube
from vwclass.testenv.cluster import Cluster

HERE = __file__.rsplit("/", 1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within this package, the tests of `realnode_alone` modules before the shared cluster's."""
    ours = [i for i, item in enumerate(items) if str(item.path).startswith(HERE + "/")]
    if not ours:
        return
    block = [items[i] for i in ours]
    block.sort(key=lambda item: item.get_closest_marker("realnode_alone") is None)  # stable: file order kept
    for index, item in zip(ours, block, strict=True):
        items[index] = item


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    """The shared local control plane with the real node and the class's images imported."""
    with real_node_cluster("shared") as cluster:
        yield cluster


@pytest.fixture(scope="package")
def clock() -> VirtualClock:
    """The shared operator's clock: real time until a test sets it (and resets it when done)."""
    return VirtualClock()


@pytest.fixture(scope="package")
def teacher(cluster: Cluster, clock: VirtualClock) -> Iterator[Kube]:
    """The operator reconciling the shared cluster's classes; the teacher's client."""
    with running_operator(cluster, clock) as kube:
        yield kube
