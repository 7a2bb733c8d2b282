"""Decides whether a live object still says what we rendered: the test behind a quiet resync."""

from __future__ import annotations

from typing import Any

# What the API server sets on metadata by itself; everything else we render is compared.
_COMPARED_METADATA = ("labels", "annotations", "ownerReferences")
# A container field the server never defaults: present in a live container but not in ours, it was
# added by hand (an env var, another command) and is drift, not a default.
_CONTAINER_FIELDS_WE_OWN = ("env", "envFrom", "command", "args")


def _is_container(value: dict[str, Any]) -> bool:
    return "name" in value and "image" in value


def _contains(actual: Any, desired: Any) -> bool:
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return not desired and not actual
        if _is_container(desired) and any(actual.get(k) and k not in desired for k in _CONTAINER_FIELDS_WE_OWN):
            return False
        return all(
            (key in actual and _contains(actual[key], value)) or (key not in actual and value in ({}, [], None))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        # Equal length: an entry added by hand (an env var, a port) is drift, not a superset.
        if not isinstance(actual, list) or len(actual) != len(desired):
            return not desired and not actual
        return all(_contains(a, d) for a, d in zip(actual, desired, strict=True))
    return bool(actual == desired)


def differs(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    """True when actual is missing or lacks something desired says; server defaults don't count."""
    if actual is None:
        return True
    for key, value in desired.items():
        if key == "metadata":
            for field in _COMPARED_METADATA:
                if field in value and not _contains(actual.get("metadata", {}).get(field, {}), value[field]):
                    return True
        elif key not in ("apiVersion", "kind", "status") and not _contains(actual.get(key), value):
            return True
    return False
