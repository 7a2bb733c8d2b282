"""A class becomes N isolated namespaces, follows its spec, repairs drift and goes away cleanly."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import (
    class_body,
    class_namespaces,
    condition,
    delete_class,
    wait_ready,
)
from tests.support.cli import kubectl
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import names, render, suspension
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE, POD, STUDENT_KINDS
from vwclass.operator.reconcile import Observed, ensure_student

pytestmark = pytest.mark.cluster

DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]
SERVICE = BY_KIND[("v1", "Service")]
SECRET = BY_KIND[("v1", "Secret")]
CRONJOB = BY_KIND[("batch/v1", "CronJob")]
EXPECTED = {
    ("ServiceAccount", "student"),
    ("RoleBinding", "student"),
    ("NetworkPolicy", "isolate-ingress"),
    ("NetworkPolicy", "limit-egress"),
    ("ResourceQuota", "student-quota"),
    ("LimitRange", "student-defaults"),
    ("Secret", "rabbitmq-config"),
    ("Secret", names.CREDENTIALS_SECRET),
    ("Service", "rabbitmq"),
    ("Service", "app-meta-cache"),
    ("PersistentVolumeClaim", "data-endpoint"),
    ("Service", "data-endpoint"),
    # The whole node: one StatefulSet of one pod.
    ("StatefulSet", names.NODE_WORKLOAD),
}


def objects_in(kube: Kube, namespace: str) -> set[tuple[str, str]]:
    found = set()
    for kind in ("ServiceAccount", "Secret", "Service", "PersistentVolumeClaim", "ResourceQuota", "LimitRange"):
        found |= {(kind, o["metadata"]["name"]) for o in kube.list(BY_KIND[("v1", kind)], namespace=namespace)}
    for api, kind in (
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
    ):
        found |= {(kind, o["metadata"]["name"]) for o in kube.list(BY_KIND[(api, kind)], namespace=namespace)}
    # Kubernetes' own: the default account and the root CA config map.
    return {o for o in found if o not in {("ServiceAccount", "default")}}


def credentials(kube: Kube, namespace: str) -> dict[str, str]:
    secret = kube.get(SECRET, names.CREDENTIALS_SECRET, namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_a_class_of_three_becomes_three_ready_virtual_nodes(
    kube: Kube, operator: EmbeddedOperator, kubeconfig: Path
) -> None:
    kube.apply(class_body("trio", students=3))
    wait = kubectl(kubeconfig, "wait", "--for=condition=Ready", "vwc/trio", "--timeout=90s")
    assert wait.returncode == 0, wait.stderr
    body = wait_ready(kube, "trio", 3)
    assert body["status"]["phase"] == "Ready"
    assert body["status"]["students"] == {"desired": 3, "ready": 3, "summary": "3/3"}
    assert condition(kube, "trio", "Stalled")["status"] == "False"
    namespaces = class_namespaces(kube, "trio")
    assert namespaces == {"trio-student-001", "trio-student-002", "trio-student-003"}
    nodes = {n["metadata"]["name"]: n for n in kube.list(BY_KIND[("v1", "Node")])}
    for namespace in namespaces:
        ns = kube.get(NAMESPACE, namespace)
        assert ns is not None
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
        [owner] = ns["metadata"]["ownerReferences"]
        assert owner["uid"] == body["metadata"]["uid"]
        assert owner["controller"] is True
        assert objects_in(kube, namespace) >= EXPECTED
        # One pod per student: the node, each of its components a container reporting ready.
        [pod] = kube.list(POD, namespace=namespace)
        assert pod["status"]["phase"] == "Running"
        assert nodes[pod["spec"]["nodeName"]]["metadata"]["labels"]["type"] == "kwok"
        statuses = pod["status"].get("initContainerStatuses", []) + pod["status"]["containerStatuses"]
        ready = {c["name"] for c in statuses if c.get("ready")}
        assert ready >= set(render.expected_components(parse_class(body)))
    plugin = credentials(kube, "trio-student-001")["plugin-password"]
    assert plugin != "plugin"
    assert len(plugin) >= 24
    assert plugin != credentials(kube, "trio-student-002")["plugin-password"]
    table = kubectl(kubeconfig, "get", "vwc", "trio")
    assert "3/3" in table.stdout
    assert "Ready" in table.stdout
    assert plugin not in str(body["status"])
    assert plugin not in table.stdout
    delete_class(kube, "trio")


def test_scaling_adds_and_removes_student_namespaces(kube: Kube, operator: EmbeddedOperator) -> None:
    kube.apply(class_body("scale", students=3))
    wait_ready(kube, "scale", 3)
    kept = credentials(kube, "scale-student-002")
    kube.apply(class_body("scale", students=5))
    wait_ready(kube, "scale", 5)
    assert class_namespaces(kube, "scale") == {f"scale-student-00{i}" for i in range(1, 6)}
    kube.apply(class_body("scale", students=2))
    wait_ready(kube, "scale", 2)
    eventually(
        lambda: class_namespaces(kube, "scale") == {"scale-student-001", "scale-student-002"},
        timeout=90,
        what="namespaces 3..5 removed",
    )
    assert credentials(kube, "scale-student-002") == kept
    delete_class(kube, "scale")


def students_own_workloads(namespace: str) -> list[dict[str, Any]]:
    """What a student runs beside their node: a Deployment of two, a CronJob and a bare pod. (A Job's
    pods complete at once on kwok's nodes: tests/unit/test_suspension.py has Jobs.)"""
    small = {"limits": {"cpu": "100m", "memory": "64Mi"}}  # four of them fit the quota beside the node
    container = {"name": "main", "image": "example.org/plugin:1", "command": ["sleep", "3600"], "resources": small}
    pod_spec = {"containers": [container]}
    template = {"metadata": {"labels": {"app": "counter"}}, "spec": pod_spec}
    meta = {"namespace": namespace}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "name": "counter"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "counter"}}, "template": template},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {**meta, "name": "nightly"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {"spec": {"template": {"spec": {**pod_spec, "restartPolicy": "Never"}}}},
            },
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "name": "scratch"}, "spec": pod_spec},
    ]


