"""`vwclass doctor`: checks the cluster as a teacher needs it, one row per check, with the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from vwclass.cli import checks, errors, manifests, output, session
from vwclass.cli.checks import Check
from vwclass.cli.output import Format, OutputOption

if TYPE_CHECKING:
    from vwclass.kube.api import ApiError, Kube

Obj = dict[str, Any]
_STYLE = {checks.OK: "green", checks.WARNING: "yellow", checks.FAILED: "bold red"}
# What a teacher does, as (verb, group, resource, words for the report).
_TEACHER_VERBS = (
    ("create", "edu.sagecontinuum.org", "virtualwaggleclasses", "create classes"),
    ("create", "", "serviceaccounts/token", "issue student tokens (serviceaccounts/token)"),
    ("get", "", "secrets", "read the students' node credentials (secrets)"),
)


def _unreadable(name: str, error: ApiError) -> Check:
    if error.status == 403:
        return Check(
            name,
            checks.WARNING,
            f"cannot check: permission denied ({error.message})",
            "run doctor as the cluster's admin",
        )
    return Check(name, checks.WARNING, f"cannot check: {error.status} {error.reason}: {error.message}")


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """check(), or a warning when the current user may not read what it needs."""
    from vwclass.kube.api import ApiError

    try:
        return check()
    except ApiError as error:
        return _unreadable(name, error)


def _dns_service(kube: Kube) -> str | None:
    from vwclass.kube.resources import BY_KIND

    service = BY_KIND[("v1", "Service")]
    return next((name for name in ("kube-dns", "coredns") if kube.get(service, name, "kube-system") is not None), None)


def _denied(kube: Kube) -> list[str]:
    denied = []
    for verb, group, resource, words in _TEACHER_VERBS:
        plural, _, subresource = resource.partition("/")
        attributes = {"verb": verb, "group": group, "resource": plural}
        if subresource:
            attributes["subresource"] = subresource
        review = kube.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes},
            },
        )
        if not review.get("status", {}).get("allowed"):
            denied.append(words)
    return denied


def _admission_policy(kube: Kube, shipped: Obj) -> Check:
    """One line per shipped policy or binding: one missing says which, and what students may then do."""
    from vwclass.kube.resources import resource_of

    name = shipped["metadata"]["name"]
    return _guarded(
        f"{shipped['kind']} {name}",
        lambda: checks.admission_policy(kube.get(resource_of(shipped), name), shipped),
    )


def _node_room(kube: Kube, nodes: list[Obj]) -> list[Check]:
    """Each node's free room and the largest class that fits; a warning when pods cannot be read."""
    from vwclass.core import capacity
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import POD

    if not nodes:
        return [Check("room for a class", checks.WARNING, "cannot check: no node could be read")]
    try:
        pods = kube.list(POD, field_selector=capacity.HOLDING_ROOM)
    except ApiError as error:
        return [_unreadable("room for a class", error)]
    return checks.node_room(nodes, pods)


def diagnose(kube: Kube) -> list[Check]:
    """Every check, in the order a teacher would fix them."""
    from vwclass.core import names
    from vwclass.core.schema import crd as shipped_crd
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import BY_KIND

    server = str(kube.api_client.configuration.host)
    try:
        version = kube.request("GET", "/version", attempts=2, timeout=10.0)
    except ApiError as error:
        return [checks.reachable(server, errors.from_api_error(error.status, error.reason, error.message).message)]
    results = [checks.reachable(server), checks.kubernetes_version(version)]
    try:
        nodes = kube.list(BY_KIND[("v1", "Node")])
    except ApiError:
        nodes = []  # only used to recognise MicroK8s; its StorageClass tells too
    storage_classes: list[Obj] = []
    storage_check: Check | None = None
    try:
        storage_classes = kube.list(BY_KIND[("storage.k8s.io/v1", "StorageClass")])
    except ApiError as error:
        storage_check = _unreadable("default StorageClass", error)
    microk8s = checks.is_microk8s(nodes, storage_classes)
    results += [
        _guarded("RBAC", lambda: checks.rbac(session.api_served(kube, "/apis/rbac.authorization.k8s.io/v1"), microk8s)),
        _guarded("cluster DNS", lambda: checks.dns(_dns_service(kube), microk8s)),
        storage_check or checks.storage(storage_classes, microk8s),
        _guarded(
            "VirtualWaggleClass CRD",
            lambda: checks.crd(
                kube.get(BY_KIND[("apiextensions.k8s.io/v1", "CustomResourceDefinition")], names.CRD_NAME),
                shipped_crd(),
            ),
        ),
        _guarded(
            "student role",
            lambda: checks.student_role(
                kube.get(BY_KIND[("rbac.authorization.k8s.io/v1", "ClusterRole")], names.STUDENT_ROLE),
                manifests.shipped("ClusterRole", names.STUDENT_ROLE),
            ),
        ),
        *(_admission_policy(kube, shipped) for shipped in manifests.admission_policies()),
        _guarded(
            "operator",
            lambda: checks.operator(
                kube.get(
                    BY_KIND[("apps/v1", "Deployment")], manifests.OPERATOR_DEPLOYMENT, manifests.OPERATOR_NAMESPACE
                )
            ),
        ),
        _guarded("your permissions", lambda: checks.access(_denied(kube))),
    ]
    results += _node_room(kube, nodes)
    if microk8s:
        results.append(checks.microk8s_note(results))
    return results


def doctor(ctx: typer.Context, output_format: OutputOption = Format.table) -> None:
    """Check the cluster for vwclass, with the fix of each problem.

    Reachable, Kubernetes version, CRD, student role, the admission policies of student namespaces,
    operator, default StorageClass, DNS, RBAC, your permissions,
    and on MicroK8s the addons to enable. Exits 1 when a check failed, 3 when the cluster is unreachable.
    """
    kube = session.connect(ctx)
    results = diagnose(kube)

    def as_table() -> Any:
        from rich.text import Text

        rows = [(Text(c.state, style=_STYLE[c.state]), c.name, c.detail, c.fix or "-") for c in results]
        return output.table(("STATE", "CHECK", "DETAIL", "FIX"), rows, wrap=2)

    output.emit([c.as_dict() for c in results], output_format, as_table)
    code = checks.exit_code(results)
    failed = [c.name for c in results if c.state == checks.FAILED]
    if failed:
        output.note(f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed: {', '.join(failed)}")
    raise typer.Exit(int(code))
