"""A class's image pre-pull: the DaemonSet that keeps a student node's images on every node the class
may use, and how far it has got, from its pods: no I/O.

Every image is pulled by an init container that runs /bin/true, so the kubelet keeps the image while
the pod exists (its image garbage collection spares images that containers use): a class suspended by
its schedule keeps its images, and resumes without pulling. When the images change, the pods' template
changes and the DaemonSet pulls the new ones on every node at once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vwclass.core import names, presets, render
from vwclass.core.spec import ClassSpec

Obj = dict[str, Any]
# An init container waiting for one of these will not start by itself: the image cannot be had.
PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
_MESSAGES_LISTED = 3


def images(cls: ClassSpec) -> tuple[str, ...]:
    """Every image of a student's node, in start order, each once (the components switched on only)."""
    return _images(dataclasses.replace(cls, students=cls.students[:1]))


@functools.lru_cache(maxsize=64)
def _images(cls: ClassSpec) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for obj in render.student_objects(cls, cls.students[0]):
        if obj["kind"] in render.WORKLOAD_KINDS:
            pod = obj["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                found[container["image"]] = None
    return tuple(found)


def images_hash(cls: ClassSpec) -> str:
    """A digest of the class's images: on each pre-pull pod, so progress counts the current ones only."""
    return hashlib.sha256(json.dumps(images(cls)).encode()).hexdigest()[:16]


def daemonset(cls: ClassSpec) -> Obj:
    """The class's pre-pull DaemonSet, in the operator's namespace, placed as the class's pods are."""
    context = {
        "cls": cls,
        "name": names.prepull_name(cls.name),
        "namespace": names.OPERATOR_NAMESPACE,
        "component": names.PREPULL_COMPONENT,
        "class_label": names.CLASS_LABEL,
        "common_labels": {
            names.MANAGED_BY: names.MANAGED_BY_VALUE,
            names.PART_OF: "vwclass",
            names.CLASS_LABEL: cls.name,
        },
        "images": images(cls),
        "images_hash": images_hash(cls),
        "images_hash_annotation": names.IMAGES_HASH_ANNOTATION,
        # The data endpoint is vwclass's own image, in every class: coreutils' sleep is there.
        "hold_image": cls.images.data_endpoint,
        "resources": presets.PREPULL_CONTAINER,
        "api_version": names.API_VERSION,
        "kind": names.KIND,
    }
    return render.render_template("prepull.yaml.j2", context)[0]


@dataclass(frozen=True)
class Progress:
    """How many nodes hold every current image, of how many; and why a pull fails, if one does."""

    images: int
    nodes: int
    pulled: int
    message: str = ""

    def as_status(self) -> Obj:
        block: Obj = {
            "images": self.images,
            "nodes": self.nodes,
            "pulled": self.pulled,
            "summary": f"{self.pulled}/{self.nodes}",
        }
        if self.message:
            block["message"] = self.message
        return block


def _is_prepull_pod(pod: Obj) -> bool:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels.get("app.kubernetes.io/name") == names.PREPULL_COMPONENT and not meta.get("deletionTimestamp")


def _initialized(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conditions)


def progress(cls: ClassSpec, daemonset_obj: Obj | None, pods: Iterable[Obj], problem: str = "") -> Progress:
    """The pre-pull's progress from its DaemonSet and its pods (those of other images not counted).

    problem: why the operator could not make the DaemonSet (it then says so, and nothing is pulled)."""
    wanted = images_hash(cls)
    current = [
        p
        for p in pods
        if _is_prepull_pod(p) and (p["metadata"].get("annotations") or {}).get(names.IMAGES_HASH_ANNOTATION) == wanted
    ]
    scheduled = int(((daemonset_obj or {}).get("status") or {}).get("desiredNumberScheduled", 0))
    failing: dict[tuple[str, str], int] = {}
    for pod in current:
        for container in (pod.get("status") or {}).get("initContainerStatuses") or []:
            reason = ((container.get("state") or {}).get("waiting") or {}).get("reason", "")
            if reason in PULL_FAILURES:
                key = (container.get("image", "?"), reason)
                failing[key] = failing.get(key, 0) + 1
    messages = [f"{image}: {reason} on {n} node{'s' if n != 1 else ''}" for (image, reason), n in failing.items()]
    listed = "; ".join(sorted(messages)[:_MESSAGES_LISTED])
    if len(messages) > _MESSAGES_LISTED:
        listed += f" (and {len(messages) - _MESSAGES_LISTED} more)"
    pulled = sum(1 for p in current if _initialized(p))
    return Progress(len(images(cls)), max(scheduled, len(current)), pulled, problem or listed)
