"""The CRD's schema, evaluated client-side: defaults, structural checks, list keys and CEL rules."""

from __future__ import annotations

import pytest

from vwclass.core import schema


def body(spec: dict[str, object], name: str = "geo") -> dict[str, object]:
    return {
        "apiVersion": "edu.sagecontinuum.org/v1alpha1",
        "kind": "VirtualWaggleClass",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_defaults_come_from_the_crd() -> None:
    spec = schema.validate(body({"students": 1}))["spec"]
    assert spec["resources"]["preset"] == "small"
    assert spec["components"] == {"workspace": True, "playback": False, "dataSharingService": True}
    assert spec["podSecurity"] == "baseline"
    assert spec["suspended"] is False
    assert all(":" in image and not image.endswith(":latest") for image in spec["images"].values())


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ({"students": 3, "roster": [{"id": "a"}]}, "geo", "spec: set exactly one of spec.students"),
        ({"students": 501}, "geo", "spec.students: 501 is greater than the maximum of 500"),
        ({"roster": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}, "geo", "spec.roster[2]: duplicate entry (id='a')"),
        ({"students": 2, "images": {"rabbitmq": "a\tb"}}, "geo", "spec.images.rabbitmq:"),
        ({"students": 2, "components": {"gpu": True}}, "geo", "spec.components.gpu: unknown field"),
        ({"students": 2}, "Geo.101", "metadata.name:"),
        ({"students": 2}, "g" * 52, "at most 51 characters"),
    ],
)
def test_invalid_classes_name_the_field(spec: dict[str, object], name: str, expected: str) -> None:
    with pytest.raises(schema.InvalidClass) as invalid:
        schema.validate(body(spec, name))
    assert any(str(p).startswith(expected) or expected in str(p) for p in invalid.value.problems), (
        invalid.value.problems
    )


def test_a_roster_of_500_is_accepted_and_501_refused() -> None:
    schema.validate(body({"roster": [{"id": f"s{i}"} for i in range(500)]}))
    with pytest.raises(schema.InvalidClass, match=r"spec\.roster"):
        schema.validate(body({"roster": [{"id": f"s{i}"} for i in range(501)]}))
