"""`vwclass doctor`'s node checks and NetworkPolicy probe, their pure parts: PID limits read from each
kubelet's /configz, the probe's node and pods, and its verdict."""

from __future__ import annotations

from typing import Any

from vwclass.cli import checks, netprobe, node_checks
from vwclass.core.presets import POD_PIDS_LIMIT

Obj = dict[str, Any]
SIMULATED = {"kwok.x-k8s.io/node": "fake"}


def node(
    name: str, simulated: bool = False, ready: bool = True, unschedulable: bool = False, taints: Any = None
) -> Obj:
    return {
        "metadata": {"name": name, "annotations": SIMULATED if simulated else {}},
        "spec": {"unschedulable": unschedulable, "taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def configz(limit: int | None) -> Obj:
    return {"kubeletconfig": {} if limit is None else {"podPidsLimit": limit}}


def test_a_node_without_a_pid_limit_warns_with_the_fix_for_its_platform() -> None:
    nodes = [node("a"), node("b"), node("kwok-1", simulated=True)]
    check = node_checks.pod_pids_limit(nodes, {"a": configz(1024), "b": configz(-1)}, microk8s=True)
    assert check.state == checks.WARNING
    assert check.detail == (
        "1 of 2 nodes has no podPidsLimit (b): one fork bomb in a student's pod can exhaust the node's PIDs"
        " (1 simulated kwok node left out)"
    )
    assert check.fix == (
        f"add --pod-max-pids={POD_PIDS_LIMIT} to /var/snap/microk8s/current/args/kubelet, "
        "then `sudo snap restart microk8s` (on each node)"
    )
    unset = node_checks.pod_pids_limit([node("a")], {"a": configz(None)}, microk8s=False)
    assert (unset.state, unset.fix) == (
        checks.WARNING,
        f"set podPidsLimit: {POD_PIDS_LIMIT} in each node's KubeletConfiguration and restart the kubelet",
    )


def test_limits_set_everywhere_are_ok_and_kwok_nodes_are_not_asked() -> None:
    assert node_checks.pod_pids_limit([node("a")], {"a": configz(1024)}, False) == checks.Check(
        node_checks.PIDS, checks.OK, "podPidsLimit 1024 on a"
    )
    two = node_checks.pod_pids_limit([node("a"), node("b")], {"a": configz(1024), "b": configz(4096)}, False)
    assert (two.state, two.detail) == (checks.OK, "podPidsLimit 1024 on a, 4096 on b")
    only_kwok = node_checks.pod_pids_limit([node("k", simulated=True)] * 3, {}, False)
    assert (only_kwok.state, only_kwok.detail) == (checks.OK, "no real node to check (3 simulated kwok nodes left out)")


def test_an_unreadable_kubelet_is_said_not_taken_for_a_limit() -> None:
    check = node_checks.pod_pids_limit([node("a"), node("b")], {"a": configz(1024), "b": "403 Forbidden: no"}, False)
    assert check.state == checks.WARNING
    assert check.detail == "could not read b's kubelet configuration: 403 Forbidden: no; podPidsLimit set on a"
    assert "nodes/proxy" in check.fix


def test_the_probe_runs_on_a_real_ready_schedulable_node() -> None:
    nodes = [node("z"), node("kwok", simulated=True), node("a", ready=False), node("b", unschedulable=True)]
    chosen = node_checks.probe_node(nodes)
    assert chosen is not None
    assert chosen["metadata"]["name"] == "z"
    assert node_checks.probe_node([node("k", simulated=True)]) is None
    assert node_checks.no_probe_node([node("k", simulated=True)]) == (
        "no real node to run it on (1 simulated kwok node left out)"
    )
    assert node_checks.no_probe_node([node("a", ready=False)]) == "no real node is Ready and schedulable"


def test_the_probe_pods_are_bound_to_the_node_tolerate_its_taints_and_pass_pod_security_restricted() -> None:
    taints = [{"key": "vwclass/real", "value": "true", "effect": "NoSchedule"}, {"key": "x", "effect": "NoExecute"}]
    real = node("real", taints=taints)
    pod = netprobe.client_pod("ns", "img:1", real, "10.0.0.7", blocked=True)
    spec = pod["spec"]
    assert spec["nodeName"] == "real"
    assert spec["tolerations"] == [
        {"key": "vwclass/real", "value": "true", "effect": "NoSchedule", "operator": "Equal"},
        {"key": "x", "effect": "NoExecute", "operator": "Exists"},
    ]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["command"][-2:] == ["10.0.0.7", "blocked"]
    assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    namespace = netprobe.namespace(netprobe.namespace_name())
    assert namespace["metadata"]["name"].startswith("vwclass-doctor-")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_client_script_exits_by_what_it_wanted(tmp_path: Any) -> None:
    """The client's own code, run here against a closed port: 'reach' gives up (1), 'blocked' succeeds (0)."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    script = netprobe.CONNECT.replace(str(netprobe.PORT), str(closed)).replace(
        str(max(netprobe.CONNECT_TIMEOUT, netprobe.BLOCK_TIMEOUT)), "2"
    )
    run = [sys.executable, "-c", script, "127.0.0.1"]
    assert subprocess.run([*run, "blocked"], timeout=30).returncode == 0
    assert subprocess.run([*run, "reach"], timeout=30).returncode == 1


def test_the_verdict_says_what_the_probe_saw() -> None:
    assert netprobe.verdict("n", control_connected=True, blocked=True).state == checks.OK
    failed = netprobe.verdict("n", control_connected=True, blocked=False)
    assert (failed.state, failed.fix) == (checks.FAILED, netprobe.CNI_FIX)
    assert "students can reach each other's nodes" in failed.detail
    unsure = netprobe.verdict("n", control_connected=False, blocked=False)
    assert unsure.state == checks.WARNING
    assert unsure.detail.startswith("could not tell: ")


def test_why_a_probe_pod_did_not_start_is_in_the_kubelets_words() -> None:
    waiting = {
        "status": {
            "phase": "Pending",
            "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}],
        }
    }
    assert netprobe.not_starting(waiting) == "ErrImagePull: not found"
    assert netprobe.not_starting({"status": {"phase": "Failed", "reason": "OutOfpods", "message": "full"}}) == (
        "OutOfpods: full"
    )
    assert netprobe.not_starting(None) == "the pod is gone"
    assert netprobe.finished({"status": {"phase": "Succeeded"}}) is True
    assert netprobe.finished({"status": {"phase": "Running"}}) is None
    refused = {"status": {"phase": "Failed", "reason": "OutOfpods"}}
    assert netprobe.finished(refused) is None
    assert netprobe.stuck(refused)
    assert netprobe.stuck(waiting)
    assert not netprobe.stuck({"status": {"phase": "Pending"}})


def test_a_hostpath_default_storage_class_warns_that_claim_sizes_are_not_enforced() -> None:
    hostpath = {
        "metadata": {
            "name": "microk8s-hostpath",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "microk8s.io/hostpath",
    }
    check = checks.storage([hostpath], microk8s=True)
    assert check.state == checks.WARNING
    assert check.detail.startswith("microk8s-hostpath (microk8s.io/hostpath): claim sizes are not enforced")
