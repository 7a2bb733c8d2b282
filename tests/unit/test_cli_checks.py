"""The checks of `vwclass doctor`, on objects as the API server returns them."""

from __future__ import annotations

from typing import Any

import pytest

from vwclass.cli import checks
from vwclass.cli.errors import Exit
from vwclass.core.schema import crd as shipped_crd

Obj = dict[str, Any]


def node(labels: dict[str, str] | None = None, kubelet: str = "v1.30.1") -> Obj:
    return {"metadata": {"name": "n", "labels": labels or {}}, "status": {"nodeInfo": {"kubeletVersion": kubelet}}}


def storage_class(name: str, default: bool = False) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}}


@pytest.mark.parametrize(
    ("nodes", "classes", "expected"),
    [
        ([node({"kubernetes.io/hostname": "a"})], [storage_class("standard", True)], False),
        ([node({"microk8s.io/cluster": "true"})], [], True),
        ([node(kubelet="v1.29.4-3+microk8s")], [], True),
        ([], [storage_class("microk8s-hostpath", True)], True),
    ],
)
def test_microk8s_is_recognised(nodes: list[Obj], classes: list[Obj], expected: bool) -> None:
    assert checks.is_microk8s(nodes, classes) is expected


@pytest.mark.parametrize(
    ("version", "state"),
    [
        ({"gitVersion": "v1.36.3"}, "ok"),
        ({"gitVersion": "v1.30.4+k3s1"}, "ok"),
        ({"gitVersion": "v1.29.4+k3s1"}, "failed"),  # no ValidatingAdmissionPolicy v1
        ({"gitVersion": "v1.24.17"}, "failed"),
        ({"major": "1", "minor": "31+"}, "ok"),
        ({}, "warning"),
    ],
)
def test_kubernetes_version(version: Obj, state: str) -> None:
    assert checks.kubernetes_version(version).state == state


def test_storage_needs_exactly_one_default() -> None:
    assert checks.storage([storage_class("a"), storage_class("b", True)], False) == checks.Check(
        "default StorageClass", "ok", "b"
    )
    assert checks.storage([storage_class("a", True), storage_class("b", True)], False).state == "warning"
    missing = checks.storage([storage_class("a")], microk8s=True)
    assert (missing.state, missing.fix) == ("failed", "microk8s enable hostpath-storage")
    assert "kubectl annotate storageclass" in checks.storage([], microk8s=False).fix


def test_dns_and_rbac_fixes_depend_on_the_platform() -> None:
    assert checks.dns("coredns", False).state == "ok"
    assert checks.dns(None, True).fix == "microk8s enable dns"
    assert checks.rbac(False, True).fix == "microk8s enable rbac"
    assert "--authorization-mode" in checks.rbac(False, False).fix


def _installed(schema_change: bool = False, served: bool = True, established: bool = True) -> Obj:
    import copy

    crd = copy.deepcopy(shipped_crd())
    crd["spec"]["versions"][0]["served"] = served
    if schema_change:
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].pop("podSecurity")
    crd["status"] = {"conditions": [{"type": "Established", "status": "True" if established else "False"}]}
    return crd


def test_the_crd_is_compared_with_the_shipped_one() -> None:
    assert checks.crd(_installed(), shipped_crd()).state == "ok"
    assert checks.crd(None, shipped_crd()) == checks.Check(
        "VirtualWaggleClass CRD", "failed", "not installed", "vwclass install"
    )
    older = checks.crd(_installed(schema_change=True), shipped_crd())
    assert older.state == "warning"
    assert "schema differs" in older.detail
    assert checks.crd(_installed(served=False), shipped_crd()).state == "failed"
    assert checks.crd(_installed(established=False), shipped_crd()).state == "failed"
    fresh = _installed()
    fresh["status"] = {"conditions": None}  # what a just-created CRD may say
    assert checks.crd(fresh, shipped_crd()).state == "failed"


def test_operator_deployment() -> None:
    assert checks.operator(None).state == "warning"
    assert "vwclass operator" in checks.operator(None).fix
    deployment: Obj = {
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "ghcr.io/x/vwclass:1"}]}}},
        "status": {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]},
    }
    assert checks.operator(deployment).state == "ok"
    deployment["status"] = {
        "conditions": [
            {"type": "Available", "status": "False", "message": "Deployment does not have minimum availability."}
        ]
    }
    down = checks.operator(deployment)
    assert down.state == "failed"
    assert "0/1 ready" in down.detail
    assert "minimum availability" in down.detail


def test_exit_code_and_microk8s_summary() -> None:
    ok = checks.Check("a", "ok", "")
    warn = checks.Check("b", "warning", "")
    dns = checks.dns(None, True)
    assert checks.exit_code([ok, warn]) == Exit.OK
    assert checks.exit_code([ok, dns]) == Exit.FAILED
    assert checks.exit_code([checks.reachable("https://x", "refused")]) == Exit.UNREACHABLE
    note = checks.microk8s_note([ok, dns])
    assert (note.state, note.fix) == ("warning", "microk8s enable dns hostpath-storage rbac registry")
    assert checks.microk8s_note([ok]).state == "ok"


def shaped_node(name: str, pods: int = 110, **spec: Any) -> Obj:
    allocatable = {"pods": str(pods), "cpu": "16", "memory": "64Gi"}
    return {"metadata": {"name": name}, "spec": spec, "status": {"allocatable": allocatable}}


def test_node_room_shows_each_nodes_free_room_and_the_largest_class_per_preset() -> None:
    running = {
        "metadata": {"namespace": "x", "labels": {}},
        "spec": {"nodeName": "a", "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
        "status": {"phase": "Running"},
    }
    rows = {c.name: c for c in checks.node_room([shaped_node("a"), shaped_node("b", unschedulable=True)], [running])}
    assert rows["node a"] == checks.Check("node a", checks.OK, "free: 109 pods, 15 CPUs, 63.0Gi")
    assert rows["node b"].detail == "not usable by a class: cordoned or tainted"
    room = rows["room for a class"]
    assert room.state == checks.OK
    assert room.detail.startswith("largest class that fits now: ")
    assert "(small)" in room.detail
    assert "(large)" in room.detail


def test_node_room_fails_when_no_class_fits() -> None:
    rows = {c.name: c for c in checks.node_room([shaped_node("a", pods=0)], [])}
    assert rows["node a"].state == checks.WARNING
    assert rows["room for a class"].state == checks.FAILED
    assert rows["room for a class"].detail.startswith("largest class that fits now: 0 students (small)")
