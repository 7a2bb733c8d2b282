"""A class pre-pulls its node's images on every node it may use, again when they change, and tells how
far it has got; its DaemonSet is the operator's to keep and goes with the class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import capacity, names, prepull
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, DAEMONSET, NODE

pytestmark = pytest.mark.cluster
NAME = "prepull"


def daemonset(kube: Kube) -> dict[str, Any] | None:
    return kube.get(DAEMONSET, names.prepull_name(NAME), names.OPERATOR_NAMESPACE)


def prepull_status(kube: Kube) -> dict[str, Any]:
    return dict(((kube.get(CLASS, NAME) or {}).get("status") or {}).get("imagePrePull") or {})


def pulled_everywhere(kube: Kube, nodes: int) -> dict[str, Any] | None:
    block = prepull_status(kube)
    return block if block.get("nodes") == nodes and block.get("pulled") == nodes and not block.get("message") else None


def test_a_class_pre_pulls_its_images_on_every_usable_node_again_when_they_change_and_not_once_off(
    kube: Kube, operator: EmbeddedOperator
) -> None:
    kube.apply(class_body(NAME, students=1))
    try:
        body = wait_ready(kube, NAME, 1)
        usable = len(capacity.node_rooms(kube.list(NODE), []))
        assert usable >= 1
        cls = parse_class(body)
        block = eventually(lambda: pulled_everywhere(kube, usable), timeout=60, what="images pulled on every node")
        assert block == {
            "images": len(prepull.images(cls)),
            "nodes": usable,
            "pulled": usable,
            "summary": f"{usable}/{usable}",
        }
        made = daemonset(kube)
        assert made is not None
        assert made["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]
        pod = made["spec"]["template"]["spec"]
        assert [c["image"] for c in pod["initContainers"]] == list(prepull.images(cls))

        # New images: every node pulls them, and until it has, it is not counted.
        kube.merge_patch(CLASS, NAME, None, {"spec": {"images": {"rabbitmq": "rabbitmq:4.1.5-management-alpine"}}})
        changed = parse_class(kube.get(CLASS, NAME) or {})

        def pulling_new_images() -> bool:
            current = daemonset(kube) or {}
            annotations = current.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
            return bool(annotations.get(names.IMAGES_HASH_ANNOTATION) == prepull.images_hash(changed))

        eventually(pulling_new_images, timeout=30, what="the DaemonSet pulling the new images")
        eventually(lambda: pulled_everywhere(kube, usable), timeout=90, what="the new images on every node")

        # Deleted by hand: the operator makes it again.
        old_uid = (daemonset(kube) or {})["metadata"]["uid"]
        kube.delete(DAEMONSET, names.prepull_name(NAME), names.OPERATOR_NAMESPACE)
        eventually(
            lambda: (daemonset(kube) or {}).get("metadata", {}).get("uid") not in (None, old_uid),
            timeout=60,
            what="the pre-pull DaemonSet made again",
        )

        # A suspended class keeps its images on the nodes: that is what makes its resume quick.
        kube.merge_patch(CLASS, NAME, None, {"spec": {"suspended": True}})
        eventually(lambda: (kube.get(CLASS, NAME) or {})["status"].get("phase") == "Suspended", what="suspended")
        assert daemonset(kube) is not None
        eventually(lambda: pulled_everywhere(kube, usable), timeout=60, what="images kept while suspended")

        # Switched off: the DaemonSet goes and the status says nothing of it.
        kube.merge_patch(CLASS, NAME, None, {"spec": {"imagePrePull": False, "suspended": False}})
        eventually(lambda: daemonset(kube) is None, timeout=60, what="the pre-pull DaemonSet removed")
        eventually(lambda: not prepull_status(kube), timeout=30, what="status.imagePrePull removed")
        wait_ready(kube, NAME, 1)
    finally:
        delete_class(kube, NAME)


def test_deleting_a_class_deletes_its_pre_pull_with_the_operator_down(kube: Kube, kubeconfig: Path) -> None:
    with EmbeddedOperator(str(kubeconfig)):
        kube.apply(class_body(NAME, students=1))
        eventually(lambda: daemonset(kube) is not None, timeout=60, what="the pre-pull DaemonSet")
    # Garbage collection, as for the students' namespaces: no operator needed.
    delete_class(kube, NAME)
    eventually(lambda: daemonset(kube) is None, timeout=60, what="the pre-pull DaemonSet gone with its class")
