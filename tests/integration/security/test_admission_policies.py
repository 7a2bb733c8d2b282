"""The admission policies and object-count quotas of student namespaces, tried with a student's token.

Each hole is asserted by the real API server's HTTP status and the message a student reads; each
has an allowed neighbour, so the policies are shown to refuse exactly the field, not the kind.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.kube import as_student
from vwclass.kube.api import ApiError, Kube

pytestmark = pytest.mark.cluster
A, B = "sec-student-001", "sec-student-002"
Obj = dict[str, Any]
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_spec(**extra: Any) -> Obj:
    """A pod spec that Pod Security `restricted` accepts, so only the field under test can be refused."""
    # Small, so the allowed pods fit beside the node's own in the `small` quota.
    resources = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "20m", "memory": "32Mi"}}
    container = {"name": "c", "image": "busybox:1.36", "securityContext": RESTRICTED, "resources": resources}
    return {"containers": [container], **extra}


def pod(name: str, **extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec(**extra)}


def deployment(name: str, **extra: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(**extra)},
        },
    }


def statefulset(name: str, claim: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec()},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}],
        },
    }


def cronjob(name: str, **extra: Any) -> Obj:
    job = {"template": {"spec": pod_spec(restartPolicy="Never", **extra)}}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": job}},
    }


def service(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}], **spec},
    }


def claim_spec(**extra: Any) -> Obj:
    return {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **extra}


def claim(name: str, **extra: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": claim_spec(**extra),
    }


def ephemeral_pod(name: str, **extra: Any) -> Obj:
    volume = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec(**extra)}}}
    return pod(name, volumes=[volume])


def config_map(name: str, size: int) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"blob": "x" * size}}


def path_of(obj: Obj) -> str:
    plural = {
        "Pod": "pods",
        "Service": "services",
        "PersistentVolumeClaim": "persistentvolumeclaims",
        "ConfigMap": "configmaps",
        "Secret": "secrets",
        "Deployment": "deployments",
        "StatefulSet": "statefulsets",
        "CronJob": "cronjobs",
    }[obj["kind"]]
    base = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    return f"{base}/namespaces/{A}/{plural}"


def refusal(call: Any) -> ApiError:
    try:
        call()
    except ApiError as error:
        return error
    raise AssertionError("the API server accepted it")


# (what a student tries, the object, the words the refusal must contain)
HOLES = [
    (
        "a Service with externalIPs (CVE-2020-8554)",
        service("mitm", externalIPs=["10.0.0.1"]),
        "spec.externalIPs is not allowed in a vwclass student namespace",
    ),
    (
        "a claim naming an existing volume",
        claim("steal", volumeName="someone-elses-pv"),
        "spec.volumeName is not allowed in a vwclass student namespace",
    ),
    (
        "a pod on a node of their choosing",
        pod("pinned", nodeName="kwok-node-0"),
        "spec.nodeName is not allowed in a vwclass student namespace",
    ),
    (
        "a pod that pre-empts others",
        pod("urgent", priorityClassName="system-cluster-critical"),
        "spec.priorityClassName is not allowed in a vwclass student namespace",
    ),
    (
        "a pod tolerating every taint (control plane, GPU nodes)",
        pod("anywhere", tolerations=[{"operator": "Exists"}]),
        "spec.tolerations is not allowed in a vwclass student namespace",
    ),
    (
        "a Deployment whose pods pick their node",
        deployment("pinned", nodeName="kwok-node-0"),
        "spec.nodeName is not allowed in a vwclass student namespace",
    ),
    (
        "a CronJob whose pods pre-empt others",
        cronjob("urgent", priorityClassName="system-node-critical"),
        "spec.priorityClassName is not allowed in a vwclass student namespace",
    ),
    (
        "a StatefulSet whose claims name an existing volume",
        statefulset("steal", claim_spec(volumeName="someone-elses-pv")),
        "volumeClaimTemplates[].spec.volumeName is not allowed in a vwclass student namespace",
    ),
    (
        "an ephemeral volume naming an existing volume",
        ephemeral_pod("steal", volumeName="someone-elses-pv"),
        "an ephemeral volume's volumeName is not allowed in a vwclass student namespace",
    ),
    (
        "a never-expiring token Secret for their own account",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "forever", "annotations": {"kubernetes.io/service-account.name": "student"}},
            "type": "kubernetes.io/service-account-token",
        },
        "Secrets of type kubernetes.io/service-account-token are not allowed",
    ),
    (
        "a ConfigMap over 64 KiB",
        config_map("huge", 65537),
        "ConfigMaps and Secrets are limited to 64 KiB of data",
    ),
]


@pytest.mark.parametrize(("what", "obj", "words"), HOLES, ids=[h[0] for h in HOLES])
def test_a_student_is_refused(kube: Kube, classroom: str, what: str, obj: Obj, words: str) -> None:
    student = as_student(kube, A)
    error = refusal(lambda: student.request("POST", path_of(obj), body=obj, attempts=1))
    assert error.status == 403, f"{what}: HTTP {error.status} {error.message}"
    assert words in error.message, f"{what}: {error.message}"
    assert "ValidatingAdmissionPolicy" in error.message


# The same kinds without the forbidden field: the policies refuse the field, not the kind.
ALLOWED = [
    service("plain"),
    claim("fresh"),
    pod("plain"),
    pod(
        "tolerated", tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]
    ),
    deployment("plain"),
    cronjob("plain"),
    statefulset("plain", claim_spec()),
    ephemeral_pod("scratch"),
    config_map("notes", 65536),
]


@pytest.mark.parametrize("obj", ALLOWED, ids=[f"{o['kind']}-{o['metadata']['name']}" for o in ALLOWED])
def test_a_student_may_create_the_same_kinds_without_those_fields(kube: Kube, classroom: str, obj: Obj) -> None:
    student = as_student(kube, A)
    created = student.request("POST", path_of(obj), body=obj, attempts=1)
    assert created["metadata"]["namespace"] == A


def test_externalips_cannot_be_added_later(kube: Kube, classroom: str) -> None:
    student = as_student(kube, A)
    student.request("POST", path_of(service("later")), body=service("later"), attempts=1)
    error = refusal(
        lambda: student.request(
            "PATCH",
            f"/api/v1/namespaces/{A}/services/later",
            body={"spec": {"externalIPs": ["10.0.0.1"]}},
            content_type="application/merge-patch+json",
            attempts=1,
        )
    )
    assert error.status == 403
    assert "spec.externalIPs is not allowed" in error.message


def test_a_student_may_still_edit_a_scheduled_pod(kube: Kube, classroom: str) -> None:
    """The scheduler's binding wrote nodeName; the student's own label edit of that pod passes."""
    from tests.support.kube import eventually

    student = as_student(kube, A)
    name = "relabel-me"
    student.request("POST", path_of(pod(name)), body=pod(name), attempts=1)
    scheduled = eventually(
        lambda: student.request("GET", f"/api/v1/namespaces/{A}/pods/{name}")["spec"].get("nodeName"),
        what="the pod scheduled",
    )
    patched = student.request(
        "PATCH",
        f"/api/v1/namespaces/{A}/pods/{name}",
        body={"metadata": {"labels": {"mine": "yes"}}},
        content_type="application/merge-patch+json",
        attempts=1,
    )
    assert patched["spec"]["nodeName"] == scheduled
    assert patched["metadata"]["labels"]["mine"] == "yes"
    error = refusal(
        lambda: student.request(
            "PATCH",
            f"/api/v1/namespaces/{A}/pods/{name}",
            # Appended: the one change of tolerations the API allows on a running pod.
            body=[{"op": "add", "path": "/spec/tolerations/-", "value": {"operator": "Exists"}}],
            content_type="application/json-patch+json",
            attempts=1,
        )
    )
    assert error.status == 403
    assert "spec.tolerations is not allowed" in error.message


@pytest.mark.parametrize(
    ("kind", "words"),
    [("NodePort", "services.nodeports=0"), ("LoadBalancer", "services.loadbalancers=0")],
)
def test_a_student_cannot_open_a_port_on_the_nodes(kube: Kube, classroom: str, kind: str, words: str) -> None:
    student = as_student(kube, A)
    obj = service(f"open-{kind.lower()}", type=kind)
    error = refusal(lambda: student.request("POST", path_of(obj), body=obj, attempts=1))
    assert error.status == 403
    assert "exceeded quota: student-quota" in error.message
    assert words in error.message


def _everything_else(kube: Kube, plural: str) -> dict[tuple[str, str], str]:
    """(namespace, name) -> resourceVersion of every object of that kind outside student A's namespace."""
    listed = kube.request("GET", f"/api/v1/{plural}")["items"]
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for o in listed
        if o["metadata"]["namespace"] != A
    }


