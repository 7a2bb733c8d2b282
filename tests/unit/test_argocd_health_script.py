"""The Argo CD health script of examples/argocd-application.yaml, run by Lua 5.1 on the statuses the
operator writes (vwclass.core.status) and on what the CRD's defaults give a class nobody has seen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.gitops import argocd_health, argocd_lua
from vwclass.core import schema, status
from vwclass.core.status import StudentState


def a_class(generation: int, block: dict[str, Any] | None, suspended: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "edu.sagecontinuum.org/v1alpha1",
        "kind": "VirtualWaggleClass",
        "metadata": {"name": "physics101", "generation": generation},
        "spec": {"students": 2, "suspended": suspended},
    }
    if block is not None:
        body["status"] = block
    return body


READY = [StudentState("student-001", True), StudentState("student-002", True)]
PROVISIONING = [StudentState("student-001", True), StudentState("student-002", False, "rabbitmq: starting")]


def test_a_class_without_any_status_is_progressing() -> None:
    health = argocd_lua(a_class(1, None))
    assert health.status == "Progressing"
    assert "generation 1" in health.message


def test_a_new_class_as_the_api_server_defaults_it_is_progressing() -> None:
    # The API server drops status on create and fills in the CRD's status defaults on read.
    defaulted = schema.apply_defaults(a_class(1, None))
    assert defaulted["status"]["observedGeneration"] == 0
    assert {c["type"]: c["status"] for c in defaulted["status"]["conditions"]} == {
        "Ready": "Unknown",
        "Reconciling": "True",
    }
    assert argocd_lua(defaulted).status == "Progressing"


def test_ready_at_the_current_generation_is_healthy() -> None:
    health = argocd_lua(a_class(3, status.class_status(3, READY, suspended=False)))
    assert health == type(health)("Healthy", "all 2 students' virtual Waggle nodes are ready")


@pytest.mark.parametrize(("generation", "observed"), [(2, 1), (7, 3)])
def test_ready_for_an_earlier_generation_is_progressing(generation: int, observed: int) -> None:
    health = argocd_lua(a_class(generation, status.class_status(observed, READY, suspended=False)))
    assert health.status == "Progressing"
    assert f"generation {generation}" in health.message


def test_a_ready_condition_of_an_earlier_generation_does_not_count() -> None:
    block = status.class_status(2, READY, suspended=False)
    block["conditions"][0]["observedGeneration"] = 1  # a status written by hand or by an older operator
    assert argocd_lua(a_class(2, block)).status == "Progressing"


def test_provisioning_is_progressing_with_the_reason() -> None:
    health = argocd_lua(a_class(1, status.class_status(1, PROVISIONING, suspended=False)))
    assert health.status == "Progressing"
    assert "student-002 (rabbitmq: starting)" in health.message


def test_a_suspended_class_scaled_to_zero_is_suspended_and_one_scaling_down_is_progressing() -> None:
    done = argocd_lua(a_class(2, status.class_status(2, READY, suspended=True), suspended=True))
    assert done.status == "Suspended"
    assert "scaled to zero" in done.message
    scaling = [StudentState("student-001", False, "rabbitmq: scaling down"), READY[1]]
    assert argocd_lua(a_class(2, status.class_status(2, scaling, suspended=True), suspended=True)).status == (
        "Progressing"
    )


def test_stalled_is_degraded_with_the_condition_message() -> None:
    block = status.class_status(
        1, READY, False, status.Stalled.NAMESPACE_CONFLICT, "namespace physics101-student-001 is not ours"
    )
    health = argocd_lua(a_class(1, block))
    assert health == type(health)("Degraded", "namespace physics101-student-001 is not ours")


def test_failing_students_are_degraded() -> None:
    failing = [StudentState("student-001", False, "rabbitmq: ImagePullBackOff", failing=True), READY[1]]
    health = argocd_lua(a_class(1, status.class_status(1, failing, suspended=False)))
    assert health.status == "Degraded"
    assert "ImagePullBackOff" in health.message


def test_insufficient_capacity_is_degraded_with_the_condition_message() -> None:
    block = status.class_status(4, PROVISIONING, suspended=False)
    block["conditions"].append(
        {
            "type": "InsufficientCapacity",
            "status": "True",
            "reason": "NodesFull",
            "message": "12 of 30 students' pods cannot be scheduled: 0/3 nodes have enough memory",
            "observedGeneration": 4,
        }
    )
    health = argocd_lua(a_class(4, block))
    assert health == type(health)(
        "Degraded", "12 of 30 students' pods cannot be scheduled: 0/3 nodes have enough memory"
    )


def test_argo_cd_itself_says_pending_deletion_and_missing_before_any_script() -> None:
    deleting = a_class(1, status.class_status(1, READY, suspended=False))
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert argocd_health(deleting).status == "Progressing"
    assert argocd_health(None).status == "Missing"


@pytest.mark.parametrize("by", ["OutsideLectureHours", "Expired"])
def test_a_class_suspended_by_its_schedule_or_expiry_is_suspended_not_healthy(by: str) -> None:
    import datetime as dt

    from vwclass.core import lifecycle

    block = status.class_status(1, READY, suspended=True)
    plan = lifecycle.Plan(suspended_by=lifecycle.SuspendedBy(by), expiring=by == "Expired")
    expiry = lifecycle.Expiry(dt.datetime(2027, 2, 1, tzinfo=dt.UTC), dt.timedelta(days=7))
    block = status.with_lifecycle(block, plan, expiry if by == "Expired" else None, 1)
    health = argocd_lua(a_class(1, block))  # spec.suspended is false: the status says why
    assert health.status == "Suspended", health
