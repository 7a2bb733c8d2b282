"""What a student's virtual Waggle node costs on a real node: prints numbers, asserts nothing.

On the local control plane with its real node (kubelet, containerd), the operator embedded:
- for each component mix (default, with the browser workspace; no workspace; no data-sharing
  service): a class of --students on the real node, Ready, then idle for --settle seconds; each student
  node's CPU in millicores (from the kubelet's cumulative CPU usage over --window seconds) and memory
  working set, from the kubelet's /stats/summary read through the API server; and the class gateway's;
- with workspaces: from creating the class to every student's JupyterLab answering through the
  gateway, logged in by the link `vwclass credentials` writes;
- the time from creating a class to Ready, for 1, 2 and 4 students (default mix);
- what each exec probe costs: its command run --probe-runs times in its container, the CPU it used read
  from the container's cgroup (cgroup v1 cpuacct), and that times the probe's rate in millicores.

    flock /tmp/vwclass-realnode.lock .venv/bin/python bench/realnode_capacity_bench.py
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.classes import class_body, delete_class, install
from tests.support.cli import Cli
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS
from vwclass.testenv import images, realnode
from vwclass.testenv.cluster import Cluster

ON_THE_REAL_NODE = {
    "nodeSelector": {realnode.LABEL: "true"},
    "tolerations": [{"key": realnode.LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}
MIXES: dict[str, dict[str, Any]] = {
    "default": {},
    "no workspace": {"components": {"workspace": False}},
    "no data-sharing service": {"components": {"dataSharingService": False}},
}


def wait_ready(kube: Kube, name: str, students: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = kube.get(CLASS, name) or {}
        ready = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True" and body["status"]["students"]["ready"] == students:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"class {name} not Ready after {timeout}s: {(kube.get(CLASS, name) or {}).get('status')}")


def summary(cluster: Cluster) -> dict[str, Any]:
    """The kubelet's stats summary (cAdvisor's figures), through the API server's node proxy."""
    raw = cluster.kubectl("get", "--raw", f"/api/v1/nodes/{realnode.NODE_NAME}/proxy/stats/summary")
    result: dict[str, Any] = json.loads(raw)
    return result


def container_stats(cluster: Cluster, prefix: str) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (namespace, container) of the class: (cumulative CPU in ns, memory working set in bytes).

    Containers, not pods: the pod's own cgroup also counts what `kubectl exec` runs in it.
    """
    stats: dict[tuple[str, str], tuple[int, int]] = {}
    for pod in summary(cluster)["pods"]:
        namespace = pod["podRef"]["namespace"]
        if namespace.startswith(prefix):
            for container in pod.get("containers", []):
                cpu = container.get("cpu", {}).get("usageCoreNanoSeconds", 0)
                memory = container.get("memory", {}).get("workingSetBytes", 0)
                stats[namespace, container["name"]] = (cpu, memory)
    return stats


def idle_cost(cluster: Cluster, name: str, settle: float, window: float) -> dict[str, tuple[float, float]]:
    """Per container name, and "node" for their sum: millicores and MiB of working set, per student."""
    time.sleep(settle)
    before = container_stats(cluster, f"{name}-")
    started = time.monotonic()
    time.sleep(window)
    after = container_stats(cluster, f"{name}-")
    elapsed = time.monotonic() - started
    students = len({namespace for namespace, _ in after})
    costs: dict[str, tuple[float, float]] = {}
    for (namespace, container), (cpu, memory) in after.items():
        used = cpu - before.get((namespace, container), (cpu, 0))[0]
        millicores, mebibytes = costs.get(container, (0.0, 0.0))
        costs[container] = (millicores + used / elapsed / 1e6 / students, mebibytes + memory / 2**20 / students)
    costs["node"] = (sum(c[0] for c in costs.values()), sum(c[1] for c in costs.values()))
    return costs


def gateway_cost(cluster: Cluster, name: str, window: float) -> tuple[float, float]:
    """The class gateway's pod (nginx and its check), idle: millicores and MiB of working set."""

    def read() -> tuple[int, int]:
        pods = [p for p in summary(cluster)["pods"] if p["podRef"]["name"].startswith(f"gateway-{name}-")]
        containers = [c for p in pods for c in p.get("containers", [])]
        cpu = sum(c.get("cpu", {}).get("usageCoreNanoSeconds", 0) for c in containers)
        return cpu, sum(c.get("memory", {}).get("workingSetBytes", 0) for c in containers)

    before, started = read(), time.monotonic()
    time.sleep(window)
    after = read()
    return (after[0] - before[0]) / (time.monotonic() - started) / 1e6, after[1] / 2**20


