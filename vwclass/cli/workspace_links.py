"""Where a class's gateway is, as students' browsers reach it, and each student's login link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vwclass.cli.errors import Exit, abort

if TYPE_CHECKING:
    from vwclass.core.spec import ClassSpec
    from vwclass.kube.api import Kube


def login_link(base: str, student: str, token: str) -> str:
    """The link that logs a student into their workspace: the gateway checks the token and sets a
    cookie for /<student>/ that lasts as long as the token does."""
    return f"{base.rstrip('/')}/_login/{quote(student)}?token={quote(token, safe='')}"


def _node_address(node: dict[str, Any]) -> str | None:
    addresses = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
    return addresses.get("ExternalIP") or addresses.get("InternalIP")


def _nodes_by_preference(kube: Kube, cls: ClassSpec) -> list[dict[str, Any]]:
    """The cluster's nodes, the gateway's own first, then those the class's placement selects: every
    node serves a node port, but one the class may not use may be a virtual or an unreachable one."""
    from vwclass.core import names
    from vwclass.kube.resources import NODE, POD

    selector = f"{names.CLASS_LABEL}={cls.name},app.kubernetes.io/name={names.GATEWAY_COMPONENT}"
    running = {p["spec"].get("nodeName") for p in kube.list(POD, selector, names.OPERATOR_NAMESPACE)}
    wanted = cls.placement.node_selector

    def rank(node: dict[str, Any]) -> int:
        labels = node["metadata"].get("labels") or {}
        if node["metadata"]["name"] in running:
            return 0
        return 1 if all(labels.get(k) == v for k, v in wanted.items()) else 2

    return sorted(kube.list(NODE), key=rank)


def gateway_base(kube: Kube, cls: ClassSpec, override: str | None) -> str:
    """The gateway's address: --gateway-url, else spec.gateway.url, else a node's address and the
    Service's node port (a NodePort Service), else the load balancer's (a LoadBalancer one)."""
    if override:
        if not override.startswith(("http://", "https://")):
            abort(f"--gateway-url {override}: must start with http:// or https://", Exit.BAD_INPUT)
        return override
    if cls.gateway.url:
        return cls.gateway.url
    from vwclass.core import names
    from vwclass.kube.resources import BY_KIND

    service = kube.get(BY_KIND[("v1", "Service")], names.gateway_name(cls.name), names.OPERATOR_NAMESPACE)
    if service is None:
        abort(
            f"class {cls.name} has no gateway yet (Service {names.gateway_name(cls.name)} in "
            f"{names.OPERATOR_NAMESPACE}): wait with `vwclass status {cls.name}`, or pass --gateway-url",
            Exit.FAILED,
        )
    spec = service.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if ingress.get("ip") or ingress.get("hostname"):
                return f"http://{ingress.get('ip') or ingress.get('hostname')}"
    node_port = next((p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort")), None)
    if node_port:
        for node in _nodes_by_preference(kube, cls):
            address = _node_address(node)
            if address:
                host = f"[{address}]" if ":" in address else address
                return f"http://{host}:{node_port}"
    abort(
        f"class {cls.name}: no address of its gateway to put in links (Service type {spec.get('type')}): "
        "set spec.gateway.url or pass --gateway-url",
        Exit.FAILED,
    )
