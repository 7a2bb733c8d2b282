"""Whole-class invariants the reliability tests assert after every fault."""

from __future__ import annotations

from collections import Counter

from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, NAMESPACE, STUDENT_KINDS

# What one default student namespace holds, by kind, exactly (no duplicate, no orphan).
EXPECTED_PER_STUDENT = Counter(
    {
        "ServiceAccount": 1,
        "RoleBinding": 2,  # the student's role, and the class gateway's read of the node's Jupyter token
        "NetworkPolicy": 2,  # ingress and egress (and the workspace's way to the API server: see below)
        "ResourceQuota": 1,
        "LimitRange": 1,
        "Secret": 2,
        "ConfigMap": 1,  # the workspace's kubeconfig
        "Service": 4,
        "PersistentVolumeClaim": 1,
        "StatefulSet": 1,  # the node: one pod per student
    }
)
# What the class keeps in vwclass-system beside its pre-pull DaemonSet: its gateway.
EXPECTED_IN_OPERATOR_NAMESPACE = Counter({"ConfigMap": 1, "Deployment": 1, "Service": 1})


def credentials(kube: Kube, class_name: str) -> dict[str, dict[str, str]]:
    secrets = kube.list(BY_KIND[("v1", "Secret")], f"{names.CREDENTIALS_LABEL}=true,{names.CLASS_LABEL}={class_name}")
    return {s["metadata"]["namespace"]: s["data"] for s in secrets}


def assert_exactly_the_class(kube: Kube, class_name: str, students: int) -> None:
    """Every student namespace exists once, holds exactly its objects, and nothing else is labelled ours."""
    namespaces = [
        n for n in kube.list(NAMESPACE, names.class_selector(class_name)) if not n["metadata"].get("deletionTimestamp")
    ]
    assert sorted(n["metadata"]["name"] for n in namespaces) == [
        f"{class_name}-{names.generated_student_id(i)}" for i in range(1, students + 1)
    ]
    per_namespace: dict[str, Counter[str]] = {n["metadata"]["name"]: Counter() for n in namespaces}
    shared: Counter[str] = Counter()
    for kind in STUDENT_KINDS:
        for obj in kube.list(kind, names.class_selector(class_name)):
            namespace = obj["metadata"]["namespace"]
            if namespace == names.OPERATOR_NAMESPACE and obj["metadata"]["name"] == names.gateway_name(class_name):
                shared[kind.kind] += 1
                continue
            assert namespace in per_namespace, f"orphan {kind.kind} {obj['metadata']['name']} in {namespace}"
            per_namespace[namespace][kind.kind] += 1
    assert shared == EXPECTED_IN_OPERATOR_NAMESPACE, shared
    # The workspace's egress to the API server exists where the API server's address is published (the
    # `kubernetes` EndpointSlice: every real cluster; not this control plane without a real node).
    expected = EXPECTED_PER_STUDENT.copy()
    if kube.list(BY_KIND[("discovery.k8s.io/v1", "EndpointSlice")], "kubernetes.io/service-name=kubernetes", "default"):
        expected["NetworkPolicy"] += 1
    for namespace, counted in per_namespace.items():
        assert counted == expected, f"{namespace}: {counted - expected} extra, {expected - counted} missing"