def workspaces_open(cluster: Cluster, name: str, created: float, timeout: float = 600) -> list[float]:
    """Seconds from the class's creation until each student's JupyterLab answered through the gateway,
    logged in by their link (`vwclass credentials`)."""
    out = Path(tempfile.mkdtemp()) / "handout"
    while time.monotonic() - created < timeout:
        if Cli(cluster.kubeconfig)("credentials", name, "--out", str(out), "--duration", "1h").exit_code == 0:
            break
        time.sleep(1)
    opened: list[float] = []
    for link_file in sorted(out.glob("*.link")):
        link = link_file.read_text().strip()
        student = link_file.stem
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = link.split("/_login/", 1)[0]
        while True:
            try:
                browser.open(link, timeout=10).read()
                with browser.open(f"{base}/{student}/lab", timeout=10) as page:
                    if page.status == 200 and b"JupyterLab" in page.read():
                        break
            except OSError:
                pass
            if time.monotonic() - created > timeout:
                raise SystemExit(f"{student}'s workspace did not open in {timeout:.0f}s")
            time.sleep(0.5)
        opened.append(time.monotonic() - created)
    return opened


def _cgroup_usage(container_id: str) -> int:
    """The container's CPU so far (ns), from its cgroup v1 cpuacct controller."""
    for root in (Path("/sys/fs/cgroup/cpu,cpuacct"), Path("/sys/fs/cgroup/cpuacct")):
        for found in root.rglob(f"*{container_id}*/cpuacct.usage"):
            return int(found.read_text())
    raise SystemExit(f"no cgroup for container {container_id[:12]} (cgroup v1 expected)")


def probe_costs(cluster: Cluster, namespace: str, runs: int) -> list[tuple[str, str, float, float]]:
    """Each exec probe of the node's pods: (container, probe, CPU-ms per run, millicores at its period)."""
    rows = []
    kubectl = [str(Path(str(cluster.state()["bin"])) / "kubectl"), "--kubeconfig", str(cluster.kubeconfig)]
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json"))["items"]
    for pod in pods:
        ids = {
            s["name"]: s["containerID"].split("://")[-1]
            for s in pod["status"].get("containerStatuses", []) + pod["status"].get("initContainerStatuses", [])
            if s.get("containerID")
        }
        for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(kind) or {}
                if "exec" not in probe or container["name"] not in ids:
                    continue
                command = probe["exec"]["command"]
                before = _cgroup_usage(ids[container["name"]])
                for _ in range(runs):
                    subprocess.run(
                        [
                            *kubectl,
                            "exec",
                            "-n",
                            namespace,
                            pod["metadata"]["name"],
                            "-c",
                            container["name"],
                            "--",
                            *command,
                        ],
                        capture_output=True,
                        check=False,
                    )
                per_run_ms = (_cgroup_usage(ids[container["name"]]) - before) / runs / 1e6
                period = probe.get("periodSeconds", 10)
                # A startup probe stops once it passes: it costs nothing at rest.
                millicores = 0.0 if kind == "startupProbe" else per_run_ms / period
                rows.append((container["name"], f"{kind} {' '.join(command)[:60]}", per_run_ms, millicores))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2, help="students per class for the idle costs")
    parser.add_argument("--mixes", nargs="*", default=list(MIXES), choices=list(MIXES))
    parser.add_argument("--sizes", nargs="*", type=int, default=[1, 2, 4], help="class sizes for time to Ready")
    parser.add_argument("--settle", type=float, default=60.0, help="idle seconds before measuring")
    parser.add_argument("--window", type=float, default=60.0, help="seconds CPU is averaged over")
    parser.add_argument("--probe-runs", type=int, default=5)
    args = parser.parse_args()

    cluster = Cluster(f"bench-realnode-{os.getpid()}")
    cluster.up(real_node=True)
    try:
        node = realnode.RealNode(cluster)
        for archive in images.class_images():
            node.import_image(archive)
        kube = connect(str(cluster.kubeconfig))
        install(kube)
        with EmbeddedOperator(str(cluster.kubeconfig)) as operator:
            run(cluster, operator.kube, args)
    finally:
        cluster.down()


