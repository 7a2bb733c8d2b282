"""`vwclass install` and `vwclass uninstall`: the CRD, operator, student role and policies, from the shipped manifests.

What is applied is exactly vwclass.cli.manifests.install_documents(), the documents
`kubectl apply -k manifests/base` would apply.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import output, session, waiting
from vwclass.cli.errors import CliError, Exit, abort
from vwclass.cli.manifests import OPERATOR_NAMESPACE, install_documents

if TYPE_CHECKING:
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")]


def _label(document: Obj) -> str:
    meta = document["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{document['kind']} {where}{meta['name']}"


def _crd_established(kube: Kube) -> bool:
    from vwclass.core import names
    from vwclass.kube.resources import BY_KIND

    crd = kube.get(BY_KIND[("apiextensions.k8s.io/v1", "CustomResourceDefinition")], names.CRD_NAME)
    conditions = (crd or {}).get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install(
    ctx: typer.Context,
    dry_run: DryRunOption = False,
    operator_image: Annotated[
        str | None,
        typer.Option(
            "--operator-image",
            metavar="REF",
            help="Run the operator from this image (e.g. a local registry's copy).",
            show_default=False,
        ),
    ] = None,
    with_operator: Annotated[
        bool,
        typer.Option(
            "--with-operator/--without-operator",
            help="Deploy the operator in the cluster (without: run `vwclass operator` yourself).",
        ),
    ] = True,
) -> None:
    """Install or upgrade vwclass on the cluster.

    Applies (server-side) the CRD, the vwclass-system namespace, the operator and its RBAC, the
    student role and the admission policies of student namespaces, as `kubectl apply -k manifests/base` would.
    """
    documents = install_documents(operator_image, with_operator)
    if dry_run:
        sys.stdout.write(output.dump_yaml(documents))
        return
    kube = session.connect(ctx)
    for document in documents:
        kube.apply(document)
        print(f"applied {_label(document)}")
        if document["kind"] == "CustomResourceDefinition":
            # Everything after (and every `vwclass create`) needs the API served.
            deadline = time.monotonic() + 60
            while not _crd_established(kube):
                if time.monotonic() > deadline:
                    abort("the CRD was applied but is not Established after 60s; see `vwclass doctor`", Exit.FAILED)
                time.sleep(0.5)
    where = (
        "in-cluster (Deployment vwclass-system/vwclass-operator)"
        if with_operator
        else ("not deployed: run `vwclass operator`")
    )
    print(f"vwclass installed; operator {where}. Check it with `vwclass doctor`.")


def uninstall(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete every class, and with them every student namespace and its data."),
    ] = False,
    dry_run: DryRunOption = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until everything is gone.")] = True,
    timeout: waiting.TimeoutOption = "5m",
) -> None:
    """Remove vwclass from the cluster.

    Refuses while classes exist, unless --force (which deletes them and all their student namespaces).
    """
    from vwclass.cli import durations

    limit = durations.parse(timeout, "--timeout")
    documents = list(reversed(install_documents()))  # the operator first, the CRD last
    kube = session.connect(ctx)
    from vwclass.core import names
    from vwclass.kube.resources import CLASS, NAMESPACE, resource_of

    classes = [c["metadata"]["name"] for c in session.list_classes(kube)] if session.api_installed(kube) else []
    if classes and not force:
        abort(
            f"{len(classes)} class{'es' if len(classes) != 1 else ''} still exist{'s' if len(classes) == 1 else ''} "
            f"({', '.join(classes)}): delete them with `vwclass delete`, or pass --force to delete them and every "
            "student namespace with them",
            Exit.FAILED,
        )
    if dry_run:
        for name in classes:
            print(f"would delete VirtualWaggleClass {name} (and its student namespaces)")
        for document in documents:
            print(f"would delete {_label(document)}")
        return
    for name in classes:
        kube.delete(CLASS, name)
        print(f"deleted VirtualWaggleClass {name}")
    for document in documents:
        meta = document["metadata"]
        deleted = kube.delete(resource_of(document), meta["name"], meta.get("namespace"))
        print(f"{'deleted' if deleted else 'absent'} {_label(document)}")
    if not wait:
        return
    crd_resource = resource_of({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"})

    def remaining() -> int:
        left = int(kube.get(crd_resource, names.CRD_NAME) is not None)
        left += int(kube.get(NAMESPACE, OPERATOR_NAMESPACE) is not None)
        left += len(kube.list(NAMESPACE, f"{names.MANAGED_BY}={names.MANAGED_BY_VALUE},{names.CLASS_LABEL}"))
        return left

    try:
        waiting.wait_gone("vwclass: removed", remaining, remaining(), limit)
    except CliError as error:
        raise CliError(f"{error.message}; removal continues in the background", Exit.FAILED) from None
    print("vwclass uninstalled")
