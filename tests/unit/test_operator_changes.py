"""Which child events ask for a class's objects to be compared again, and which only for its state."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from vwclass.operator.changes import Comparison, Remembered, fingerprint, key_of

Obj = dict[str, Any]


def node() -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": "node",
            "namespace": "c-student-001",
            "labels": {"vwclass.sagecontinuum.org/class": "c"},
            "resourceVersion": "10",
            "generation": 1,
            "managedFields": [{"manager": "vwclass-operator", "operation": "Apply"}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "plugin-runner", "image": "r:1"}]}}},
        "status": {"replicas": 0},
    }


def claim() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-endpoint", "namespace": "c-student-001"},
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
    }


def remembering(*objects: Obj, generation: int = 1, seconds: float = 120.0) -> Remembered:
    remembered = Remembered(full_pass_seconds=seconds)
    fingerprints = {key_of(obj): fingerprint(obj) for obj in objects}
    remembered.settled("c", Comparison("uid-1", generation, at=time.monotonic(), fingerprints=fingerprints))
    return remembered


def status_update(obj: Obj) -> Obj:
    """The same object as a controller leaves it after writing its status."""
    updated = copy.deepcopy(obj)
    updated["status"] = {"replicas": 1, "readyReplicas": 1}
    updated["metadata"]["resourceVersion"] = "11"
    updated["metadata"]["managedFields"].append({"manager": "kube-controller-manager", "subresource": "status"})
    return updated


def test_a_status_update_keeps_the_fingerprint_and_any_edit_changes_it() -> None:
    original = node()
    assert fingerprint(status_update(original)) == fingerprint(original)
    scaled = copy.deepcopy(original)
    scaled["spec"]["replicas"] = 0
    unlabelled = copy.deepcopy(original)
    del unlabelled["metadata"]["labels"]  # a removal leaves no manager of its own in managedFields
    assert len({fingerprint(original), fingerprint(scaled), fingerprint(unlabelled)}) == 3


def test_status_updates_and_our_own_objects_ask_for_no_comparison() -> None:
    remembered = remembering(node())
    assert not remembered.asks_for_comparison("c", "MODIFIED", node())
    assert not remembered.asks_for_comparison("c", "MODIFIED", status_update(node()))
    assert not remembered.asks_for_comparison("c", None, node())  # kopf's listing after a restart


def test_an_edit_an_unknown_object_and_a_deletion_of_a_known_one_ask_for_a_comparison() -> None:
    remembered = remembering(node())
    edited = node()
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    stranger = node()
    stranger["metadata"]["name"] = "another"
    assert remembered.asks_for_comparison("c", "MODIFIED", edited)
    assert remembered.asks_for_comparison("c", "ADDED", stranger)
    assert remembered.asks_for_comparison("c", "DELETED", node())
    # What the class does not want any more (an older layout's object it removed) asks nothing as it goes.
    assert not remembered.asks_for_comparison("c", "DELETED", stranger)


def test_without_a_settled_comparison_every_event_but_a_pods_asks_for_one() -> None:
    remembered = Remembered()
    assert remembered.asks_for_comparison("c", "MODIFIED", node())
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "node-0", "namespace": "c-student-001"}}
    assert not remembered.asks_for_comparison("c", "MODIFIED", pod)
    assert not remembered.asks_for_comparison("c", "DELETED", pod)


def test_a_claim_is_compared_only_as_it_comes_and_goes() -> None:
    remembered = remembering(claim())
    bound = claim()
    bound["spec"]["volumeName"] = "pvc-1234"  # the binder's edit, which a pass never reverts
    bound["metadata"]["finalizers"] = ["kubernetes.io/pvc-protection"]
    assert not remembered.asks_for_comparison("c", "MODIFIED", bound)
    assert remembered.asks_for_comparison("c", "DELETED", bound)
    other = claim()
    other["metadata"]["name"] = "workspace"
    assert remembered.asks_for_comparison("c", "ADDED", other)


@pytest.mark.parametrize(
    ("uid", "generation", "seconds", "valid"),
    [
        ("uid-1", 1, 120.0, True),
        ("uid-2", 1, 120.0, False),  # a class deleted and made again under the same name
        ("uid-1", 2, 120.0, False),  # its spec changed
        ("uid-1", 1, 0.0, False),  # the comparison is older than a resync
    ],
)
def test_a_comparison_stands_for_its_class_and_spec_until_a_resync(
    uid: str, generation: int, seconds: float, valid: bool
) -> None:
    remembered = remembering(node(), seconds=seconds)
    assert remembered.still_valid("c", uid, generation) is valid
    assert not remembered.still_valid("another-class", "uid-1", 1)


def test_a_pass_that_did_not_settle_forgets_the_comparison() -> None:
    remembered = remembering(node())
    remembered.settled("c", None)
    assert not remembered.still_valid("c", "uid-1", 1)
    assert remembered.asks_for_comparison("c", "MODIFIED", node())
