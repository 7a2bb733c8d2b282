"""Fixtures for the reliability suite: the local control plane, whose processes these tests stop."""

from __future__ import annotations

import pytest

from vwclass.testenv.cluster import Cluster


@pytest.fixture
def local_cluster(testenv_cluster: Cluster | None) -> Cluster:
    """Only the local control plane lets a test stop kube-apiserver or etcd."""
    if testenv_cluster is None:
        pytest.skip("stopping the API server or etcd needs the local control plane, not VWCLASS_TEST_KUBECONFIG")
    return testenv_cluster
