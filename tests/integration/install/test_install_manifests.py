"""The install manifests apply cleanly, and the operator's ClusterRole is exactly enough."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.classes import class_body, condition, delete_class, install, wait_ready
from tests.support.cli import kubectl
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually, token_kubeconfig
from vwclass import __version__
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS
from vwclass.shipped import shipped_dir

pytestmark = pytest.mark.cluster
BASE = shipped_dir("manifests") / "base"


@pytest.fixture(scope="module")
def installed(kubeconfig: Path) -> Kube:
    applied = kubectl(kubeconfig, "apply", "--server-side", "-k", str(BASE))
    assert applied.returncode == 0, applied.stderr
    kube = connect(str(kubeconfig))
    install(kube)  # waits for the CRD to be established
    return kube


def test_kubectl_apply_k_installs_everything(installed: Kube, kubeconfig: Path) -> None:
    listed = kubectl(kubeconfig, "get", "-k", str(BASE), "-o", "name")
    assert listed.returncode == 0, listed.stderr
    names = set(listed.stdout.split())
    assert {
        "namespace/vwclass-system",
        "serviceaccount/vwclass-operator",
        "clusterrole.rbac.authorization.k8s.io/vwclass-operator",
        "clusterrole.rbac.authorization.k8s.io/vwclass-student",
        "validatingadmissionpolicy.admissionregistration.k8s.io/vwclass-student-pods",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/vwclass-student-pods",
        "deployment.apps/vwclass-operator",
        "customresourcedefinition.apiextensions.k8s.io/virtualwaggleclasses.edu.sagecontinuum.org",
    } <= names


def _role() -> dict[str, Any]:
    documents = list(yaml.safe_load_all((BASE / "operator-rbac.yaml").read_text()))
    role: dict[str, Any] = next(d for d in documents if d["kind"] == "ClusterRole")
    return role


def test_the_operator_reaches_ready_with_only_its_own_service_account(installed: Kube, tmp_path: Path) -> None:
    kubeconfig = token_kubeconfig(installed, "vwclass-system", "vwclass-operator", tmp_path / "operator.kubeconfig")
    with EmbeddedOperator(str(kubeconfig)):
        installed.apply(class_body("leastpriv", students=2))
        wait_ready(installed, "leastpriv", 2)
        # It may read the admission policies too, and says they are in place.
        assert condition(installed, "leastpriv", "AdmissionPoliciesInstalled")["status"] == "True"
    delete_class(installed, "leastpriv")


@pytest.fixture
def crippled_account(installed: Kube) -> Iterator[str]:
    """A copy of the operator's role without the NetworkPolicy rule, bound to its own account."""
    role = copy.deepcopy(_role())
    role["metadata"]["name"] = "vwclass-operator-crippled"
    role["rules"] = [r for r in role["rules"] if "networkpolicies" not in r.get("resources", [])]
    assert len(role["rules"]) == len(_role()["rules"]) - 1
    installed.apply(role)
    installed.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "vwclass-operator-crippled", "namespace": "vwclass-system"},
        }
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "vwclass-operator-crippled"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "vwclass-operator-crippled",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "vwclass-operator-crippled", "namespace": "vwclass-system"}],
    }
    installed.apply(binding)
    yield "vwclass-operator-crippled"
    for path in (
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/vwclass-operator-crippled",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/vwclass-operator-crippled",
        "/api/v1/namespaces/vwclass-system/serviceaccounts/vwclass-operator-crippled",
    ):
        installed.request("DELETE", path)


def test_a_missing_rule_stalls_the_class_with_a_message_naming_it(
    installed: Kube, crippled_account: str, tmp_path: Path
) -> None:
    kubeconfig = token_kubeconfig(installed, "vwclass-system", crippled_account, tmp_path / "crippled.kubeconfig")
    with EmbeddedOperator(str(kubeconfig)):
        installed.apply(class_body("norbac", students=1))

        def stalled() -> dict[str, str] | None:
            found = condition(installed, "norbac", "Stalled")
            return found if found.get("status") == "True" and found.get("reason") == "PermissionDenied" else None

        found = eventually(stalled, timeout=60, what="class Stalled for a missing permission")
    assert "networkpolicies" in found["message"]
    assert "forbidden" in found["message"]
    body = installed.get(CLASS, "norbac")
    assert body is not None
    assert body["status"]["phase"] == "Degraded"
    delete_class(installed, "norbac")


def test_the_microk8s_overlay_takes_the_image_from_the_local_registry(kubeconfig: Path) -> None:
    rendered = kubectl(kubeconfig, "kustomize", str(shipped_dir("manifests") / "overlays" / "microk8s"))
    assert rendered.returncode == 0, rendered.stderr
    deployment = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"localhost:32000/vwclass:{__version__}"


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_the_examples_apply_cleanly(installed: Kube, example: str) -> None:
    for document in yaml.safe_load_all((EXAMPLES / example).read_text()):
        if document["kind"] == "VirtualWaggleClass":
            installed.request(
                "POST",
                "/apis/edu.sagecontinuum.org/v1alpha1/virtualwaggleclasses",
                body=document,
                query=[("dryRun", "All"), ("fieldValidation", "Strict")],
            )
        elif document["kind"] == "Kustomization":  # Flux: health-checks our classes
            checks = document["spec"]["healthChecks"]
            assert all(
                c["kind"] == "VirtualWaggleClass" and c["apiVersion"] == "edu.sagecontinuum.org/v1alpha1"
                for c in checks
            )
        elif document["kind"] == "ConfigMap":  # Argo CD: a health check keyed by our group and kind
            assert "resource.customizations.health.edu.sagecontinuum.org_VirtualWaggleClass" in document["data"]
        elif document["kind"] == "PodMonitor":  # Prometheus Operator: the operator's pod and metrics port
            deployment = yaml.safe_load((BASE / "operator-deployment.yaml").read_text())
            pod = deployment["spec"]["template"]
            assert document["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
            ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
            assert {e["port"] for e in document["spec"]["podMetricsEndpoints"]} <= ports
        else:
            assert document["kind"] in ("Application", "GitRepository"), document["kind"]


def test_kustomize_renders_every_shipped_object_exactly_as_written(kubeconfig: Path) -> None:
    """`kubectl apply -k` and `vwclass install` (which reads the files) must send the same objects, or
    the second to apply meets a server-side-apply conflict (kustomize once re-wrapped folded CEL)."""
    rendered = kubectl(kubeconfig, "kustomize", str(BASE))
    assert rendered.returncode == 0, rendered.stderr
    by_key = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered.stdout)}
    written = [
        d
        for path in sorted(BASE.glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d and d.get("kind") != "Kustomization"
    ]
    assert written
    for document in written:
        key = (document["kind"], document["metadata"]["name"])
        assert by_key[key] == document, key


def test_kubectl_apply_k_after_vwclass_install_meets_no_conflict(installed: Kube, kubeconfig: Path) -> None:
    """The fixture applied with kubectl, then as `vwclass install` does; kubectl again must agree with
    what the server holds (atomic structs such as a policy's matchConstraints carry its defaults)."""
    again = kubectl(kubeconfig, "apply", "--server-side", "-k", str(BASE))
    assert again.returncode == 0, again.stderr
