"""`vwclass doctor`'s NetworkPolicy probe, its pure parts: the objects it creates and its verdict.

In a throwaway namespace, on one real node, a server pod listens on a port. A first client pod must
reach it (the control: pod-to-pod traffic works). Then a deny-all-ingress NetworkPolicy is applied and
a second client tries again: the CNI enforces NetworkPolicies when that client's connections start to
fail within BLOCK_TIMEOUT. Each client tells by its exit code, read from its pod's phase, so the probe
needs no log access.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from vwclass.cli.checks import FAILED, OK, WARNING, Check

Obj = dict[str, Any]
NAME = "NetworkPolicy enforcement"
PREFIX = "vwclass-doctor-"
SERVER, REACH, BLOCKED, POLICY = "server", "client-reaches", "client-is-blocked", "deny-all-ingress"
PORT = 8080
START_TIMEOUT = 60.0  # for a probe pod to be running
CONNECT_TIMEOUT = 20.0  # for the control client to connect
BLOCK_TIMEOUT = 20.0  # for the policy to block the second client (CNIs apply it within seconds)
SERVE = f"""
import socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("", {PORT}))
server.listen(16)
while True:
    server.accept()[0].close()
"""
# argv: the server's IP, then "reach" (exit 0 once connected) or "blocked" (exit 0 once refused or timed out).
CONNECT = f"""
import socket, sys, time
want_blocked = sys.argv[2] == "blocked"
deadline = time.monotonic() + {max(CONNECT_TIMEOUT, BLOCK_TIMEOUT)}
while time.monotonic() < deadline:
    try:
        socket.create_connection((sys.argv[1], {PORT}), timeout=1).close()
        if not want_blocked:
            sys.exit(0)
    except OSError:
        if want_blocked:
            sys.exit(0)
    time.sleep(1)
sys.exit(1)
"""
CNI_FIX = "install a CNI that enforces NetworkPolicies: Calico (MicroK8s' default since 1.19), Cilium or kube-router"
PROBE_OPTIONS = "vwclass doctor --probe-image IMAGE (one with python3 that the nodes have or can pull)"


def namespace_name() -> str:
    return PREFIX + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def namespace(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/part-of": "vwclass", "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def _tolerations(node: Obj) -> list[Obj]:
    """Tolerations of each of the node's taints: the probe must run where students' nodes run."""
    return [
        {key: taint[key] for key in ("key", "value", "effect") if taint.get(key)} | {"operator": "Equal"}
        if taint.get("value")
        else {key: taint[key] for key in ("key", "effect") if taint.get(key)} | {"operator": "Exists"}
        for taint in node.get("spec", {}).get("taints") or []
    ]


def _pod(namespace: str, name: str, image: str, node: Obj, args: list[str]) -> Obj:
    """A small pod that Pod Security `restricted` admits, bound to the node, gone at once when deleted."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "vwclass"}},
        "spec": {
            "nodeName": node["metadata"]["name"],
            "tolerations": _tolerations(node),
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-c", *args],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "1Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
                    },
                }
            ],
        },
    }


def server_pod(namespace: str, image: str, node: Obj) -> Obj:
    return _pod(namespace, SERVER, image, node, [SERVE])


def client_pod(namespace: str, image: str, node: Obj, server_ip: str, blocked: bool) -> Obj:
    return _pod(
        namespace, BLOCKED if blocked else REACH, image, node, [CONNECT, server_ip, "blocked" if blocked else "reach"]
    )


def deny_all_ingress(namespace: str) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def running(pod: Obj | None) -> bool:
    status = (pod or {}).get("status", {})
    return status.get("phase") == "Running" and bool(status.get("podIP"))


def finished(pod: Obj | None) -> bool | None:
    """True when the pod's container exited 0, False when it exited otherwise, None while it has not
    (or never ran: the kubelet refused it)."""
    status = (pod or {}).get("status", {})
    if status.get("reason"):
        return None
    return {"Succeeded": True, "Failed": False}.get(status.get("phase") or "")


# Waiting reasons a probe pod does not get past by waiting longer.
HOPELESS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError"}
)


def stuck(pod: Obj | None) -> bool:
    """The pod will not start: gone, refused by the kubelet, or its container cannot be created."""
    if pod is None:
        return True
    status = pod.get("status", {})
    waiting = [c.get("state", {}).get("waiting") or {} for c in status.get("containerStatuses") or []]
    return status.get("phase") == "Failed" or any(w.get("reason") in HOPELESS for w in waiting)


def not_starting(pod: Obj | None) -> str:
    """Why a probe pod is not running, in the kubelet's or the scheduler's words."""
    if pod is None:
        return "the pod is gone"
    status = pod.get("status", {})
    for container in status.get("containerStatuses") or []:
        for state in ("waiting", "terminated"):
            found = container.get("state", {}).get(state)
            if found and found.get("reason"):
                message = found.get("message", "")
                return f"{found['reason']}: {message}" if message else str(found["reason"])
    if status.get("reason"):  # the kubelet refused the pod (OutOfpods, NodeAffinity, ...)
        return f"{status['reason']}: {status.get('message', '')}".rstrip(": ")
    return str(status.get("phase") or "Pending")


def could_not_tell(why: str, fix: str = PROBE_OPTIONS) -> Check:
    return Check(NAME, WARNING, f"could not tell: {why}", fix)


def verdict(node: str, control_connected: bool, blocked: bool) -> Check:
    """What the probe saw on node: whether the control reached the server, then whether the policy blocked."""
    if not control_connected:
        return could_not_tell(
            f"on {node}, a pod could not reach another's IP within {CONNECT_TIMEOUT:.0f} s "
            "even without a NetworkPolicy (pod-to-pod traffic is broken or already denied)",
            "check the CNI: pods must reach each other's pod IPs",
        )
    if blocked:
        return Check(NAME, OK, f"a deny-all NetworkPolicy blocked a probe pod on {node}")
    return Check(
        NAME,
        FAILED,
        f"NOT enforced: on {node}, a probe pod still reached another {BLOCK_TIMEOUT:.0f} s after a deny-all "
        "NetworkPolicy; students can reach each other's nodes",
        CNI_FIX,
    )