def run(cluster: Cluster, kube: Kube, args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    print(f"real node: {cores} cores, kubelet {realnode.NODE_NAME}; {args.students} students per mix")
    print(f"{'mix':<26}{'Ready (s)':>10}{'CPU (m) / student':>20}{'memory (MiB) / student':>24}")
    costs: dict[str, tuple[float, float]] = {}
    for index, mix in enumerate(args.mixes):
        name = f"mix{index}"
        created = time.monotonic()
        kube.apply(class_body(name, students=args.students, placement=ON_THE_REAL_NODE, **MIXES[mix]))
        ready = wait_ready(kube, name, args.students)
        opened = workspaces_open(cluster, name, created) if mix == "default" else []
        containers = idle_cost(cluster, name, args.settle, args.window)
        millicores, mebibytes = costs[mix] = containers.pop("node")
        print(f"{mix:<26}{ready:>10.1f}{millicores:>20.1f}{mebibytes:>24.1f}", flush=True)
        for container, (cpu, memory) in sorted(containers.items()):
            print(f"  {container:<24}{'':>10}{cpu:>20.1f}{memory:>24.1f}", flush=True)
        if opened:
            shown = ", ".join(f"{seconds:.1f}" for seconds in opened)
            print(f"  every workspace open through the gateway after creation (s): {shown}", flush=True)
            cpu, memory = gateway_cost(cluster, name, args.window)
            print(f"  the class's gateway pod (once per class): {cpu:.1f}m CPU, {memory:.1f} MiB", flush=True)
        if mix == "default":
            probes = probe_costs(cluster, f"{name}-student-001", args.probe_runs)
        delete_class(kube, name, timeout=300)

    print("\ntime from creation to Ready (default mix)")
    for size in args.sizes:
        name = f"size{size}"
        kube.apply(class_body(name, students=size, placement=ON_THE_REAL_NODE))
        print(f"  {size} students: {wait_ready(kube, name, size):.1f}s", flush=True)
        delete_class(kube, name, timeout=300)

    if "default" in costs:
        print(f"\nexec probes of a default node ({args.probe_runs} runs each; CPU from the container's cgroup)")
        print(f"{'container':<22}{'probe':<64}{'CPU-ms/run':>11}{'millicores':>11}")
        for container, probe, per_run, millicores in probes:
            print(f"{container:<22}{probe:<64}{per_run:>11.1f}{millicores:>11.2f}")
        total = sum(row[3] for row in probes)
        print(f"probes' share of a node's idle CPU: {total:.1f}m of {costs['default'][0]:.1f}m")
        millicores, mebibytes = costs["default"]
        print("\nsizing (default mix, idle, measured here):")
        for students in (10, 30, 60, 100):
            print(
                f"  {students:>3} students: {students * millicores / 1000:.1f} cores, "
                f"{students * mebibytes / 1024:.1f} GiB working set"
            )
    print(f"(median idle CPU per student over mixes: {statistics.median(c[0] for c in costs.values()):.1f}m)")


if __name__ == "__main__":
    main()
