"""The typed form of a VirtualWaggleClass: what the renderer and the operator work from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vwclass.core import lifecycle, names, schema
from vwclass.core.presets import PRESETS, Preset


@dataclass(frozen=True)
class Student:
    id: str
    namespace: str
    display_name: str = ""


@dataclass(frozen=True)
class Images:
    rabbitmq: str
    plugin_runner: str
    workspace: str
    gateway: str
    data_sharing_service: str
    app_meta_cache: str
    data_endpoint: str
    playback_server: str


@dataclass(frozen=True)
class Components:
    workspace: bool
    playback: bool
    data_sharing_service: bool


@dataclass(frozen=True)
class Gateway:
    """How the class's gateway to its workspaces is exposed, and the address students open."""

    service_type: str = "NodePort"
    url: str = ""  # empty: a node's address and the Service's node port


@dataclass(frozen=True)
class Placement:
    """Where every pod of the class runs: the core nodeSelector and tolerations, as the CRD has them."""

    # Tuples, not dicts: a ClassSpec is hashable (the renderer caches by it).
    node_selector_items: tuple[tuple[str, str], ...] = ()
    toleration_items: tuple[tuple[tuple[str, Any], ...], ...] = ()

    @property
    def node_selector(self) -> dict[str, str]:
        return dict(self.node_selector_items)

    @property
    def tolerations(self) -> list[dict[str, Any]]:
        return [dict(items) for items in self.toleration_items]


@dataclass(frozen=True)
class ClassSpec:
    """A validated class with its defaults applied and its preset resolved."""

    name: str
    uid: str
    students: tuple[Student, ...]
    images: Images
    resources: Preset
    components: Components
    suspended: bool
    pod_security: str
    placement: Placement = Placement()
    schedule: lifecycle.Schedule | None = None
    expiry: lifecycle.Expiry | None = None
    image_prepull: bool = True
    idle_timeout: dt.timedelta | None = None  # a student's node is suspended alone after this long idle
    gateway: Gateway = Gateway()
    namespace_prefix: str = ""  # each student's namespace is <prefix>-<id> (spec.namespacePrefix, or the name)
    # Not the spec's: where the cluster's API server answers (address, port), as its `kubernetes`
    # Endpoints say, which a workspace's egress policy lets through. The operator sets it from the
    # cluster; an offline rendering has none, and its workspaces cannot reach the API.
    api_endpoints: tuple[tuple[str, int], ...] = ()

    def student(self, student_id: str) -> Student | None:
        return next((s for s in self.students if s.id == student_id), None)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _images(images: Mapping[str, str]) -> Images:
    """The CRD's images block (camelCase keys, every one defaulted) as Images (the same keys, snake_case)."""
    keys = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    return Images(**{_snake(key): images[key] for key in keys})


def _resources(spec: Mapping[str, Any]) -> Preset:
    resources = spec["resources"]
    preset = PRESETS[resources["preset"]]
    quota = resources.get("quota", {})
    runner = resources.get("pluginRunner", {})
    return dataclasses.replace(
        preset,
        requests_cpu=quota.get("requestsCpu", preset.requests_cpu),
        requests_memory=quota.get("requestsMemory", preset.requests_memory),
        limits_cpu=quota.get("limitsCpu", preset.limits_cpu),
        limits_memory=quota.get("limitsMemory", preset.limits_memory),
        storage=quota.get("storage", preset.storage),
        requests_ephemeral_storage=quota.get("requestsEphemeralStorage", preset.requests_ephemeral_storage),
        limits_ephemeral_storage=quota.get("limitsEphemeralStorage", preset.limits_ephemeral_storage),
        pods=quota.get("pods", preset.pods),
        runner_limit_cpu=runner.get("cpu", preset.runner_limit_cpu),
        runner_limit_memory=runner.get("memory", preset.runner_limit_memory),
        runner_limit_ephemeral_storage=runner.get("ephemeralStorage", preset.runner_limit_ephemeral_storage),
    )


def parse_class(obj: Mapping[str, Any]) -> ClassSpec:
    """Validates a VirtualWaggleClass object (raising schema.InvalidClass) and types it."""
    defaulted = schema.validate(obj)
    metadata, spec = defaulted["metadata"], defaulted["spec"]
    prefix = spec.get("namespacePrefix") or metadata["name"]
    if "roster" in spec:
        students = tuple(
            Student(entry["id"], names.namespace_name(prefix, entry["id"]), entry.get("name", ""))
            for entry in spec["roster"]
        )
    else:
        ids = (names.generated_student_id(n) for n in range(1, spec["students"] + 1))
        students = tuple(Student(i, names.namespace_name(prefix, i)) for i in ids)
    components = spec["components"]
    try:
        schedule = lifecycle.parse_schedule(spec.get("schedule"), spec["timeZone"])
        expiry = lifecycle.parse_expiry(spec.get("expires"), spec["expiryGracePeriod"], spec["timeZone"])
    except lifecycle.InvalidLifecycle as invalid:
        raise schema.InvalidClass([schema.Problem(invalid.field, str(invalid))]) from None
    return ClassSpec(
        name=metadata["name"],
        uid=metadata.get("uid", ""),
        students=students,
        images=_images(spec["images"]),
        resources=_resources(spec),
        components=Components(
            workspace=components["workspace"],
            playback=components["playback"],
            data_sharing_service=components["dataSharingService"],
        ),
        suspended=spec["suspended"],
        pod_security=spec["podSecurity"],
        image_prepull=spec["imagePrePull"],
        idle_timeout=lifecycle.parse_duration(spec["idleTimeout"]) if spec.get("idleTimeout") else None,
        placement=Placement(
            node_selector_items=tuple(spec.get("placement", {}).get("nodeSelector", {}).items()),
            toleration_items=tuple(tuple(t.items()) for t in spec.get("placement", {}).get("tolerations", [])),
        ),
        schedule=schedule,
        expiry=expiry,
        gateway=Gateway(spec["gateway"]["serviceType"], spec["gateway"].get("url", "")),
        namespace_prefix=prefix,
    )
