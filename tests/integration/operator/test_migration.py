"""A class made by the operator of five workloads per student moves to the one-pod node on upgrade.

The old layout is the frozen rendering in tests/data (main before the node was one pod), applied as
that operator applied it: the namespace owned by the class, generated passwords in the credentials
Secret, then every object with the operator's field manager, its pods running and its claims made.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import names, render
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, POD
from vwclass.operator.reconcile import LEGACY_RABBITMQ_CLAIM

pytestmark = pytest.mark.cluster

OLD_LAYOUT = Path(__file__).resolve().parents[2] / "data" / "old-layout-2-students.yaml"
NAMESPACES = ("migrating-student-001", "migrating-student-002")
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]
SECRET = BY_KIND[("v1", "Secret")]
SERVICE = BY_KIND[("v1", "Service")]
CLAIM = BY_KIND[("v1", "PersistentVolumeClaim")]
OLD_WORKLOADS = {"rabbitmq", "app-meta-cache", "data-sharing-service", "data-endpoint", "plugin-runner"}


def apply_old_layout(kube: Kube, owner: dict[str, Any]) -> None:
    """What the operator of the old layout made of class `migrating`, with passwords it generated."""
    reference = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for document in yaml.safe_load_all(OLD_LAYOUT.read_text()):
        if document["kind"] == "Namespace":
            document["metadata"]["ownerReferences"] = [reference]
        if document["metadata"]["name"] == names.CREDENTIALS_SECRET:
            generated = {key: secrets.token_urlsafe(24) for key in names.CREDENTIAL_KEYS}
            document = render.credentials_secret(parse_class(owner), _student(owner, document), generated)
        kube.apply(document)


def _student(owner: dict[str, Any], document: dict[str, Any]) -> Any:
    return next(s for s in parse_class(owner).students if s.namespace == document["metadata"]["namespace"])


def test_a_class_of_the_old_layout_moves_to_one_pod_per_student_and_keeps_its_data(
    kube: Kube, kubeconfig: Path
) -> None:
    kube.apply(class_body("migrating", students=2))
    owner = kube.get(CLASS, "migrating")
    assert owner is not None
    apply_old_layout(kube, owner)

    def old_layout_running() -> bool:
        pods = [p for n in NAMESPACES for p in kube.list(POD, namespace=n)]
        claims = [kube.get(CLAIM, LEGACY_RABBITMQ_CLAIM, n) for n in NAMESPACES]
        return len(pods) == 10 and all(p["status"].get("phase") == "Running" for p in pods) and all(claims)

    eventually(old_layout_running, timeout=90, what="the old layout's 5 pods per student running")
    old_secrets = {n: kube.get(SECRET, names.CREDENTIALS_SECRET, n) or {} for n in NAMESPACES}
    old_claims = {
        n: {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.list(CLAIM, namespace=n)} for n in NAMESPACES
    }
    assert set(old_claims[NAMESPACES[0]]) == {"data-endpoint", "uploads", "workspace", LEGACY_RABBITMQ_CLAIM}

    with EmbeddedOperator(str(kubeconfig), resync_seconds=10.0):
        body = wait_ready(kube, "migrating", 2)
        assert body["status"]["phase"] == "Ready"

        def one_pod_each() -> bool:
            return all(
                [p["metadata"]["name"] for p in kube.list(POD, namespace=n)] == [f"{names.NODE_WORKLOAD}-0"]
                and kube.get(CLAIM, LEGACY_RABBITMQ_CLAIM, n) is None
                for n in NAMESPACES
            )

        eventually(one_pod_each, timeout=90, what="the old pods and the old RabbitMQ claim gone")

    for namespace in NAMESPACES:
        # The new layout: one StatefulSet, no Deployment, the Services selecting its pod.
        assert kube.list(DEPLOYMENT, namespace=namespace) == []
        [node] = kube.list(STATEFULSET, namespace=namespace)
        assert node["metadata"]["name"] == names.NODE_WORKLOAD
        assert not OLD_WORKLOADS & {w["metadata"]["name"] for w in kube.list(STATEFULSET, namespace=namespace)}
        pod_labels = node["spec"]["template"]["metadata"]["labels"]
        for service in ("rabbitmq", "app-meta-cache", "data-endpoint"):
            found = kube.get(SERVICE, service, namespace)
            assert found is not None
            assert found["spec"]["selector"].items() <= pod_labels.items()
        # The credentials Secret: never written, the same passwords.
        secret = kube.get(SECRET, names.CREDENTIALS_SECRET, namespace)
        assert secret is not None
        old_secret = old_secrets[namespace]
        assert secret["data"] == old_secret["data"]
        assert secret["metadata"]["resourceVersion"] == old_secret["metadata"]["resourceVersion"]
        # The claims holding data: the same objects (uids), mounted by the node.
        claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube.list(CLAIM, namespace=namespace)}
        kept = {k: v for k, v in old_claims[namespace].items() if k != LEGACY_RABBITMQ_CLAIM}
        assert claims == kept
        volumes = node["spec"]["template"]["spec"]["volumes"]
        mounted = {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
        assert mounted == {"data-endpoint", "uploads", "workspace"}
    delete_class(kube, "migrating")
