"""What a student's token can and cannot do, each denial asserted by the real API server's status."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.kube import as_student, status_of
from vwclass.kube.api import Kube

pytestmark = pytest.mark.cluster
A, B = "sec-student-001", "sec-student-002"


def pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox:1.36", **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def test_a_student_works_in_their_own_namespace(kube: Kube, classroom: str) -> None:
    student = as_student(kube, A)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "mine"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "mine"}},
            "template": {
                "metadata": {"labels": {"app": "mine"}},
                "spec": {"containers": [{"name": "c", "image": "waggle/plugin-base:1.1.1-base"}]},
            },
        },
    }
    student.request("POST", f"/apis/apps/v1/namespaces/{A}/deployments", body=deployment)
    assert student.request("GET", f"/api/v1/namespaces/{A}/secrets/waggle-credentials")["data"]
    review = student.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": A, "verb": "get", "resource": "pods", "subresource": "log"}},
        },
    )
    assert review["status"]["allowed"] is True


@pytest.mark.parametrize(
    ("what", "method", "path", "body"),
    [
        ("read another student's pods", "GET", f"/api/v1/namespaces/{B}/pods", None),
        ("read another student's secrets", "GET", f"/api/v1/namespaces/{B}/secrets/waggle-credentials", None),
        ("read secrets elsewhere", "GET", "/api/v1/namespaces/default/secrets", None),
        ("list namespaces", "GET", "/api/v1/namespaces", None),
        ("list nodes", "GET", "/api/v1/nodes", None),
        ("read the class", "GET", "/apis/edu.sagecontinuum.org/v1alpha1/virtualwaggleclasses/sec", None),
        (
            "edit the class",
            "PATCH",
            "/apis/edu.sagecontinuum.org/v1alpha1/virtualwaggleclasses/sec",
            {"spec": {"students": 30}},
        ),
        (
            "edit its own network policy",
            "PATCH",
            f"/apis/networking.k8s.io/v1/namespaces/{A}/networkpolicies/isolate-ingress",
            {"spec": {"ingress": [{}]}},
        ),
        (
            "delete its own network policy",
            "DELETE",
            f"/apis/networking.k8s.io/v1/namespaces/{A}/networkpolicies/limit-egress",
            None,
        ),
        (
            "edit its own quota",
            "PATCH",
            f"/api/v1/namespaces/{A}/resourcequotas/student-quota",
            {"spec": {"hard": {"pods": "999"}}},
        ),
        ("delete its own limit range", "DELETE", f"/api/v1/namespaces/{A}/limitranges/student-defaults", None),
        (
            "edit its own role binding",
            "PATCH",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{A}/rolebindings/student",
            {"metadata": {"labels": {"x": "y"}}},
        ),
        (
            "bind itself to cluster-admin",
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{A}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "escalate"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "student", "namespace": A}],
            },
        ),
        (
            "create a role",
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{A}/roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "all"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            },
        ),
        (
            "run a privileged pod",
            "POST",
            f"/api/v1/namespaces/{A}/pods",
            pod("priv", container={"securityContext": {"privileged": True}}),
        ),
        (
            "mount the host",
            "POST",
            f"/api/v1/namespaces/{A}/pods",
            pod(
                "host",
                volumes=[{"name": "h", "hostPath": {"path": "/"}}],
                container={"volumeMounts": [{"name": "h", "mountPath": "/h"}]},
            ),
        ),
        ("use the host network", "POST", f"/api/v1/namespaces/{A}/pods", pod("net", hostNetwork=True)),
    ],
)
def test_a_student_is_denied(kube: Kube, classroom: str, what: str, method: str, path: str, body: Any) -> None:
    student = as_student(kube, A)
    content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    status = status_of(lambda: student.request(method, path, body=body, content_type=content_type, attempts=1))
    assert status == 403, f"a student could {what} (HTTP {status})"
