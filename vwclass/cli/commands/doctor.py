"""`vwclass doctor`: checks the cluster as a teacher needs it, one row per check, with the fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import checks, errors, manifests, netprobe, node_checks, output, session
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


def _kubelet_configs(kube: Kube, nodes: list[Obj]) -> dict[str, Obj | str]:
    """Each real node's kubelet configuration (through the API server's node proxy), or why not."""
    from vwclass.kube.api import ApiError

    configs: dict[str, Obj | str] = {}
    for name in node_checks.real_nodes(nodes):
        try:
            configs[name] = kube.request("GET", f"/api/v1/nodes/{name}/proxy/configz", attempts=2, timeout=10.0)
        except ApiError as error:
            configs[name] = f"{error.status} {error.reason}: {error.message}"
    return configs


def _wait_pod(kube: Kube, namespace: str, name: str, done: Callable[[Obj | None], bool], timeout: float) -> Obj | None:
    from vwclass.kube.resources import POD

    deadline = time.monotonic() + timeout
    while True:
        pod = kube.get(POD, name, namespace)
        if done(pod) or time.monotonic() > deadline:
            return pod
        time.sleep(1.0)


def _probe_in(kube: Kube, namespace: str, node: Obj, image: str) -> Check:
    """The probe's steps in its namespace: server up, the control client reaches it, the policy blocks a second."""
    from vwclass.kube.resources import POD

    where = node["metadata"]["name"]
    kube.create(netprobe.server_pod(namespace, image, node))
    server = _wait_pod(
        kube,
        namespace,
        netprobe.SERVER,
        lambda p: netprobe.running(p) or netprobe.stuck(p),
        netprobe.START_TIMEOUT,
    )
    if not netprobe.running(server):
        return netprobe.could_not_tell(f"the probe's pod did not run on {where} ({netprobe.not_starting(server)})")
    server_ip = server["status"]["podIP"]  # type: ignore[index]  # running() saw it
    outcomes = []
    for blocked, name, wait in (
        (False, netprobe.REACH, netprobe.CONNECT_TIMEOUT),
        (True, netprobe.BLOCKED, netprobe.BLOCK_TIMEOUT),
    ):
        if blocked:
            kube.create(netprobe.deny_all_ingress(namespace))
        kube.create(netprobe.client_pod(namespace, image, node, server_ip, blocked=blocked))
        client = _wait_pod(
            kube,
            namespace,
            name,
            lambda p: netprobe.finished(p) is not None or netprobe.stuck(p),
            netprobe.START_TIMEOUT + wait,
        )
        outcome = netprobe.finished(client)
        if outcome is None:
            return netprobe.could_not_tell(
                f"the probe's client did not finish on {where} ({netprobe.not_starting(client)})"
            )
        outcomes.append(outcome)
        if not outcome and not blocked:
            return netprobe.verdict(where, control_connected=False, blocked=False)
    if not netprobe.running(kube.get(POD, netprobe.SERVER, namespace)):
        return netprobe.could_not_tell(f"the probe's server pod on {where} stopped while it was probed")
    return netprobe.verdict(where, control_connected=True, blocked=outcomes[1])


def _network_probe(kube: Kube, nodes: list[Obj], image: str) -> Check:
    """Whether NetworkPolicies are enforced, by a real probe in a throwaway namespace, always deleted."""
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import NAMESPACE

    node = node_checks.probe_node(nodes)
    if node is None:
        return netprobe.could_not_tell(node_checks.no_probe_node(nodes), fix="")
    namespace = netprobe.namespace_name()
    kube.create(netprobe.namespace(namespace))
    try:
        return _probe_in(kube, namespace, node, image)
    finally:
        try:
            kube.delete(NAMESPACE, namespace)
        except ApiError:
            output.note(f"could not delete the probe's namespace {namespace}: kubectl delete namespace {namespace}")


def diagnose(kube: Kube, probe_image: str | None = None) -> list[Check]:
    """Every check, in the order a teacher would fix them; probe_image: the NetworkPolicy probe's, None skips it."""
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
    results.append(
        _guarded(node_checks.PIDS, lambda: node_checks.pod_pids_limit(nodes, _kubelet_configs(kube, nodes), microk8s))
    )
    if probe_image is not None:
        results.append(_guarded(netprobe.NAME, lambda: _network_probe(kube, nodes, probe_image)))
    results += _node_room(kube, nodes)
    if microk8s:
        results.append(checks.microk8s_note(results))
    return results


def _default_probe_image() -> str:
    """The class default images.dataEndpoint (the vwclass image, which has python3), from the CRD's schema."""
    from vwclass.core import schema

    images = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    return str(images["dataEndpoint"]["default"])


def doctor(
    ctx: typer.Context,
    output_format: OutputOption = Format.table,
    network_probe: Annotated[
        bool,
        typer.Option(
            "--network-probe/--no-network-probe",
            help="Tell whether NetworkPolicies are enforced by running two small pods in a throwaway namespace.",
        ),
    ] = True,
    probe_image: Annotated[
        str | None,
        typer.Option(
            "--probe-image",
            metavar="IMAGE",
            help="The probe pods' image (needs python3). Default: the class's data endpoint image.",
        ),
    ] = None,
) -> None:
    """Check the cluster for vwclass, with the fix of each problem.

    Reachable, Kubernetes version, CRD, student role, the admission policies of student namespaces,
    operator, default StorageClass (and whether it enforces claim sizes), DNS, RBAC, your permissions,
    each kubelet's PID limit, whether NetworkPolicies are enforced (a real probe, 10-60 s), room for a class,
    and on MicroK8s the addons to enable. Exits 1 when a check failed, 3 when the cluster is unreachable.
    """
    kube = session.connect(ctx)
    results = diagnose(kube, (probe_image or _default_probe_image()) if network_probe else None)

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
