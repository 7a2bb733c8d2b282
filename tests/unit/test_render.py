"""The render core: whole student nodes from a spec, with names, labels, toggles and escaping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from vwclass.core import names, render
from vwclass.core.rabbitmq import NodeCredentials
from vwclass.core.spec import ClassSpec, parse_class


def make_class(**spec: Any) -> ClassSpec:
    if "roster" not in spec:
        spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


CREDS = NodeCredentials(admin="adm-secret", service="svc-secret", plugin="plg-secret")


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_generated_students_keep_three_digit_ids_at_any_size() -> None:
    assert [s.id for s in make_class(students=3).students] == ["student-001", "student-002", "student-003"]
    assert make_class(students=120).students[99].namespace == "bio101-student-100"


def test_a_default_node_has_every_component_and_no_optional_one() -> None:
    cls = make_class()
    rendered = kinds(render.student_objects(cls, cls.students[0], CREDS))
    assert rendered[0] == ("Namespace", "bio101-student-001")
    for expected in [
        ("StatefulSet", "rabbitmq"),
        ("Deployment", "data-sharing-service"),
        ("Deployment", "app-meta-cache"),
        ("Deployment", "data-endpoint"),
        ("Deployment", "plugin-runner"),
        ("NetworkPolicy", "isolate-ingress"),
        ("ResourceQuota", "student-quota"),
        ("RoleBinding", "student"),
    ]:
        assert expected in rendered
    assert ("Deployment", "playback-server") not in rendered
    assert ("Service", "workspace") not in rendered


def test_turning_off_the_data_sharing_service_saves_two_containers_and_switches_the_endpoint_mode() -> None:
    cls = make_class(components={"dataSharingService": False})
    objects = render.student_objects(cls, cls.students[0], CREDS)
    assert ("Deployment", "data-sharing-service") not in kinds(objects)
    assert ("Deployment", "app-meta-cache") not in kinds(objects)
    endpoint = next(o for o in objects if o["metadata"]["name"] == "data-endpoint" and o["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in endpoint["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VWCLASS_DATA_MODE"] == "validator"
    runner = next(o for o in objects if o["metadata"]["name"] == "plugin-runner")
    assert "initContainers" not in runner["spec"]["template"]["spec"]


def test_every_object_is_labelled_with_its_class_student_and_manager() -> None:
    cls = make_class(components={"jupyter": True, "playback": True})
    for obj in render.student_objects(cls, cls.students[1], CREDS):
        labels = obj["metadata"]["labels"]
        assert labels[names.MANAGED_BY] == "vwclass"
        assert labels[names.CLASS_LABEL] == "bio101"
        assert labels[names.STUDENT_LABEL] == "student-002"
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "bio101-student-002"


def test_only_the_namespace_is_owned_by_the_class() -> None:
    cls = make_class()
    objects = render.student_objects(cls, cls.students[0], CREDS)
    assert objects[0]["metadata"]["ownerReferences"] == [
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": "bio101",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert all("ownerReferences" not in o["metadata"] for o in objects[1:])


def test_suspended_scales_every_workload_to_zero() -> None:
    cls = make_class(suspended=True, components={"playback": True})
    workloads = [
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert len(workloads) == 6
    assert all(w["spec"]["replicas"] == 0 for w in workloads)


def test_passwords_appear_only_in_secrets_and_runner_reads_them_by_reference() -> None:
    cls = make_class(components={"jupyter": True})
    for obj in render.student_objects(cls, cls.students[0], CREDS):
        if obj["kind"] != "Secret":
            text = json.dumps(obj)
            assert not any(p in text for p in ("adm-secret", "svc-secret", "plg-secret")), obj["metadata"]["name"]
    runner = next(
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["metadata"]["name"] == "plugin-runner"
    )
    env = {e["name"]: e for e in runner["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WAGGLE_PLUGIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == names.CREDENTIALS_SECRET
    assert env["WAGGLE_PLUGIN_USERNAME"]["value"] == "plugin"


def test_the_rabbitmq_config_secret_carries_the_students_definitions() -> None:
    cls = make_class()
    secret = next(
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["metadata"]["name"] == "rabbitmq-config"
    )
    definitions = json.loads(base64.b64decode(secret["data"]["definitions.json"]))
    users = {u["name"]: u["password"] for u in definitions["users"]}
    assert users == {"admin": "adm-secret", "service": "svc-secret", "plugin": "plg-secret"}
    assert {e["name"] for e in definitions["exchanges"]} >= {"to-validator", "to-beehive", "data.topic"}


def test_a_new_password_rolls_rabbitmq_and_the_same_one_does_not() -> None:
    cls = make_class()

    def config_hash(creds: NodeCredentials) -> str:
        sts = next(o for o in render.student_objects(cls, cls.students[0], creds) if o["kind"] == "StatefulSet")
        return str(sts["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION])

    first = config_hash(CREDS)
    render._cached_student_objects.cache_clear()  # rendered again, not served from the cache
    assert config_hash(CREDS) == first
    assert config_hash(CREDS) != config_hash(NodeCredentials("a", "b", "c"))


@pytest.mark.parametrize(
    "display_name",
    [
        'Ann "the" Ann',
        "Bob: {kind: Secret}",
        "Eve\u2028---\u2029x",
        "Zoë 😀 \\ / ' `",
        "a: b\\n- c",
    ],
)
def test_a_display_name_cannot_change_any_other_field(display_name: str) -> None:
    plain = make_class(roster=[{"id": "ann"}])
    crafted = make_class(roster=[{"id": "ann", "name": display_name}])
    normal = render.student_objects(plain, plain.students[0], CREDS)
    hostile = render.student_objects(crafted, crafted.students[0], CREDS)
    assert hostile[0]["metadata"]["annotations"][names.DISPLAY_NAME_ANNOTATION] == display_name
    del hostile[0]["metadata"]["annotations"]
    assert hostile == normal


def test_node_identities_are_stable_and_unique() -> None:
    cls = make_class(students=300)
    ids = [render.node_identity(cls, s) for s in cls.students]
    assert len({i for i, _ in ids}) == 300
    assert len({v for _, v in ids}) == 300
    assert ids[0][1] == "V001"
    assert ids == [render.node_identity(cls, s) for s in cls.students]
    roster = make_class(roster=[{"id": "ann"}])
    assert render.node_identity(roster, roster.students[0])[1] == "V-ANN"


def test_the_rendered_class_manifest_round_trips_through_yaml() -> None:
    manifest = render.class_manifest("bio101", {"students": 30})
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest
    assert parse_class(manifest).students[-1].id == "student-030"


def test_changing_a_rendered_object_does_not_change_the_next_rendering() -> None:
    cls = make_class()
    pristine = render.student_objects(cls, cls.students[0], CREDS)
    first = render.student_objects(cls, cls.students[0], CREDS)
    assert first == pristine
    assert first is not pristine
    first[0]["metadata"]["labels"]["edited"] = "yes"
    del first[-1]["spec"]
    first.pop()
    assert render.student_objects(cls, cls.students[0], CREDS) == pristine
    assert "edited" not in render.student_objects(cls, cls.students[0], CREDS)[0]["metadata"]["labels"]


def test_placement_lands_on_every_pod_of_every_component() -> None:
    selector = {"pool": "gpu", "vwclass.testenv/real-node": "true"}
    tolerations = [
        {"key": "vwclass.testenv/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
    ]
    cls = make_class(
        components={"playback": True, "jupyter": True},
        placement={"nodeSelector": selector, "tolerations": tolerations},
    )
    workloads = [
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert len(workloads) >= 6
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == selector, workload["metadata"]["name"]
        assert pod["tolerations"] == tolerations, workload["metadata"]["name"]


def test_without_placement_no_pod_names_a_node_or_a_taint() -> None:
    cls = make_class()
    for obj in render.student_objects(cls, cls.students[0], CREDS):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            assert "nodeSelector" not in obj["spec"]["template"]["spec"]
            assert "tolerations" not in obj["spec"]["template"]["spec"]