def test_suspend_stops_every_workload_and_resume_brings_back_what_ran(kube: Kube, operator: EmbeddedOperator) -> None:
    kube.apply(class_body("nap", students=2))
    wait_ready(kube, "nap", 2)
    before = credentials(kube, "nap-student-001")
    namespace = "nap-student-001"
    for workload in students_own_workloads(namespace):
        kube.create(workload)
    eventually(lambda: len(kube.list(POD, namespace=namespace)) >= 4, timeout=60, what="the student's pods running")
    kube.apply(class_body("nap", students=2, suspended=True))

    def suspended() -> bool:
        phase = (kube.get(CLASS, "nap") or {}).get("status", {}).get("phase")
        left = [p["metadata"]["name"] for p in kube.list(POD, namespace=namespace)]
        assert phase == "Suspended", phase
        assert not left, f"pods left: {left}"  # eventually() shows the last of these
        return True

    eventually(suspended, timeout=90, what="class suspended with no pods, the student's own included")
    for workload in kube.list(DEPLOYMENT, namespace=namespace) + kube.list(STATEFULSET, namespace=namespace):
        assert workload["spec"]["replicas"] == 0
    [stopped] = kube.list(CRONJOB, namespace=namespace)
    assert stopped["spec"]["suspend"] is True
    assert kube.get(POD, "scratch", namespace) is None
    assert kube.get(BY_KIND[("v1", "PersistentVolumeClaim")], "data-endpoint", namespace) is not None
    kube.apply(class_body("nap", students=2, suspended=False))
    wait_ready(kube, "nap", 2)
    assert credentials(kube, "nap-student-001") == before
    counter = kube.get(DEPLOYMENT, "counter", namespace)
    assert counter is not None
    assert counter["spec"]["replicas"] == 2
    [resumed] = kube.list(CRONJOB, namespace=namespace)
    assert resumed["spec"]["suspend"] is False
    for workload in (counter, resumed):
        assert suspension.STOPPED_LABEL not in workload["metadata"].get("labels", {})
    eventually(
        lambda: sum(p["metadata"]["name"].startswith("counter-") for p in kube.list(POD, namespace=namespace)) == 2,
        timeout=60,
        what="the student's Deployment running its two pods again",
    )
    delete_class(kube, "nap")


