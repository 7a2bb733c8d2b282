"""What suspending a class stops beside the students' nodes, and what resuming gives back."""

from __future__ import annotations

from typing import Any

from vwclass.core import names, suspension

NS = "bio-student-001"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    api = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    meta = {"name": name, "namespace": NS, "uid": f"uid-{name}", **metadata}
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec or {}, "status": {}}


def applied(actions: list[suspension.Action], objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects after the actions, merge patches applied (None removes), deleted ones gone."""

    def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        out = dict(target)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, dict):
                out[key] = merge(out.get(key, {}), value)
            else:
                out[key] = value
        return out

    by_name = {o["metadata"]["name"]: o for o in objects}
    for action in actions:
        if action.patch is None:
            del by_name[action.name]
        else:
            by_name[action.name] = merge(by_name[action.name], action.patch)
    return list(by_name.values())


def test_a_students_workloads_are_stopped_and_the_same_ones_come_back() -> None:
    objects = [
        obj("Deployment", "counter", {"replicas": 2}),
        obj("StatefulSet", "db", {"replicas": 1}),
        obj("Job", "train", {"suspend": False}),
        obj("CronJob", "nightly", {}),
        obj("Pod", "scratch"),
    ]
    stopped = applied(suspension.stop(objects, "bio"), objects)
    by_name = {o["metadata"]["name"]: o for o in stopped}
    assert "scratch" not in by_name  # no controller: nothing could bring it back
    assert by_name["counter"]["spec"]["replicas"] == 0
    assert by_name["db"]["spec"]["replicas"] == 0
    assert by_name["train"]["spec"]["suspend"] is True
    assert by_name["nightly"]["spec"]["suspend"] is True
    assert all(o["metadata"]["labels"][suspension.STOPPED_LABEL] == "bio" for o in stopped)
    assert suspension.stop(stopped, "bio") == []  # a second pass while suspended writes nothing

    resumed = {o["metadata"]["name"]: o for o in applied(suspension.restore(stopped), stopped)}
    assert resumed["counter"]["spec"]["replicas"] == 2
    assert resumed["db"]["spec"]["replicas"] == 1
    assert resumed["train"]["spec"]["suspend"] is False
    assert resumed["nightly"]["spec"]["suspend"] is False
    for each in resumed.values():
        assert suspension.STOPPED_LABEL not in each["metadata"].get("labels", {})
        assert suspension.REPLICAS_ANNOTATION not in each["metadata"].get("annotations", {})


def test_what_the_operator_or_a_controller_owns_and_what_is_finished_is_left_alone() -> None:
    controlled = [{"kind": "Deployment", "name": "counter", "uid": "u", "controller": True}]
    objects = [
        obj("StatefulSet", "node", {"replicas": 0}, labels={names.MANAGED_BY: names.MANAGED_BY_VALUE}),
        obj("ReplicaSet", "counter-abc", {"replicas": 2}, ownerReferences=controlled),
        obj("Pod", "counter-abc-x", ownerReferences=controlled),
        obj("Deployment", "idle", {"replicas": 0}),
        {**obj("Job", "done"), "status": {"conditions": [{"type": "Complete", "status": "True"}]}},
        {**obj("Pod", "finished"), "status": {"phase": "Succeeded"}},
        obj("CronJob", "paused", {"suspend": True}),
    ]
    assert suspension.stop(objects, "bio") == []


def test_a_workload_scaled_up_while_stopped_comes_back_at_its_new_size() -> None:
    labels = {suspension.STOPPED_LABEL: "bio"}
    scaled = obj(
        "Deployment", "counter", {"replicas": 3}, labels=labels, annotations={suspension.REPLICAS_ANNOTATION: "2"}
    )
    [action] = suspension.stop([scaled], "bio")
    assert action.patch is not None
    assert action.patch["spec"] == {"replicas": 0}
    assert action.patch["metadata"]["annotations"] == {suspension.REPLICAS_ANNOTATION: "3"}


def test_only_what_the_class_stopped_is_given_back() -> None:
    mine = obj("CronJob", "nightly", {"suspend": True})  # suspended by the student, not by the class
    assert suspension.restore([mine]) == []
