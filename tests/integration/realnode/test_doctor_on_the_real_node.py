"""`vwclass doctor` on the real node: it reads the kubelet's PID limit through the API server and tells,
by a real probe between two pods, that kube-router enforces NetworkPolicies; the probe leaves nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.cli import Cli
from tests.support.kube import eventually
from vwclass.cli import netprobe
from vwclass.core.presets import POD_PIDS_LIMIT
from vwclass.kube.api import Kube
from vwclass.kube.resources import NAMESPACE
from vwclass.testenv import realnode
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode


def _doctor(cluster: Cluster, *args: str) -> dict[str, dict[str, Any]]:
    result = Cli(cluster.kubeconfig)("doctor", "-o", "json", *args)
    assert "Traceback" not in result.output
    return {check["name"]: check for check in json.loads(result.stdout)}


def _probe_namespaces(teacher: Kube) -> list[str]:
    names = [ns["metadata"]["name"] for ns in teacher.list(NAMESPACE)]
    return [name for name in names if name.startswith(netprobe.PREFIX)]


def _real_node(teacher: Kube) -> str:
    from vwclass.kube.resources import BY_KIND

    nodes = teacher.list(BY_KIND[("v1", "Node")], label_selector=f"{realnode.LABEL}=true")
    assert len(nodes) == 1, nodes
    return str(nodes[0]["metadata"]["name"])


def test_doctor_reads_the_pid_limit_and_probes_network_policies_on_the_real_node(
    cluster: Cluster, teacher: Kube
) -> None:
    node = _real_node(teacher)
    started = time.monotonic()
    checks = _doctor(cluster)
    print(f"\nvwclass doctor with its NetworkPolicy probe on the real node: {time.monotonic() - started:.1f}s")
    pids = checks["pod PIDs limit"]
    assert pids["state"] == "ok", pids
    assert pids["detail"].startswith(f"podPidsLimit {POD_PIDS_LIMIT} on {node}"), pids
    probe = checks[netprobe.NAME]
    assert (probe["state"], probe["detail"]) == ("ok", f"a deny-all NetworkPolicy blocked a probe pod on {node}")
    storage = checks["default StorageClass"]
    assert storage["state"] == "warning", storage
    assert "claim sizes are not enforced" in storage["detail"], storage
    # The throwaway namespace goes, pods and policy with it.
    eventually(lambda: not _probe_namespaces(teacher), timeout=90, what="the probe's namespace deleted")


def test_a_probe_image_the_node_cannot_pull_reads_as_could_not_tell_and_leaves_nothing(
    cluster: Cluster, teacher: Kube
) -> None:
    checks = _doctor(cluster, "--probe-image", "registry.invalid/no-such-image:1")
    probe = checks[netprobe.NAME]
    assert probe["state"] == "warning", probe
    assert probe["detail"].startswith("could not tell: the probe's pod did not run on "), probe
    assert "ErrImagePull" in probe["detail"] or "ImagePullBackOff" in probe["detail"], probe
    assert probe["fix"].startswith("vwclass doctor --probe-image IMAGE")
    eventually(lambda: not _probe_namespaces(teacher), timeout=90, what="the probe's namespace deleted")
    assert netprobe.NAME not in _doctor(cluster, "--no-network-probe")