def test_a_deleted_or_edited_child_is_restored(kube: Kube, operator: EmbeddedOperator) -> None:
    kube.apply(class_body("drift", students=1))
    wait_ready(kube, "drift", 1)
    namespace = "drift-student-001"

    def runner_of(node: dict[str, Any]) -> dict[str, Any]:
        containers = node["spec"]["template"]["spec"]["containers"]
        runner: dict[str, Any] = next(c for c in containers if c["name"] == "plugin-runner")
        return runner

    original = kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace)
    assert original is not None
    kube.delete(SERVICE, "rabbitmq", namespace)
    edited = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": names.NODE_WORKLOAD, "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "plugin-runner", "image": "evil/image:1", "env": [{"name": "INJECTED", "value": "1"}]}
                    ]
                }
            }
        },
    }
    kube.request(
        "PATCH",
        STATEFULSET.path(namespace, names.NODE_WORKLOAD),
        body=edited,
        query=[("fieldManager", "a-teacher-by-hand")],
        content_type="application/strategic-merge-patch+json",
    )

    def restored() -> bool:
        runner = runner_of(kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace) or {})
        env = {e["name"] for e in runner.get("env", [])}
        return (
            kube.get(SERVICE, "rabbitmq", namespace) is not None
            and runner["image"] == runner_of(original)["image"]
            and "INJECTED" not in env
        )

    eventually(restored, timeout=60, what="service recreated and deployment restored")
    delete_class(kube, "drift")


def test_a_preexisting_namespace_is_never_adopted(kube: Kube, operator: EmbeddedOperator) -> None:
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "clash-student-002", "labels": {"owner": "someone-else"}},
        }
    )
    kube.apply(class_body("clash", students=3))

    def stalled() -> dict[str, str] | None:
        found = condition(kube, "clash", "Stalled")
        return found if found.get("status") == "True" else None

    found = eventually(stalled, timeout=60, what="class Stalled")
    assert "clash-student-002" in found["message"]
    assert found["reason"] == "NamespaceConflict"
    eventually(lambda: class_namespaces(kube, "clash") == {"clash-student-001", "clash-student-003"}, timeout=60)
    body = kube.get(CLASS, "clash")
    assert body is not None
    assert body["status"]["phase"] == "Degraded"
    events = kube.request(
        "GET", "/api/v1/namespaces/default/events", query=[("fieldSelector", "involvedObject.name=clash")]
    )["items"]
    assert any(e["reason"] == "NamespaceConflict" and "clash-student-002" in e["message"] for e in events)
    untouched = kube.get(NAMESPACE, "clash-student-002")
    assert untouched is not None
    assert untouched["metadata"]["labels"] == {
        "owner": "someone-else",
        "kubernetes.io/metadata.name": "clash-student-002",
    }
    assert "ownerReferences" not in untouched["metadata"]
    assert not kube.list(SECRET, namespace="clash-student-002")
    delete_class(kube, "clash")
    assert kube.get(NAMESPACE, "clash-student-002") is not None  # never deleted either
    kube.delete(NAMESPACE, "clash-student-002")


