"""An unchanged, Ready class costs the API server no writes; its pods' churn costs no comparison."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.classes import class_body, condition, delete_class, wait_images_pulled, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import BY_KIND, POD
from vwclass.operator.reconcile import reconcile_class

SERVICE = BY_KIND[("v1", "Service")]

pytestmark = pytest.mark.cluster


def test_resyncs_of_a_ready_class_send_no_write(kube: Kube, kubeconfig: Path) -> None:
    with EmbeddedOperator(str(kubeconfig), resync_seconds=3.0) as operator:
        kube.apply(class_body("quiet", students=3))
        wait_ready(kube, "quiet", 3)
        wait_images_pulled(kube, "quiet")
        time.sleep(6)  # let the last child events settle
        before = sum(operator.kube.writes.values())
        reconciles = sum(operator.memo.controller.reconciles.values())
        time.sleep(12)  # four resyncs
        assert sum(operator.memo.controller.reconciles.values()) >= reconciles + 3
        assert sum(operator.kube.writes.values()) == before

    fresh = connect(str(kubeconfig))
    with ThreadPoolExecutor(8) as pool:
        outcome = reconcile_class(fresh, "quiet", pool)
    assert outcome.writes == 0
    assert outcome.requeue_after is None
    assert sum(fresh.writes.values()) == 0
    delete_class(kube, "quiet")


def test_a_pods_churn_is_read_as_state_and_an_edit_among_it_is_still_compared(kube: Kube, kubeconfig: Path) -> None:
    """A student's node pod replaced (its pod's and StatefulSet's status move) costs state passes only,
    two LISTs each; an edit of one of the class's objects is then compared, and put back."""
    with EmbeddedOperator(str(kubeconfig), resync_seconds=600.0) as operator:
        controller = operator.memo.controller
        kube.apply(class_body("churn", students=2))
        wait_ready(kube, "churn", 2)
        time.sleep(4)  # the last child events of the provisioning settle
        namespace = "churn-student-001"
        passes, comparisons = sum(controller.reconciles.values()), sum(controller.comparisons.values())
        (pod,) = kube.list(POD, names.class_selector("churn"), namespace=namespace)
        kube.delete(POD, pod["metadata"]["name"], namespace)

        def replaced_and_ready() -> bool:
            pods = kube.list(POD, names.class_selector("churn"), namespace=namespace)
            return [p["metadata"]["uid"] for p in pods] != [pod["metadata"]["uid"]] and bool(
                condition(kube, "churn").get("status") == "True"
            )

        eventually(replaced_and_ready, timeout=60, what="the node pod replaced and the class Ready again")
        time.sleep(3)
        assert sum(controller.reconciles.values()) > passes  # the churn was looked at...
        assert sum(controller.comparisons.values()) == comparisons  # ...as state alone
        metrics = operator.memo.metrics.render()
        assert 'vwclass_operator_passes_total{kind="state"}' in metrics

        kube.request(
            "PATCH",
            SERVICE.path(namespace, "rabbitmq"),
            body={"metadata": {"labels": {names.PART_OF: "edited-by-hand"}}},
            query=[("fieldManager", "a-teacher-by-hand")],
            content_type="application/strategic-merge-patch+json",
        )

        def put_back() -> bool:
            service = kube.get(SERVICE, "rabbitmq", namespace) or {"metadata": {}}
            return bool(service["metadata"].get("labels", {}).get(names.PART_OF) == "vwclass")

        eventually(put_back, timeout=30, what="the edited Service put back")
        assert sum(controller.comparisons.values()) > comparisons
    delete_class(kube, "churn")
