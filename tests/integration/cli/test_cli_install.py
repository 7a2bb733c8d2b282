"""`vwclass install`, `uninstall` and `doctor` on the real control plane (no operator running here).

The module ends with vwclass installed again, as the session found it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.classes import class_body
from tests.support.cli import Cli, invoke, kubectl, one_line, run_vwclass
from tests.support.kube import eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE
from vwclass.shipped import shipped_dir

pytestmark = pytest.mark.cluster
CRD = BY_KIND[("apiextensions.k8s.io/v1", "CustomResourceDefinition")]
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
SERVICE = BY_KIND[("v1", "Service")]
STORAGE_CLASS = BY_KIND[("storage.k8s.io/v1", "StorageClass")]
CLUSTER_ROLE = BY_KIND[("rbac.authorization.k8s.io/v1", "ClusterRole")]
EXPECTED = {
    ("CustomResourceDefinition", names.CRD_NAME),
    ("Namespace", "vwclass-system"),
    ("ServiceAccount", "vwclass-operator"),
    ("ClusterRole", "vwclass-operator"),
    ("ClusterRoleBinding", "vwclass-operator"),
    ("ClusterRole", "vwclass-student"),
    ("Deployment", "vwclass-operator"),
    ("ServiceAccount", "vwclass-gateway"),
    ("ClusterRole", "vwclass-gateway"),
    ("ClusterRoleBinding", "vwclass-gateway"),
    ("ClusterRole", "vwclass-gateway-reader"),
    *(
        (kind, policy)
        for policy in names.ADMISSION_POLICIES
        for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    ),
}
POLICY = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")]
BINDING = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")]
POLICY_CHECKS = {
    f"{kind} {policy}": "ok"
    for policy in names.ADMISSION_POLICIES
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
}
INSTALL_FIX = "vwclass install (or: kubectl apply --server-side -k manifests/base)"


def _kinds_and_names(documents: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in documents}


def test_dry_run_prints_the_kustomization_without_a_cluster(tmp_path: Path, kubeconfig: Path) -> None:
    result = invoke("--kubeconfig", str(tmp_path / "none"), "install", "--dry-run")
    assert result.exit_code == 0, result.output
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert _kinds_and_names(documents) == EXPECTED
    assert documents[0]["kind"] == "CustomResourceDefinition"  # first: everything else may need it
    # The same objects `kubectl apply -k manifests/base` would apply, read by kubectl itself.
    kustomized = kubectl(kubeconfig, "kustomize", str(shipped_dir("manifests") / "base"))
    assert kustomized.returncode == 0, kustomized.stderr
    assert _kinds_and_names([d for d in yaml.safe_load_all(kustomized.stdout) if d]) == EXPECTED
    image = invoke("install", "--dry-run", "--operator-image", "registry.local:32000/vwclass:dev")
    assert "image: registry.local:32000/vwclass:dev" in image.stdout
    without = invoke("install", "--dry-run", "--without-operator")
    assert ("Deployment", "vwclass-operator") not in _kinds_and_names(list(yaml.safe_load_all(without.stdout)))


@pytest.fixture
def dns_service(cli_kube: Kube) -> Iterator[None]:
    cli_kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
        }
    )
    yield
    cli_kube.delete(SERVICE, "kube-dns", "kube-system")


def _doctor(cli: Cli) -> tuple[int, dict[str, dict[str, str]]]:
    result = cli("doctor", "-o", "json")
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)}


def test_install_then_doctor(cli: Cli, cli_kube: Kube, dns_service: None) -> None:
    result = cli("install")
    assert result.exit_code == 0, result.output
    assert f"applied CustomResourceDefinition {names.CRD_NAME}" in result.stdout
    assert "applied Deployment vwclass-system/vwclass-operator" in result.stdout
    crd = cli_kube.get(CRD, names.CRD_NAME)
    assert crd is not None
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    assert cli_kube.get(CLUSTER_ROLE, "vwclass-student") is not None
    assert cli_kube.get(DEPLOYMENT, "vwclass-operator", "vwclass-system") is not None
    # Applied server-side under our own field manager.
    managers = {m["manager"] for m in crd["metadata"]["managedFields"] if m["operation"] == "Apply"}
    assert "vwclass-cli" in managers

    # kwok runs the operator's pod (nothing inside): the Deployment becomes Available.
    _code, checks = eventually(
        lambda: (lambda r: r if r[0] == 0 else None)(_doctor(cli)), timeout=60, what="doctor passing"
    )
    # Each node's free room, then the largest class that fits with each preset.
    nodes = {name: c for name, c in checks.items() if name.startswith("node ")}
    assert nodes
    assert all(re.fullmatch(r"free: \d+ pods, [\d.]+ CPUs, [\d.]+Gi", c["detail"]) for c in nodes.values()), nodes
    room = checks.pop("room for a class")
    assert room["state"] == "ok"
    assert re.fullmatch(r"largest class that fits now: \d+ students \(small\), .*\(large\)", room["detail"]), room
    assert {name: c["state"] for name, c in checks.items() if name not in nodes} == {
        "cluster reachable": "ok",
        "Kubernetes version": "ok",
        "RBAC": "ok",
        "cluster DNS": "ok",
        "default StorageClass": "warning",  # the test environment's host-path provisioner: sizes unenforced
        "VirtualWaggleClass CRD": "ok",
        "student role": "ok",
        **POLICY_CHECKS,
        "operator": "ok",
        "your permissions": "ok",
        "pod PIDs limit": "ok",
        "NetworkPolicy enforcement": "warning",
    }
    assert checks["cluster DNS"]["detail"] == "Service kube-system/kube-dns"
    assert checks["default StorageClass"]["detail"].startswith(
        "testenv-hostpath (kubernetes.io/host-path): claim sizes are not enforced"
    )
    # kwok's nodes have no kubelet and run no container: neither is asked, and doctor says so.
    assert re.fullmatch(
        r"no real node to check \(\d+ simulated kwok nodes? left out\)", checks["pod PIDs limit"]["detail"]
    )
    assert checks["NetworkPolicy enforcement"]["detail"].startswith("could not tell: no real node to run it on (")
    table = cli("doctor")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["STATE", "CHECK", "DETAIL", "FIX"]


def test_doctor_names_each_missing_or_changed_admission_policy_and_how_to_install_it(
    cli: Cli, cli_kube: Kube, dns_service: None
) -> None:
    assert cli("install").exit_code == 0
    cli_kube.delete(POLICY, "vwclass-student-pods")
    cli_kube.delete(BINDING, "vwclass-student-services")
    changed = cli_kube.get(POLICY, "vwclass-student-volumes")
    assert changed is not None
    changed["spec"]["validations"][0]["expression"] = "true"  # someone "fixed" it to let everything through
    cli_kube.request(
        "PUT", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/vwclass-student-volumes", body=changed
    )

    code, checks = _doctor(cli)
    assert code == 1
    failed = {name: c for name, c in checks.items() if c["state"] == "failed"}
    assert set(failed) == {
        "ValidatingAdmissionPolicy vwclass-student-pods",
        "ValidatingAdmissionPolicyBinding vwclass-student-services",
        "ValidatingAdmissionPolicy vwclass-student-volumes",
    }
    assert failed["ValidatingAdmissionPolicy vwclass-student-pods"]["detail"] == (
        "missing: nothing stops students setting nodeName, priorityClassName or tolerations "
        "(any node, evicting others) or allowPrivilegeEscalation"
    )
    assert failed["ValidatingAdmissionPolicyBinding vwclass-student-services"]["detail"] == (
        "missing: nothing stops students setting a Service's externalIPs (capturing other pods' traffic)"
    )
    assert failed["ValidatingAdmissionPolicy vwclass-student-volumes"]["detail"] == (
        "differs from this vwclass's at spec.validations[0].expression"
    )
    assert all(c["fix"].startswith(INSTALL_FIX) for c in failed.values())
    table = cli("doctor")
    assert table.exit_code == 1
    assert one_line(table.stderr) == (
        "3 checks failed: ValidatingAdmissionPolicy vwclass-student-pods, ValidatingAdmissionPolicy "
        "vwclass-student-volumes, ValidatingAdmissionPolicyBinding vwclass-student-services\n"
    )

    # The fix it names is the fix.
    assert cli("install").exit_code == 0
    code, checks = _doctor(cli)
    assert {name: checks[name]["state"] for name in POLICY_CHECKS} == POLICY_CHECKS


def test_doctor_fails_without_dns_and_names_microk8s_addons(cli: Cli, cli_kube: Kube) -> None:
    code, checks = _doctor(cli)
    assert code == 1
    assert checks["cluster DNS"]["state"] == "failed"
    assert checks["cluster DNS"]["fix"] == "install CoreDNS (most distributions ship it as an addon)"
    assert "MicroK8s" not in checks
    # MicroK8s is recognised by its storage class; the fixes become its addons.
    cli_kube.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "microk8s-hostpath"},
            "provisioner": "microk8s.io/hostpath",
        }
    )
    try:
        result = cli("doctor")
        code, checks = _doctor(cli)
    finally:
        cli_kube.delete(STORAGE_CLASS, "microk8s-hostpath")
    assert code == 1
    assert result.exit_code == 1
    assert checks["cluster DNS"]["fix"] == "microk8s enable dns"
    assert checks["MicroK8s"] == {
        "name": "MicroK8s",
        "state": "warning",
        "detail": "addons missing: cluster DNS",
        "fix": "microk8s enable dns hostpath-storage rbac registry",
    }
    assert "microk8s enable dns hostpath-storage rbac registry" in result.stdout
    assert one_line(result.stderr) == "1 check failed: cluster DNS\n"


def test_uninstall_refuses_while_a_class_exists_then_force_removes_everything(cli: Cli, cli_kube: Kube) -> None:
    cli_kube.apply(class_body("keepme", students=1))
    refused = cli("uninstall")
    assert refused.exit_code == 1
    assert one_line(refused.stderr) == (
        "error: 1 class still exists (keepme): delete them with `vwclass delete`, or pass --force to delete them "
        "and every student namespace with them\n"
    )
    assert cli_kube.get(CRD, names.CRD_NAME) is not None
    assert cli_kube.get(CLASS, "keepme") is not None

    dry = cli("uninstall", "--force", "--dry-run")
    assert dry.exit_code == 0
    assert "would delete VirtualWaggleClass keepme" in dry.stdout
    assert cli_kube.get(CLASS, "keepme") is not None

    removed = cli("uninstall", "--force")
    assert removed.exit_code == 0, removed.output
    assert "deleted VirtualWaggleClass keepme" in removed.stdout
    assert removed.stdout.endswith("vwclass uninstalled\n")
    assert cli_kube.get(CRD, names.CRD_NAME) is None
    assert cli_kube.get(NAMESPACE, "vwclass-system") is None
    assert cli_kube.get(CLUSTER_ROLE, "vwclass-student") is None
    assert cli_kube.get(POLICY, "vwclass-student-pods") is None

    # Without the CRD every class command says how to fix it.
    for args in (
        ("list",),
        ("status", "keepme"),
        ("create", "keepme", "--students", "1"),
        ("delete", "keepme", "--yes"),
    ):
        result = cli(*args)
        assert result.exit_code == 3, (args, result.output)
        assert one_line(result.stderr) == (
            "error: vwclass is not installed on this cluster (no VirtualWaggleClass API): run `vwclass install`\n"
        )
    code, checks = _doctor(cli)
    assert code == 1
    assert checks["VirtualWaggleClass CRD"]["state"] == "failed"
    assert checks["VirtualWaggleClass CRD"]["fix"] == "vwclass install"
    assert checks["student role"]["state"] == "failed"
    assert checks["student role"]["fix"] == "vwclass install"
    assert checks["operator"]["state"] == "warning"
    assert "vwclass operator" in checks["operator"]["fix"]
    assert all(checks[name]["state"] == "failed" for name in POLICY_CHECKS)

    # Installed again by the real script, as the session found it.
    again = run_vwclass("--kubeconfig", str(cli.kubeconfig), "install")
    assert again.returncode == 0, again.stderr
    assert cli_kube.get(CLUSTER_ROLE, "vwclass-student") is not None
    assert cli("list", "-o", "json").stdout == "[]\n"
