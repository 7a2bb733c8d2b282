"""The multi-tenancy benchmark checks (kubectl-mtb, level 1 and the level-2 items that apply), as a student.

Each test is named in the README's table. Denials are asserted by the real API server's status and
message; permissions by SelfSubjectAccessReviews, the way kubectl-mtb audits them (`auth can-i`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.kube import as_student
from vwclass.kube.api import ApiError, Kube

pytestmark = pytest.mark.cluster
A, B = "sec-student-001", "sec-student-002"
Obj = dict[str, Any]
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def can_i(student: Kube, namespace: str | None, verb: str, resource: str, group: str = "", sub: str = "") -> bool:
    attributes = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        attributes["namespace"] = namespace
    if sub:
        attributes["subresource"] = sub
    review = student.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    return bool(review["status"].get("allowed"))


def cluster_scoped_resources(kube: Kube) -> list[tuple[str, str]]:
    """(group, resource) of every cluster-scoped resource the server serves (`api-resources --namespaced=false`)."""
    resources = [("", r["name"]) for r in kube.request("GET", "/api/v1")["resources"] if not r["namespaced"]]
    for group in kube.request("GET", "/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        for resource in kube.request("GET", f"/apis/{version}")["resources"]:
            if not resource["namespaced"]:
                resources.append((group["name"], resource["name"]))
    return [(g, r) for g, r in resources if "/" not in r]  # subresources go with their resource


def test_no_access_to_cluster_resources(kube: Kube, classroom: str) -> None:
    """MTB-PL1-CC-CPI-1: no verb on any cluster-scoped resource (nodes, namespaces, CRDs, policies...)."""
    student = as_student(kube, A)
    resources = cluster_scoped_resources(kube)
    assert ("admissionregistration.k8s.io", "validatingadmissionpolicies") in resources
    assert ("", "nodes") in resources
    allowed = [
        f"{verb} {group or 'core'}/{resource}"
        for group, resource in resources
        for verb in VERBS
        if can_i(student, None, verb, resource, group)
    ]
    # Asking "what may I do" and "who am I" is what every authenticated user may (system:basic-user).
    about_oneself = ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews")
    assert [a for a in allowed if not (a.startswith("create ") and a.endswith(about_oneself))] == []


def test_no_access_to_another_students_namespace(kube: Kube, classroom: str) -> None:
    """MTB-PL1-BC-TI-2 (block other tenants' resources): no verb on anything in a classmate's namespace."""
    student = as_student(kube, A)
    for resource, group in (("pods", ""), ("secrets", ""), ("configmaps", ""), ("deployments", "apps")):
        for verb in VERBS:
            assert not can_i(student, B, verb, resource, group), f"{verb} {resource} in {B}"
    assert can_i(student, A, "create", "pods")  # and the same review passes in their own


@pytest.mark.parametrize(
    ("resource", "group"),
    [
        ("networkpolicies", "networking.k8s.io"),
        ("resourcequotas", ""),
        ("limitranges", ""),
        ("rolebindings", "rbac.authorization.k8s.io"),
        ("roles", "rbac.authorization.k8s.io"),
    ],
)
def test_multitenant_resources_are_read_only(kube: Kube, classroom: str, resource: str, group: str) -> None:
    """MTB-PL1-BC-CPI-2, MTB-PL1-CC-TI-1: what isolates the namespace cannot be changed from inside it."""
    student = as_student(kube, A)
    for verb in ("create", "update", "patch", "delete", "deletecollection"):
        assert not can_i(student, A, verb, resource, group), f"{verb} {resource}"


def test_no_role_escalation_or_binding(kube: Kube, classroom: str) -> None:
    """MTB-PL2-CC-TI-1: no escalate or bind verb on any Role or ClusterRole, no impersonation."""
    student = as_student(kube, A)
    rbac = "rbac.authorization.k8s.io"
    for resource in ("roles", "clusterroles"):
        for verb in ("escalate", "bind"):
            assert not can_i(student, A, verb, resource, rbac)
    for resource in ("users", "groups", "serviceaccounts"):
        assert not can_i(student, A, "impersonate", resource)


def test_no_tokens_for_other_accounts(kube: Kube, classroom: str) -> None:
    """A student cannot mint a token (TokenRequest) for any account, their own included."""
    student = as_student(kube, A)
    for namespace in (A, B, "kube-system", "vwclass-system"):
        assert not can_i(student, namespace, "create", "serviceaccounts", sub="token")
    with pytest.raises(ApiError) as refused:
        student.request(
            "POST",
            f"/api/v1/namespaces/{A}/serviceaccounts/default/token",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
            attempts=1,
        )
    assert refused.value.status == 403


def container(**security: Any) -> Obj:
    return {"name": "c", "image": "busybox:1.36", "securityContext": security}


def pod(name: str, spec: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# (check, pod spec, words of the Pod Security refusal), in a baseline namespace (the class default).
BASELINE_REFUSED = [
    ("block-add-capabilities", {"containers": [container(capabilities={"add": ["SYS_ADMIN"]})]}, "capabilities"),
    ("block-privileged-containers", {"containers": [container(privileged=True)]}, "privileged"),
    ("block-use-of-host-pid", {"hostPID": True, "containers": [container()]}, "hostPID=true"),
    ("block-use-of-host-ipc", {"hostIPC": True, "containers": [container()]}, "hostIPC=true"),
    ("block-use-of-host-networking", {"hostNetwork": True, "containers": [container()]}, "hostNetwork=true"),
    (
        "block-use-of-host-ports",
        {"containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
        "hostPort",
    ),
    (
        "block-use-of-host-path",
        {
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "image": "busybox:1.36", "volumeMounts": [{"name": "h", "mountPath": "/h"}]}],
        },
        "hostPath",
    ),
]


@pytest.mark.parametrize(("check", "spec", "words"), BASELINE_REFUSED, ids=[c[0] for c in BASELINE_REFUSED])
def test_pod_security_baseline_refuses(kube: Kube, classroom: str, check: str, spec: Obj, words: str) -> None:
    student = as_student(kube, A)
    with pytest.raises(ApiError) as refused:
        student.request("POST", f"/api/v1/namespaces/{A}/pods", body=pod("bad", spec), attempts=1)
    assert refused.value.status == 403, refused.value.message
    assert "violates PodSecurity" in refused.value.message, refused.value.message
    assert words in refused.value.message, refused.value.message


def test_privilege_escalation_is_refused_at_baseline_too(kube: Kube, classroom: str) -> None:
    """block-privilege-escalation: Pod Security baseline lets it pass, the vwclass policy does not."""
    student = as_student(kube, A)
    spec = {"containers": [container(allowPrivilegeEscalation=True)]}
    with pytest.raises(ApiError) as refused:
        student.request("POST", f"/api/v1/namespaces/{A}/pods", body=pod("escalate", spec), attempts=1)
    assert refused.value.status == 403
    assert "allowPrivilegeEscalation: true is not allowed in a vwclass student namespace" in refused.value.message


@pytest.fixture(scope="module")
def restricted(kube: Kube, classroom: str) -> Iterator[str]:
    """A class at Pod Security `restricted`, reconciled by the classroom's operator."""
    kube.apply(class_body("secr", students=1, podSecurity="restricted"))
    wait_ready(kube, "secr", 1)
    yield "secr-student-001"
    delete_class(kube, "secr")


def test_restricted_requires_non_root_and_no_escalation(kube: Kube, restricted: str) -> None:
    """require-run-as-non-root-user, block-privilege-escalation: what `restricted` adds to baseline."""
    student = as_student(kube, restricted)
    as_root: dict[str, Any] = {
        "containers": [container(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})]
    }
    as_root["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    with pytest.raises(ApiError) as refused:
        student.request("POST", f"/api/v1/namespaces/{restricted}/pods", body=pod("root", as_root), attempts=1)
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.message
    assert "runAsNonRoot != true" in refused.value.message
    as_root["securityContext"]["runAsNonRoot"] = True
    created = student.request("POST", f"/api/v1/namespaces/{restricted}/pods", body=pod("nonroot", as_root))
    assert created["metadata"]["namespace"] == restricted


def test_every_namespace_has_quota_and_limits(kube: Kube, classroom: str) -> None:
    """MTB-PL1-CC-FNS-1/2 (configure-ns-quotas, configure-ns-object-quota): set, and readable by the student."""
    student = as_student(kube, A)
    quota = student.request("GET", f"/api/v1/namespaces/{A}/resourcequotas/student-quota")["spec"]["hard"]
    for key in (
        "requests.cpu",
        "limits.memory",
        "requests.storage",
        "pods",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
        "count/configmaps",
        "count/secrets",
        "services",
        "count/jobs.batch",
        "count/cronjobs.batch",
        "count/deployments.apps",
        "count/statefulsets.apps",
        "count/replicasets.apps",
    ):
        assert key in quota, key
    limits = student.request("GET", f"/api/v1/namespaces/{A}/limitranges/student-defaults")["spec"]["limits"]
    assert limits[0]["default"]
    assert limits[0]["defaultRequest"]