def test_a_namespace_made_between_the_operators_list_and_its_write_is_not_taken_over(kube: Kube) -> None:
    """The race the LIST cannot see (and a namespace without the class's labels, which it never lists):
    the namespace did not exist when listed, and does when written. Its creation is refused, and the one
    namespace read judges it: someone else's, so a conflict, and nothing written."""
    body = class_body("racing", students=1)
    body["metadata"]["uid"] = "4e6f7420-6f75-7273-2c20-6e6f74207573"  # never stored: no operator races us
    cls = parse_class(body)
    [student] = cls.students
    kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": student.namespace, "labels": {"owner": "x"}}}
    )
    listed_before = Observed(namespaces={}, objects={}, pods={})
    result = ensure_student(kube, cls, student, listed_before)
    assert not result.state.ready
    assert result.conflict == (
        f"namespace {student.namespace} already exists and is not managed by class racing; left untouched"
    )
    assert result.writes == 0
    untouched = kube.get(NAMESPACE, student.namespace)
    assert untouched is not None
    assert "ownerReferences" not in untouched["metadata"]
    assert untouched["metadata"]["labels"] == {"owner": "x", "kubernetes.io/metadata.name": student.namespace}
    assert not [kind for kind in STUDENT_KINDS if kube.list(kind, names.class_selector("racing"), student.namespace)]
    kube.delete(NAMESPACE, student.namespace)


def test_a_namespace_of_the_class_whose_labels_were_taken_off_is_found_and_labelled_again(
    kube: Kube, kubeconfig: Path
) -> None:
    """The operator lists the class's namespaces by label; one it owns but that lost its labels (an
    admin's `kubectl label namespace ... edu.sagecontinuum.org/class-`) is found by its refused creation, and kept."""
    with EmbeddedOperator(str(kubeconfig), resync_seconds=2.0):
        kube.apply(class_body("unlabelled", students=1))
        wait_ready(kube, "unlabelled", 1)
        [namespace] = kube.list(NAMESPACE, names.class_selector("unlabelled"))
        name, uid = namespace["metadata"]["name"], namespace["metadata"]["uid"]
        kube.request(
            "PATCH",
            f"/api/v1/namespaces/{name}",
            body={"metadata": {"labels": {names.CLASS_LABEL: None, names.MANAGED_BY: None}}},
            content_type="application/merge-patch+json",
        )
        labelled = eventually(
            lambda: kube.list(NAMESPACE, names.class_selector("unlabelled")),
            timeout=30,
            what="the namespace labelled again",
        )
        assert [n["metadata"]["uid"] for n in labelled] == [uid]  # the same namespace, never recreated
        wait_ready(kube, "unlabelled", 1)
        assert condition(kube, "unlabelled", "Stalled").get("status") != "True"
    delete_class(kube, "unlabelled")


def test_deleting_a_class_removes_its_namespaces_without_the_operator(kube: Kube, kubeconfig: Path) -> None:
    with EmbeddedOperator(str(kubeconfig)):
        kube.apply(class_body("orphan", students=2))
        wait_ready(kube, "orphan", 2)
    delete_class(kube, "orphan")  # the operator is stopped: garbage collection does it all


def test_a_restart_mid_provisioning_creates_no_duplicates_and_keeps_credentials(kube: Kube, kubeconfig: Path) -> None:
    with EmbeddedOperator(str(kubeconfig)):
        kube.apply(class_body("restart", students=8))
        eventually(
            lambda: len(kube.list(SECRET, f"{names.CREDENTIALS_LABEL}=true,{names.CLASS_LABEL}=restart")) >= 2,
            timeout=60,
            interval=0.05,
            what="some credentials created",
        )
    before = {
        s["metadata"]["namespace"]: s["data"]
        for s in kube.list(SECRET, f"{names.CREDENTIALS_LABEL}=true,{names.CLASS_LABEL}=restart")
    }
    with EmbeddedOperator(str(kubeconfig)):
        wait_ready(kube, "restart", 8)
    after = {
        s["metadata"]["namespace"]: s["data"]
        for s in kube.list(SECRET, f"{names.CREDENTIALS_LABEL}=true,{names.CLASS_LABEL}=restart")
    }
    assert len(after) == 8
    for namespace, data in before.items():
        assert after[namespace] == data
    for namespace in class_namespaces(kube, "restart"):
        assert kube.list(DEPLOYMENT, namespace=namespace) == []
        assert [s["metadata"]["name"] for s in kube.list(STATEFULSET, namespace=namespace)] == [names.NODE_WORKLOAD]
    delete_class(kube, "restart")
