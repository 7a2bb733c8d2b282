"""Each rule has one home: what is written elsewhere is derived from it, or checked against it here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import vwclass
from vwclass.cli import classopts, waiting
from vwclass.core import names, rabbitmq, render, schema, status
from vwclass.core.spec import Images, parse_class

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/sagecontinuum/vwclass"


def make_class(**spec: Any) -> Any:
    spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


# -- the version -----------------------------------------------------------------------------------
def test_the_crd_the_operator_deployment_and_the_microk8s_overlay_ship_the_package_version() -> None:
    crd_images = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    assert crd_images["dataEndpoint"]["default"] == f"{IMAGE}:{vwclass.__version__}"
    deployment = yaml.safe_load((ROOT / "manifests/base/operator-deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:{vwclass.__version__}"
    overlay_text = (ROOT / "manifests/overlays/microk8s/kustomization.yaml").read_text()
    overlay = yaml.safe_load(overlay_text)
    assert overlay["images"] == [{"name": IMAGE, "newName": "localhost:32000/vwclass", "newTag": vwclass.__version__}]


@pytest.mark.parametrize("path", ["README.md", "manifests/overlays/microk8s/kustomization.yaml"])
def test_every_vwclass_image_tag_in_the_docs_is_the_package_version(path: str) -> None:
    tags = re.findall(r"/vwclass:([0-9][\w.\-]*)", (ROOT / path).read_text())
    assert tags
    assert set(tags) == {vwclass.__version__}


# -- workloads: what the render produces ------------------------------------------------------------
@pytest.mark.parametrize(
    ("components", "workloads"),
    [
        ({}, ["rabbitmq", "data-endpoint", "plugin-runner", "app-meta-cache", "data-sharing-service"]),
        ({"dataSharingService": False}, ["rabbitmq", "data-endpoint", "plugin-runner"]),
        (
            {"playback": True},
            ["rabbitmq", "data-endpoint", "plugin-runner", "app-meta-cache", "data-sharing-service", "playback-server"],
        ),
    ],
)
def test_the_expected_components_are_the_rendered_ones(components: dict[str, bool], workloads: list[str]) -> None:
    cls = make_class(components=components)
    # Every node's first, then the optional components' (the order `vwclass status` shows them in).
    assert render.expected_components(cls) == workloads
    rendered = render.student_objects(cls, cls.students[1])
    assert sorted(render.node_components(rendered)) == sorted(workloads)
    # One workload per student: the node, whose pod's long-running containers are the components.
    assert render.workload_names(rendered) == [names.NODE_WORKLOAD]


# -- the creation order ---------------------------------------------------------------------------
def test_the_creation_order_is_namespace_then_credentials_then_the_rest_per_student() -> None:
    cls = make_class()
    documents = render.creation_order(cls)
    at = 0
    for student in cls.students:
        objects = render.student_objects(cls, student)
        assert documents[at] == objects[0]
        secret = documents[at + 1]
        assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", names.CREDENTIALS_SECRET)
        assert secret["metadata"]["namespace"] == student.namespace
        assert set(secret["data"]) == set(names.CREDENTIAL_KEYS)
        assert documents[at + 2 : at + 1 + len(objects)] == objects[1:]
        at += 1 + len(objects)
    assert at == len(documents)


# -- student names ----------------------------------------------------------------------------------
def test_generated_ids_and_their_numbers_come_from_one_place() -> None:
    assert names.generated_student_id(7) == "student-007"
    assert names.generated_student_number("student-007") == "007"
    assert names.generated_student_number("student-ann") is None
    assert names.generated_student_number("student-") is None
    assert names.generated_student_number("ann") is None
    cls = make_class(students=12)
    assert render.node_identity(cls, cls.students[11])[1] == "V012"


# -- Stalled reasons --------------------------------------------------------------------------------
def test_stalled_reasons_are_one_enum_and_the_cli_stops_waiting_on_the_hopeless_ones() -> None:
    hopeless = {reason.value for reason in status.Stalled if reason.hopeless}
    assert hopeless == {"InvalidSpec", "PermissionDenied", "NamespaceConflict"}
    for reason in status.Stalled:
        block = status.class_status(
            3, [status.StudentState("student-001", False, "x", failing=True)], False, reason, "why"
        )
        stalled = status.condition(block, "Stalled")
        assert stalled["status"] == "True"
        assert type(stalled["reason"]) is str  # a plain string: YAML and JSON write it as one
        assert stalled["reason"] == reason.value
        body = {"metadata": {"generation": 3}, "spec": {}, "status": block}
        assert bool(waiting.hopeless(body)) == reason.hopeless


def test_condition_finds_a_condition_or_gives_an_empty_one() -> None:
    block = status.class_status(1, [status.StudentState("student-001", True)], False)
    assert status.condition(block, "Ready")["status"] == "True"
    assert status.condition(block, "Missing") == {}
    assert status.condition(None, "Ready") == {}
    assert status.condition({"conditions": None}, "Ready") == {}


# -- what the CRD says, read from the CRD ---------------------------------------------------------
def test_image_fields_are_the_crds_image_keys() -> None:
    keys = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    assert [re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower() for k in keys] == [f.name for f in dataclasses.fields(Images)]
    images = make_class(images={"pluginRunner": "example/runner:1", "playbackServer": "example/playback:2"}).images
    assert (images.plugin_runner, images.playback_server) == ("example/runner:1", "example/playback:2")


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"metadata": {"name": "Bad_Name"}, "spec": {"students": 1}}, "is not a valid name"),
        ({"metadata": {"name": "ok"}, "spec": {"roster": [{"id": "a", "name": "x\ny"}]}}, "holds a control character"),
        ({"metadata": {"name": "ok"}, "spec": {"roster": [{"id": "A"}]}}, "is not a valid name"),
    ],
)
def test_the_crds_patterns_are_said_in_words(obj: dict[str, Any], words: str) -> None:
    with pytest.raises(schema.InvalidClass) as invalid:
        schema.validate(obj)
    explained = "; ".join(classopts.explain(p, None) for p in invalid.value.problems)
    assert words in explained
    assert "does not match" not in explained


# -- the AMQP port ----------------------------------------------------------------------------------
def test_the_amqp_port_is_written_only_in_the_rabbitmq_module() -> None:
    for template in render.TEMPLATES.glob("*.j2"):
        assert str(rabbitmq.AMQP_PORT) not in template.read_text(), template.name
    cls = make_class(components={"playback": True})
    objects = render.student_objects(cls, cls.students[0])
    ports = [
        port
        for obj in objects
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "rabbitmq"
        for port in obj["spec"]["ports"]
    ]
    assert {p["port"] for p in ports} == {rabbitmq.AMQP_PORT, rabbitmq.MANAGEMENT_PORT}
    env = {
        (obj["metadata"]["name"], e["name"]): e.get("value")
        for obj in objects
        if obj["kind"] in render.WORKLOAD_KINDS
        for c in obj["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e["name"] in ("VWCLASS_DATA_RABBITMQ_PORT", "RABBITMQ_PORT", "WAGGLE_PLUGIN_PORT")
    }
    assert len(env) == 3
    assert set(env.values()) == {str(rabbitmq.AMQP_PORT)}
