"""Session fixtures: a real Kubernetes control plane for every integration test.

The local control plane (vwclass.testenv) is started once per session unless VWCLASS_TEST_KUBECONFIG
names an existing cluster (kind, k3s, MicroK8s): then the same tests run there unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from vwclass.kube.api import Kube
from vwclass.testenv.cluster import Cluster


@pytest.fixture(scope="session")
def testenv_cluster() -> Iterator[Cluster | None]:
    """The local cluster this session started, or None when running against an existing one."""
    if os.environ.get("VWCLASS_TEST_KUBECONFIG"):
        yield None
        return
    # One cluster per session: two sessions at once (CI's suites, a developer's) never share or stop
    # each other's control plane.
    cluster = Cluster(os.environ.get("VWCLASS_TEST_CLUSTER") or f"pytest-{os.getpid()}")
    if cluster.is_up():
        raise RuntimeError(f"cluster {cluster.name} is already running; set VWCLASS_TEST_CLUSTER to another name")
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def kubeconfig(testenv_cluster: Cluster | None) -> Path:
    existing = os.environ.get("VWCLASS_TEST_KUBECONFIG")
    if existing:
        return Path(existing)
    assert testenv_cluster is not None
    return testenv_cluster.kubeconfig


@pytest.fixture(scope="session")
def kube(kubeconfig: Path) -> Kube:
    """A client of the session's cluster, with the CRD and the student role installed."""
    from tests.support.classes import install
    from vwclass.kube.connect import connect

    client = connect(str(kubeconfig))
    install(client)
    return client


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> ApiClient:
    from kubernetes import config

    api_client: ApiClient = config.new_client_from_config(config_file=str(kubeconfig))
    return api_client


@pytest.fixture(scope="session")
def kstatus_binary() -> Path:
    """kstatus (sigs.k8s.io/cli-utils, the health code Flux runs) as a command, built once and cached
    beside the control plane's binaries."""
    from tests.support.gitops import build_kstatus

    return build_kstatus()
