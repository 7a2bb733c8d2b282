"""Helpers for tests about classes: install the API, build, wait for and delete classes."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.kube import eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, NAMESPACE
from vwclass.shipped import crd_path, shipped_dir


def admission_policies() -> list[dict[str, Any]]:
    """The shipped ValidatingAdmissionPolicies of student namespaces and their bindings."""
    path = shipped_dir("manifests") / "base" / "student-admission-policies.yaml"
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def install(kube: Kube) -> None:
    """What `vwclass install` puts in place that the operator relies on: the CRD, the vwclass-system
    namespace (where each class's image pre-pull runs), the student role and policies.

    The policies are in place for every test, so every class in the suite proves that they let the
    operator's own workloads through.
    """
    documents = [yaml.safe_load(crd_path().read_text())]
    documents.append(yaml.safe_load((shipped_dir("manifests") / "base" / "namespace.yaml").read_text()))
    documents.append(yaml.safe_load((shipped_dir("manifests") / "base" / "student-clusterrole.yaml").read_text()))
    documents += [
        d for d in yaml.safe_load_all((shipped_dir("manifests") / "base" / "gateway-rbac.yaml").read_text()) if d
    ]
    documents += admission_policies()
    for document in documents:
        kube.apply(document)

    def established() -> bool:
        crd = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{names.CRD_NAME}")
        return any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"].get("conditions", []))

    eventually(established, what="CRD established")


def class_body(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": name}, "spec": spec}


def class_namespaces(kube: Kube, name: str) -> set[str]:
    return {
        n["metadata"]["name"]
        for n in kube.list(NAMESPACE, names.class_selector(name))
        if not n["metadata"].get("deletionTimestamp")
    }


def condition(kube: Kube, name: str, kind: str = "Ready") -> dict[str, Any]:
    body = kube.get(CLASS, name) or {}
    return next((c for c in body.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def wait_ready(kube: Kube, name: str, students: int, timeout: float = 90.0) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body = kube.get(CLASS, name)
        if body is None:
            return None
        status = body.get("status", {})
        ok = (
            status.get("observedGeneration") == body["metadata"]["generation"]
            and status.get("students", {}).get("ready") == students
            and condition(kube, name).get("status") == "True"
        )
        return body if ok else None

    try:
        result: dict[str, Any] = eventually(ready, timeout=timeout, what=f"class {name} Ready with {students} students")
    except AssertionError as error:
        # What the class says of itself is what tells a slow cluster from a stuck operator.
        status = (kube.get(CLASS, name) or {}).get("status") or {}
        raise AssertionError(f"{error}; its status: {status}") from None
    return result


def wait_images_pulled(kube: Kube, name: str, timeout: float = 90.0) -> None:
    """Until the class's pre-pull holds every image on every node it counts: after this, its status
    moves only when something happens to it (for tests that compare a status or count writes)."""

    def pulled() -> bool:
        block = ((kube.get(CLASS, name) or {}).get("status") or {}).get("imagePrePull") or {}
        return bool(block.get("nodes")) and block.get("pulled") == block.get("nodes")

    eventually(pulled, timeout=timeout, what=f"class {name}'s images pulled on every node")


def delete_class(kube: Kube, name: str, timeout: float = 120.0, wait: bool = True) -> None:
    """Deletes the class and (unless told not to) waits until its namespaces are gone, not merely
    terminating. On a real node that wait is about 30 s whatever the class: the namespace controller
    looks again after the pods' grace period, even when they stopped in seconds."""
    kube.delete(CLASS, name)
    if not wait:
        return
    eventually(
        lambda: not kube.list(NAMESPACE, names.class_selector(name)) and kube.get(CLASS, name) is None,
        timeout=timeout,
        what=f"class {name} and its namespaces gone",
    )
