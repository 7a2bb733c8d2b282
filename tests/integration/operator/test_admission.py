"""Invalid classes are refused at admission, and the CLI's validator says the same of the same field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.classes import class_body
from vwclass.core import render, schema
from vwclass.core.spec import parse_class
from vwclass.kube.api import ApiError, Kube

pytestmark = pytest.mark.cluster

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("both", {"students": 3, "roster": [{"id": "a"}]}, "exactly one of spec.students"),
    ("neither", {}, "exactly one of spec.students"),
    ("too-many", {"students": 501}, "spec.students"),
    ("zero", {"students": 0}, "spec.students"),
    ("string-count", {"students": "30"}, "spec.students"),
    ("dup-roster", {"roster": [{"id": "ann"}, {"id": "ann"}]}, "spec.roster"),
    ("bad-id", {"roster": [{"id": "Ann_1"}]}, "spec.roster[0].id"),
    ("control-name", {"roster": [{"id": "ann", "name": "Ann\nkind: Secret"}]}, "spec.roster[0].name"),
    ("long-prefix", {"students": 2, "namespacePrefix": "p" * 52}, "spec.namespacePrefix"),
    ("long-id", {"roster": [{"id": "a" * 55}]}, "spec.roster"),
    ("bad-image", {"students": 2, "images": {"rabbitmq": "rabbitmq:4 ; rm -rf /"}}, "spec.images.rabbitmq"),
    ("unknown-image", {"students": 2, "images": {"jupyter": "x:1"}}, "spec.images.jupyter"),
    ("bad-preset", {"students": 2, "resources": {"preset": "huge"}}, "spec.resources.preset"),
    ("bad-quantity", {"students": 2, "resources": {"quota": {"limitsCpu": "lots"}}}, "spec.resources.quota.limitsCpu"),
    ("bad-level", {"students": 2, "podSecurity": "privileged"}, "spec.podSecurity"),
    ("unknown-field", {"students": 2, "teacher": "me"}, "spec.teacher"),
    ("negative", {"students": -1}, "spec.students"),
    ("float-count", {"students": 3.5}, "spec.students"),
    ("empty-roster", {"roster": []}, "spec.roster"),
    ("huge-roster", {"roster": [{"id": f"s{i}"} for i in range(501)]}, "spec.roster"),
    ("dash-id", {"roster": [{"id": "-ann"}]}, "spec.roster[0].id"),
    ("long-display-name", {"roster": [{"id": "ann", "name": "n" * 129}]}, "spec.roster[0].name"),
    ("yaml-injection", {"roster": [{"id": "ann", "name": "Ann\n  students: 500"}]}, "spec.roster[0].name"),
    ("json-injection", {"roster": [{"id": "ann", "name": '\u0000"}, {"id": "x'}]}, "spec.roster[0].name"),
    ("roster-unknown", {"roster": [{"id": "ann", "email": "a@b"}]}, "spec.roster[0].email"),
    (
        "image-newline",
        {"students": 2, "images": {"pluginRunner": "waggle/plugin-base:1\nkind: Secret"}},
        "spec.images.pluginRunner",
    ),
    ("image-control", {"students": 2, "images": {"dataEndpoint": "vwclass:0.1\u0007"}}, "spec.images.dataEndpoint"),
    ("image-space", {"students": 2, "images": {"appMetaCache": " redis:7"}}, "spec.images.appMetaCache"),
    ("bad-prefix", {"students": 2, "namespacePrefix": "Bad_Prefix"}, "spec.namespacePrefix"),
    ("string-bool", {"students": 2, "suspended": "yes"}, "spec.suspended"),
    ("string-toggle", {"students": 2, "components": {"workspace": "true"}}, "spec.components.workspace"),
    ("few-pods", {"students": 2, "resources": {"quota": {"pods": 1}}}, "spec.resources.quota.pods"),
    (
        "bad-toleration",
        {"students": 2, "placement": {"tolerations": [{"key": "k", "effect": "Sometimes"}]}},
        "spec.placement.tolerations[0].effect",
    ),
    ("resources-unknown", {"students": 2, "resources": {"preset": "small", "gpus": 1}}, "spec.resources.gpus"),
]


@pytest.mark.parametrize(("name", "spec", "field"), INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_class_is_refused_by_the_api_server_and_the_validator(
    kube: Kube, name: str, spec: dict[str, Any], field: str
) -> None:
    body = class_body(f"bad-{name}", **spec)
    with pytest.raises(ApiError) as refused:
        kube.request(
            "POST",
            "/apis/edu.sagecontinuum.org/v1alpha1/virtualwaggleclasses",
            body=body,
            query=[("fieldValidation", "Strict"), ("dryRun", "All")],
        )
    assert refused.value.status in (400, 422)
    assert field.split("[")[0].split(".")[-1] in refused.value.message
    with pytest.raises(schema.InvalidClass) as invalid:
        schema.validate(body)
    assert any(field in str(problem) for problem in invalid.value.problems), invalid.value.problems


def test_every_rendered_object_is_valid_for_the_api_server(kube: Kube) -> None:
    cls = parse_class(
        class_body(
            "valid",
            roster=[{"id": "ann", "name": 'Ann "the" Ann: {x}'}],
            podSecurity="restricted",
            components={"workspace": True, "playback": True, "dataSharingService": True},
        )
    )
    objects = render.student_objects(cls, cls.students[0])
    kube.apply(objects[0])  # namespaced dry runs need the namespace to exist
    try:
        for obj in objects[1:]:
            kube.request(
                "PATCH",
                f"{_path(obj)}",
                body=obj,
                content_type="application/apply-patch+yaml",
                query=[("fieldManager", "test"), ("dryRun", "All"), ("fieldValidation", "Strict")],
            )
    finally:
        kube.request("DELETE", f"/api/v1/namespaces/{objects[0]['metadata']['name']}")


def _path(obj: dict[str, Any]) -> str:
    from vwclass.kube.resources import resource_of

    return resource_of(obj).path(obj["metadata"].get("namespace"), obj["metadata"]["name"])
