"""`vwclass doctor`'s checks of the nodes themselves, as pure functions: each kubelet's PID limit, and
which node the NetworkPolicy probe runs on.

Nodes kwok simulates have no kubelet to ask and run no container, so both leave them out (and say so).
"""

from __future__ import annotations

from typing import Any

from vwclass.cli.checks import OK, WARNING, Check
from vwclass.core.presets import POD_PIDS_LIMIT

Obj = dict[str, Any]
PIDS = "pod PIDs limit"
# How the test environment and kwok's own examples mark the nodes kwok simulates.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


def is_simulated(node: Obj) -> bool:
    """A kwok node: no kubelet to ask, no container to run."""
    return bool(node.get("metadata", {}).get("annotations", {}).get(KWOK_ANNOTATION) == "fake")


def real_nodes(nodes: list[Obj]) -> list[str]:
    return [n["metadata"]["name"] for n in nodes if not is_simulated(n)]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _left_out(nodes: list[Obj]) -> str:
    simulated = len(nodes) - len(real_nodes(nodes))
    return f" ({_plural(simulated, 'simulated kwok node')} left out)" if simulated else ""


def pids_fix(microk8s: bool) -> str:
    if microk8s:
        return (
            f"add --pod-max-pids={POD_PIDS_LIMIT} to /var/snap/microk8s/current/args/kubelet, "
            "then `sudo snap restart microk8s` (on each node)"
        )
    return f"set podPidsLimit: {POD_PIDS_LIMIT} in each node's KubeletConfiguration and restart the kubelet"


def pod_pids_limit(nodes: list[Obj], configz: dict[str, Obj | str], microk8s: bool) -> Check:
    """Each real node's kubelet podPidsLimit, a warning with the fix where it is unset.

    configz: by node name, the kubelet's /configz answer, or why it could not be read (a node missing
    from it counts as unreadable).
    """
    real = real_nodes(nodes)
    note = _left_out(nodes)
    if not real:
        return Check(PIDS, OK, f"no real node to check{note}")
    limits: dict[str, int] = {}
    unreadable: dict[str, str] = {}
    for node in real:
        answer = configz.get(node, "not asked")
        if isinstance(answer, str):
            unreadable[node] = answer
            continue
        value = answer.get("kubeletconfig", {}).get("podPidsLimit")
        limits[node] = value if isinstance(value, int) else 0  # unset and -1 both mean "no limit"
    could_not = "; ".join(f"could not read {node}'s kubelet configuration: {why}" for node, why in unreadable.items())
    unset = [node for node, limit in limits.items() if limit <= 0]
    if unset:
        detail = (
            f"{len(unset)} of {_plural(len(real), 'node')} {'has' if len(unset) == 1 else 'have'} "
            f"no podPidsLimit ({', '.join(unset)}): one fork bomb in a student's pod can exhaust the node's PIDs"
        )
        return Check(PIDS, WARNING, detail + (f"; {could_not}" if could_not else "") + note, pids_fix(microk8s))
    if unreadable:
        checked = f"; podPidsLimit set on {', '.join(limits)}" if limits else ""
        return Check(PIDS, WARNING, could_not + checked + note, "run doctor as the cluster's admin (nodes/proxy)")
    values = set(limits.values())
    if len(values) == 1:
        return Check(PIDS, OK, f"podPidsLimit {values.pop()} on {'every node' if len(real) > 1 else real[0]}{note}")
    return Check(PIDS, OK, "podPidsLimit " + ", ".join(f"{v} on {n}" for n, v in limits.items()) + note)


def _ready(node: Obj) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def probe_node(nodes: list[Obj]) -> Obj | None:
    """The node the NetworkPolicy probe's pods run on: a real, Ready, schedulable one (the first by name)."""
    usable = [
        n for n in nodes if not is_simulated(n) and _ready(n) and not n.get("spec", {}).get("unschedulable", False)
    ]
    return min(usable, key=lambda n: n["metadata"]["name"], default=None)


def no_probe_node(nodes: list[Obj]) -> str:
    """Why no node could run the probe, for its 'could not tell' line."""
    if not real_nodes(nodes):
        return f"no real node to run it on{_left_out(nodes)}"
    return "no real node is Ready and schedulable"
