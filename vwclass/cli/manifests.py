"""The install manifests vwclass ships: manifests/base/kustomization.yaml, read without a kustomize binary.

The documents are those of its `resources:` list (directories by their own kustomization.yaml), so
`kubectl apply -k manifests/base` and `vwclass install` always apply the same objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vwclass.core import names

Obj = dict[str, Any]
OPERATOR_NAMESPACE = names.OPERATOR_NAMESPACE
OPERATOR_DEPLOYMENT = "vwclass-operator"


def kustomization_documents(directory: Path) -> list[Obj]:
    """The objects a kustomization's `resources:` list names, in its order (no patches or generators)."""
    import yaml

    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
    documents: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            documents += kustomization_documents(path)
        else:
            documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def install_documents(operator_image: str | None = None, with_operator: bool = True) -> list[Obj]:
    from vwclass.shipped import shipped_dir

    documents = kustomization_documents(shipped_dir("manifests") / "base")
    if not with_operator:
        documents = [d for d in documents if not _is_operator_deployment(d)]
    if operator_image:
        for document in documents:
            if _is_operator_deployment(document):
                for container in document["spec"]["template"]["spec"]["containers"]:
                    container["image"] = operator_image
    return documents


def _is_operator_deployment(document: Obj) -> bool:
    return document.get("kind") == "Deployment" and document["metadata"].get("name") == OPERATOR_DEPLOYMENT


def shipped(kind: str, name: str) -> Obj:
    """One shipped document by kind and name (e.g. the student ClusterRole, to compare with the cluster's)."""
    return next(d for d in install_documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def admission_policies() -> list[Obj]:
    """The shipped ValidatingAdmissionPolicies and their bindings, in the kustomization's order."""
    kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    return [d for d in install_documents() if d["kind"] in kinds]