@pytest.mark.parametrize(("plural", "key"), [("configmaps", "count/configmaps"), ("secrets", "count/secrets")])
def test_object_count_quota_refuses_a_creation_loop(kube: Kube, classroom: str, plural: str, key: str) -> None:
    student = as_student(kube, A)
    before = _everything_else(kube, plural)
    quota_b = kube.request("GET", f"/api/v1/namespaces/{B}/resourcequotas/student-quota")["status"]
    hard = int(kube.request("GET", f"/api/v1/namespaces/{A}/resourcequotas/student-quota")["spec"]["hard"][key])
    kind = "ConfigMap" if plural == "configmaps" else "Secret"
    created = 0
    refused: ApiError | None = None
    for number in range(hard + 1):  # never more than the quota allows, plus the one refused
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": f"loop-{number}"}, "data": {}}
        try:
            student.request("POST", f"/api/v1/namespaces/{A}/{plural}", body=obj, attempts=1)
            created += 1
        except ApiError as error:
            refused = error
            break
    assert refused is not None, f"{created} {plural} created, none refused"
    assert refused.status == 403
    assert f"exceeded quota: student-quota, requested: {key}=1" in refused.message
    assert 0 < created < hard  # the node's own objects count too
    # Nothing outside the namespace changed: every other object of the kind, and the other student's quota.
    assert _everything_else(kube, plural) == before
    assert kube.request("GET", f"/api/v1/namespaces/{B}/resourcequotas/student-quota")["status"] == quota_b
    for number in range(created):
        student.request("DELETE", f"/api/v1/namespaces/{A}/{plural}/loop-{number}")


def test_the_policies_are_what_the_cluster_runs(kube: Kube) -> None:
    """The session installed exactly the shipped policies (the tests above use them, not a copy)."""
    from tests.support.classes import admission_policies
    from vwclass.cli.checks import first_difference

    for shipped in admission_policies():
        plural = "validatingadmissionpolicies"
        if shipped["kind"].endswith("Binding"):
            plural = "validatingadmissionpolicybindings"
        installed = kube.request("GET", f"/apis/admissionregistration.k8s.io/v1/{plural}/{shipped['metadata']['name']}")
        assert first_difference(installed["spec"], copy.deepcopy(shipped["spec"]), "spec") is None
