"""Fixtures for the reliability suite: the local control plane, whose processes these tests stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.operator.conftest import install
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.testenv.cluster import Cluster


@pytest.fixture(scope="session")
def kube(kubeconfig: Path) -> Kube:
    client = connect(str(kubeconfig))
    install(client)
    return client


@pytest.fixture
def local_cluster(testenv_cluster: Cluster | None) -> Cluster:
    """Only the local control plane lets a test stop kube-apiserver or etcd."""
    if testenv_cluster is None:
        pytest.skip("stopping the API server or etcd needs the local control plane, not VWCLASS_TEST_KUBECONFIG")
    return testenv_cluster
