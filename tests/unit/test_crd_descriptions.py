"""Every field of the CRD has a description, so `kubectl explain virtualwaggleclass.<path>` explains it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from vwclass.core import schema


def _properties_without_description(node: Mapping[str, Any], path: str) -> Iterator[str]:
    """The path of every property at or under `node` that has no description (arrays' items as path[])."""
    for name, sub in node.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        if path == "" and name == "metadata":
            # The API server publishes its own ObjectMeta there, and refuses a CRD whose metadata schema
            # holds anything but name and generateName restrictions (a description included).
            continue
        if not str(sub.get("description") or "").strip():
            yield child
        yield from _properties_without_description(sub, child)
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _properties_without_description(items, f"{path}[]")
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield from _properties_without_description(additional, f"{path}.*")


def test_the_walk_finds_properties_without_a_description_at_any_depth() -> None:
    described = {"type": "string", "description": "x"}
    node: dict[str, Any] = {
        "properties": {
            "a": {"type": "string"},
            "b": {
                "type": "array",
                "description": "x",
                "items": {"type": "object", "properties": {"c": {"type": "integer"}, "d": described}},
            },
            "e": {
                "type": "object",
                "description": "x",
                "additionalProperties": {"type": "object", "properties": {"f": {"description": " "}}},
            },
            "g": {"type": "object", "description": "x", "properties": {"h": {"type": "boolean"}}},
        }
    }
    assert list(_properties_without_description(node, "spec")) == ["spec.a", "spec.b[].c", "spec.e.*.f", "spec.g.h"]


@pytest.mark.parametrize("version", [v["name"] for v in schema.crd()["spec"]["versions"]])
def test_every_field_of_the_crd_has_a_description(version: str) -> None:
    served = next(v for v in schema.crd()["spec"]["versions"] if v["name"] == version)
    root: Mapping[str, Any] = served["schema"]["openAPIV3Schema"]
    assert str(root.get("description") or "").strip(), "the schema itself has no description"
    missing = list(_properties_without_description(root, ""))
    assert not missing, "fields without a description (kubectl explain shows nothing for them):\n" + "\n".join(missing)


def test_the_metadata_schema_has_no_description_the_api_server_would_refuse() -> None:
    metadata: Mapping[str, Any] = schema.class_schema()["properties"]["metadata"]
    assert "description" not in metadata
