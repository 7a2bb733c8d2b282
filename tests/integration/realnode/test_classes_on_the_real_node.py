"""Classes placed on the real node come up for real: their containers run from the images built here
(under the CRD's default references) and the class turns Ready because their probes pass.

These check behaviour, not layout: they wait for the class's Ready condition and read its status, and
ask of every pod the class made only that it runs on the real node with every container started and
ready, whatever the number of pods a student's node has.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.classes import class_body, class_namespaces, delete_class, wait_ready
from tests.support.kube import eventually, unique
from tests.support.realnode import ON_THE_REAL_NODE
from vwclass.core import names, prepull
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS
from vwclass.testenv import realnode
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode


def _pods(cluster: Cluster, namespaces: set[str]) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    for namespace in sorted(namespaces):
        pods += json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
    return pods


def assert_images_pre_pulled(cluster: Cluster, teacher: Kube, name: str) -> None:
    """The class's pre-pull pod ran each of its images on the real node (one /bin/true each, exit 0),
    holds them with its idle container, and the class's status counts the node."""
    body = eventually(
        lambda: (teacher.get(CLASS, name) or {}) if _pulled(teacher, name) else None,
        timeout=120,
        what=f"class {name}'s images pulled on the real node",
    )
    assert body["status"]["imagePrePull"]["summary"] == "1/1", body["status"]["imagePrePull"]
    selector = f"{names.CLASS_LABEL}={name},app.kubernetes.io/name={names.PREPULL_COMPONENT}"
    listed = cluster.kubectl("get", "pods", "-n", names.OPERATOR_NAMESPACE, "-l", selector, "-o", "json")
    [pod] = json.loads(listed)["items"]
    assert pod["spec"]["nodeName"] == realnode.NODE_NAME
    assert [c["image"] for c in pod["spec"]["initContainers"]] == list(prepull.images(parse_class(body)))
    ran = {c["name"]: c["state"].get("terminated", {}) for c in pod["status"]["initContainerStatuses"]}
    assert len(ran) == len(pod["spec"]["initContainers"]), ran
    assert all(finished.get("exitCode") == 0 for finished in ran.values()), ran
    assert "running" in pod["status"]["containerStatuses"][0]["state"]


def _pulled(teacher: Kube, name: str) -> bool:
    block = ((teacher.get(CLASS, name) or {}).get("status") or {}).get("imagePrePull") or {}
    return bool(block.get("nodes") and block.get("pulled") == block.get("nodes"))


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({}, id="default-components"),
        pytest.param({"components": {"dataSharingService": False}}, id="no-data-sharing-service"),
        pytest.param({"podSecurity": "restricted"}, id="restricted"),
    ],
)
def test_a_class_of_two_on_the_real_node_is_ready_because_its_containers_run(
    cluster: Cluster, teacher: Kube, spec: dict[str, Any]
) -> None:
    name = unique("real")
    created = time.monotonic()
    teacher.apply(class_body(name, students=2, placement=ON_THE_REAL_NODE, **spec))
    try:
        body = wait_ready(teacher, name, students=2, timeout=600)
        print(f"\nclass {name} {spec or 'default'}: Ready {time.monotonic() - created:.1f}s after creation")
        assert body["status"]["students"]["ready"] == 2
        namespaces = class_namespaces(teacher, name)
        assert len(namespaces) == 2
        pods = _pods(cluster, namespaces)
        assert pods, "a Ready class runs pods"
        for pod in pods:
            where = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            assert pod["spec"]["nodeName"] == realnode.NODE_NAME, where
            if pod["status"].get("phase") == "Succeeded":  # a finished job's pod, if the layout has one
                continue
            statuses = pod["status"].get("containerStatuses", [])
            assert statuses, where
            for container in statuses:
                # Started by containerd and passing its readiness probe, not merely scheduled.
                assert "running" in container["state"], (where, container["name"], container["state"])
                assert container["ready"], (where, container["name"])
        assert_images_pre_pulled(cluster, teacher, name)
    finally:
        delete_class(teacher, name, timeout=300)
