"""A student who relabels their own objects as another class's or another student's changes nothing else.

The operator finds its objects by label, so labels are the one thing a student can forge. It keys
every object by its namespace too: what a student forges stays in their namespace, where the
operator puts its own objects back and deletes nothing of anyone else's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_images_pulled, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import as_student, eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, STUDENT_KINDS
from vwclass.operator.changes import fingerprint

pytestmark = pytest.mark.cluster
A, B = "relabel-student-001", "relabel-student-002"
OTHER, OTHER_NS = "victim", "victim-student-001"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def two_classes(kube: Kube, kubeconfig: Path) -> Iterator[None]:
    with EmbeddedOperator(str(kubeconfig), resync_seconds=5.0):
        kube.apply(class_body("relabel", students=2))
        kube.apply(class_body(OTHER, students=1))
        wait_ready(kube, "relabel", 2)
        wait_ready(kube, OTHER, 1)
        wait_images_pulled(kube, OTHER)  # the other class's status then stays as it is, unless disturbed
        yield
        delete_class(kube, "relabel")
        delete_class(kube, OTHER)


def snapshot(kube: Kube, namespace: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) -> (uid, content's fingerprint) of everything the operator manages in a namespace.

    The fingerprint leaves status out: the controllers keep writing it (a quota's usage is recounted
    whenever they like), and no resourceVersion would stay put through that."""
    found = {}
    for kind in STUDENT_KINDS:
        for obj in kube.list(kind, namespace=namespace):
            found[(kind.kind, obj["metadata"]["name"])] = (obj["metadata"]["uid"], fingerprint(obj))
    return found


def forged(class_name: str, student: str) -> dict[str, str]:
    return {
        names.MANAGED_BY: names.MANAGED_BY_VALUE,
        names.PART_OF: "vwclass",
        names.CLASS_LABEL: class_name,
        names.STUDENT_LABEL: student,
    }


def relabel(student: Kube, path: str, labels: dict[str, str]) -> None:
    student.request(
        "PATCH",
        path,
        body={"metadata": {"labels": labels}},
        content_type="application/merge-patch+json",
        attempts=1,
    )


def test_forged_labels_change_nothing_outside_the_students_namespace(kube: Kube, two_classes: None) -> None:
    student = as_student(kube, A)
    other_before = snapshot(kube, OTHER_NS)
    b_before = snapshot(kube, B)
    other_status = (kube.get(CLASS, OTHER) or {})["status"]
    rabbitmq_uid = kube.request("GET", f"/api/v1/namespaces/{A}/services/rabbitmq")["metadata"]["uid"]
    node_uid = kube.request("GET", f"/apis/apps/v1/namespaces/{A}/statefulsets/node")["metadata"]["uid"]

    # The node's own objects, claimed for the other class's student and for a classmate.
    relabel(student, f"/api/v1/namespaces/{A}/services/rabbitmq", forged(OTHER, "student-001"))
    relabel(student, f"/apis/apps/v1/namespaces/{A}/statefulsets/node", forged("relabel", "student-002"))
    # New objects posing as the other class's and a classmate's, with names the operator uses there.
    for name, labels in (("rabbitmq-config-2", forged(OTHER, "student-001")), ("notes", forged("relabel", "x"))):
        student.request(
            "POST",
            f"/api/v1/namespaces/{A}/configmaps",
            body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}},
            attempts=1,
        )
    posing_uid = kube.request("GET", f"/api/v1/namespaces/{A}/configmaps/rabbitmq-config-2")["metadata"]["uid"]

    # The operator puts its own objects back in place: same objects, not recreated, labels restored.
    def restored() -> bool:
        service = kube.request("GET", f"/api/v1/namespaces/{A}/services/rabbitmq")["metadata"]
        node = kube.request("GET", f"/apis/apps/v1/namespaces/{A}/statefulsets/node")["metadata"]
        return bool(
            service["labels"][names.CLASS_LABEL] == "relabel"
            and node["labels"][names.STUDENT_LABEL] == "student-001"
            and service["uid"] == rabbitmq_uid
            and node["uid"] == node_uid
        )

    eventually(restored, timeout=60, what="the operator's objects relabelled back, in place")
    time.sleep(12)  # two more resyncs of both classes, to let any wrong move happen

    assert snapshot(kube, OTHER_NS) == other_before, "the other class's namespace changed"
    assert snapshot(kube, B) == b_before, "the classmate's namespace changed"
    other_after = (kube.get(CLASS, OTHER) or {})["status"]
    assert other_after == other_status, "the other class's status changed"
    assert other_after["students"]["ready"] == 1
    # What the student forged stays theirs: the other class never deletes or adopts it.
    posing = kube.request("GET", f"/api/v1/namespaces/{A}/configmaps/rabbitmq-config-2")["metadata"]
    assert posing["uid"] == posing_uid
    assert not posing.get("ownerReferences")
    wait_ready(kube, "relabel", 2)
