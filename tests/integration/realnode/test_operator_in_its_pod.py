"""The operator runs in its pod on the real node, as `vwclass install` ships it, and reconciles a class.

This is the teacher's path on a real cluster: the project's image under its default reference, the
ServiceAccount and RBAC of `manifests/`, a read-only root filesystem, and the API server reached from a
pod through the `kubernetes` Service with the pod's own (rotated, projected) token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.cli import run_vwclass
from tests.support.kube import eventually, unique
from tests.support.realnode import ON_THE_REAL_NODE, real_node_cluster
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.testenv import realnode
from vwclass.testenv.cluster import Cluster

pytestmark = [pytest.mark.realnode, pytest.mark.realnode_alone]

NAMESPACE = "vwclass-system"
DEPLOYMENT = "vwclass-operator"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with real_node_cluster("operator") as cluster:
        yield cluster


def _operator_pod(cluster: Cluster) -> dict[str, Any] | None:
    pods = json.loads(cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [
        p
        for p in running
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    return ready[0] if len(ready) == 1 and len(running) == 1 else None


@pytest.fixture(scope="module")
def operator_pod(cluster: Cluster) -> dict[str, Any]:
    installed = run_vwclass("--kubeconfig", str(cluster.kubeconfig), "install")
    assert installed.returncode == 0, installed.stderr
    # Only what the test environment needs: the kwok nodes cannot run containers, so the Deployment is
    # told to go to the real node, as a teacher would place it on chosen nodes.
    placement = {"spec": {"template": {"spec": ON_THE_REAL_NODE}}}
    cluster.kubectl("patch", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--type=merge", "-p", json.dumps(placement))
    try:
        return eventually(lambda: _operator_pod(cluster), timeout=180, interval=2, what="the operator's pod Ready")
    except AssertionError:
        print(cluster.kubectl("describe", "pods", "-n", NAMESPACE))
        print(cluster.kubectl("logs", "-n", NAMESPACE, f"deployment/{DEPLOYMENT}", "--tail=40"))
        raise


def test_the_operator_runs_from_the_shipped_manifests_in_its_pod(operator_pod: dict[str, Any]) -> None:
    spec = operator_pod["spec"]
    assert spec["nodeName"] == realnode.NODE_NAME
    assert spec["serviceAccountName"] == DEPLOYMENT
    (container,) = spec["containers"]
    assert container["image"] == "ghcr.io/sagecontinuum/vwclass:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (status,) = operator_pod["status"]["containerStatuses"]
    # Ready means its liveness and readiness probes (kopf's health endpoint) pass in the pod.
    assert status["ready"], status
    assert "running" in status["state"], status
    assert status["restartCount"] == 0, "the operator crashed before it came up"


def test_the_operator_in_its_pod_makes_a_class_ready(cluster: Cluster, operator_pod: dict[str, Any]) -> None:
    kube: Kube = connect(str(cluster.kubeconfig))
    name = unique("inpod")
    created = time.monotonic()
    kube.apply(class_body(name, students=1, placement=ON_THE_REAL_NODE))
    try:
        body = wait_ready(kube, name, students=1, timeout=300)
        print(f"\nclass {name}: Ready {time.monotonic() - created:.1f}s after creation, by the operator in its pod")
        assert body["status"]["students"]["ready"] == 1
        logs = cluster.kubectl("logs", "-n", NAMESPACE, operator_pod["metadata"]["name"])
        assert name in logs, "the class was reconciled by the operator in the pod, not by anyone else"
        assert "Traceback" not in logs
    finally:
        delete_class(kube, name, timeout=300)
