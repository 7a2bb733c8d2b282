"""Checks and defaults a VirtualWaggleClass with the CRD's own schema, as the API server would.

The CRD (crds/virtualwaggleclass.yaml) is the one source of truth: its OpenAPI schema is checked with
jsonschema, unknown fields are refused as kubectl's strict field validation does, list-type maps must
have unique keys, and its x-kubernetes-validations CEL rules are evaluated with cel-python. So the CLI
can refuse bad input before any request, and the operator can mark a bad class Stalled.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from vwclass.shipped import crd_path

# Keys of the Kubernetes structural-schema dialect that mean something to JSON Schema.
_JSON_SCHEMA_KEYS = frozenset(
    {
        "type",
        "properties",
        "items",
        "required",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "oneOf",
        "anyOf",
        "allOf",
        "not",
    }
)


@dataclass(frozen=True)
class Problem:
    """One reason a class is invalid, naming the field it is about."""

    field: str
    message: str

    def __str__(self) -> str:
        if not self.field or self.message.startswith(self.field):
            return self.message
        return f"{self.field}: {self.message}"


class InvalidClass(ValueError):
    """A class spec the API server would refuse (or that slipped past an older schema)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@functools.cache
def crd() -> dict[str, Any]:
    with crd_path().open() as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return loaded


def class_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the served version."""
    version = next(v for v in crd()["spec"]["versions"] if v["storage"])
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _path(parts: Iterator[str | int] | list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- defaults ------------------------------------------------------------------------------------
def _default(schema: Mapping[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _default(schema["items"], item)


def apply_defaults(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of obj with the schema's defaults filled in, as the API server stores it."""
    result = copy.deepcopy(dict(obj))
    _default(class_schema(), result)
    return result


# -- structural checks ---------------------------------------------------------------------------
def _to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _JSON_SCHEMA_KEYS:
            continue
        if key == "properties":
            converted[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            converted[key] = _to_json_schema(value)
        elif key in ("oneOf", "anyOf", "allOf"):
            converted[key] = [_to_json_schema(sub) for sub in value]
        elif key == "not":
            converted[key] = _to_json_schema(value)
        else:
            converted[key] = value
    return converted


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_to_json_schema(class_schema()))


def _unknown_fields(schema: Mapping[str, Any], value: Any, path: list[str | int]) -> Iterator[Problem]:
    if isinstance(value, dict) and "properties" in schema:
        if path == ["metadata"] or schema.get("x-kubernetes-preserve-unknown-fields"):
            return  # ObjectMeta is the API server's to check
        for name, sub_value in value.items():
            sub = schema["properties"].get(name)
            if sub is None:
                yield Problem(_path([*path, name]), "unknown field")
            else:
                yield from _unknown_fields(sub, sub_value, [*path, name])
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _unknown_fields(schema["items"], item, [*path, index])


def _duplicate_keys(schema: Mapping[str, Any], value: Any, path: list[str | int]) -> Iterator[Problem]:
    if isinstance(value, list):
        keys = schema.get("x-kubernetes-list-map-keys") if schema.get("x-kubernetes-list-type") == "map" else None
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(value):
            if keys and isinstance(item, dict):
                key = tuple(item.get(k) for k in keys)
                if key in seen:
                    shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))
                    yield Problem(_path([*path, index]), f"duplicate entry ({shown})")
                seen.add(key)
            yield from _duplicate_keys(schema.get("items", {}), item, [*path, index])
    elif isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _duplicate_keys(sub, value[name], [*path, name])


# -- CEL rules -----------------------------------------------------------------------------------
@functools.cache
def _cel_program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def _cel_rules(schema: Mapping[str, Any], value: Any, path: list[str | int]) -> Iterator[Problem]:
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            passed = bool(_cel_program(rule["rule"]).evaluate({"self": json_to_cel(value)}))
        except CELEvalError:
            passed = False  # the API server also refuses an object a rule cannot evaluate
        if not passed:
            message = " ".join(str(rule.get("message", f"failed rule: {rule['rule']}")).split())
            yield Problem(rule.get("fieldPath", "").lstrip(".") or _path(path), message)
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _cel_rules(sub, value[name], [*path, name])
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _cel_rules(schema["items"], item, [*path, index])


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, but saying the limit instead of repeating a long value or list."""
    limit = error.validator_value
    count = len(error.instance) if isinstance(error.instance, list) else 0
    if error.validator == "maxLength":
        return f"is longer than {limit} characters"
    if error.validator == "maxItems":
        return f"has {count} entries, more than the {limit} allowed"
    if error.validator == "minItems":
        return f"has {count} entries, fewer than the {limit} required"
    return str(error.message)


def problems(obj: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with a (defaulted) class object; empty when the API server would accept it."""
    schema = class_schema()
    found = list(_unknown_fields(schema, obj, []))
    for error in sorted(_validator().iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        found.append(Problem(_path(list(error.absolute_path)), _message(error)))
    found += _duplicate_keys(schema, obj, [])
    if not found:  # rules assume well-typed input, as the API server's do
        found += _cel_rules(schema, obj, [])
    return found


def validate(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The class with defaults applied; raises InvalidClass naming every bad field."""
    defaulted = apply_defaults(obj)
    found = problems(defaulted)
    if found:
        raise InvalidClass(found)
    return defaulted
