"""The operator against the raw baseline on the stock local control plane: prints numbers, asserts nothing.

For each size on the command line (default 30 100 300 500 students), each on a fresh local control
plane with stock controller-manager and scheduler clients and kubelet-shaped kwok nodes (110 pods, 48
CPUs, 187Gi; enough of them for the class and one spare):

- the raw baseline: `vwclass render --expanded` of the same class, split by student into --parallelism
  `kubectl apply --server-side` processes, timed until every student's node StatefulSet is ready;
- the operator, as a subprocess under its own ServiceAccount: the class applied, timed until Ready;
- for each: writes per student by all clients (apiserver_request_total) and by the client itself (the
  API server's priority-and-fairness counters of FlowSchemas that match only that client's account),
  its CPU seconds and peak RSS (the operator's from /proc, kubectl's from wait4);
- after the first size, the operator's writes during --idle-minutes idle minutes (0 skips it).

--compare DIR also runs the operator from the source tree DIR (say `git archive main | tar -x -C DIR`),
as "before", so a change is measured against main in one run. Every run (baseline, before, operator)
gets a fresh cluster of its own, one after the other.

--classes N makes N classes of each size at once (10 x 30 is the RSS target's load). The targets are
printed beside the numbers.

    .venv/bin/python bench/operator_bench.py [SIZE ...] [--classes 1] [--idle-minutes 5] [--parallelism 8]
        [--compare DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The test helpers (token kubeconfigs, metrics text, install) live with the tests: import them from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.classes import class_body, install
from tests.support.kube import free_port, get_text, token_kubeconfig
from vwclass.core import capacity, names
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS, STATEFULSET
from vwclass.shipped import shipped_dir
from vwclass.testenv import build
from vwclass.testenv.cluster import FAKE_NODES, Cluster, NodeShape

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"}
_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
FLOW_SCHEMAS = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"
ACCOUNTS_NAMESPACE = "vwclass-system"
OPERATOR_ACCOUNT = "vwclass-operator"  # the shipped operator's account and role (manifests/base)
BASELINE_ACCOUNT = "bench-kubectl"  # cluster-admin, as whoever runs kubectl by hand
SCHEMA_PREFIX = "bench-"
# What each client's requests run at: the operator's account is a ServiceAccount (workload-low, as
# every one's); a person's kubectl gets global-default.
PRIORITY = {OPERATOR_ACCOUNT: "workload-low", BASELINE_ACCOUNT: "global-default"}
WRITES = ["create", "update", "patch", "delete", "deletecollection"]
READS = ["get", "list", "watch"]


@dataclass
class Run:
    """One client's run of one size: the class(es) applied until Ready."""

    who: str
    students: int
    seconds: float
    writes_all: int
    writes_client: int
    reads_client: int
    cpu_seconds: float
    peak_rss_mb: float
    rejected: int = 0


# -- the API server's counters ---------------------------------------------------------------------


def counters(kube: Kube) -> tuple[int, Counter[str], Counter[str]]:
    """All clients' writes (apiserver_request_total, every resource and subresource), and the requests
    dispatched and rejected by each of our FlowSchemas."""
    writes = 0
    dispatched: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for line in get_text(kube, "/metrics").splitlines():
        found = _SAMPLE.match(line)
        if not found:
            continue
        metric, value = found.group(1), int(float(found.group(3)))
        labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2)))
        schema = labels.get("flow_schema", "")
        if metric == "apiserver_request_total" and labels.get("verb") in WRITE_VERBS:
            writes += value
        elif metric == "apiserver_flowcontrol_dispatched_requests_total" and schema.startswith(SCHEMA_PREFIX):
            dispatched[schema] += value
        elif metric == "apiserver_flowcontrol_rejected_requests_total" and schema.startswith(SCHEMA_PREFIX):
            rejected[schema] += value
    return writes, dispatched, rejected


def schema_name(account: str, kind: str) -> str:
    return f"{SCHEMA_PREFIX}{account}-{kind}"


def counting_schema(account: str, kind: str, verbs: list[str]) -> dict[str, Any]:
    """A FlowSchema matching only `account`'s requests of `verbs`, at the priority it would get anyway,
    so counting changes nothing (the API server's request metrics do not say who asked; these do)."""
    subjects = [{"kind": "ServiceAccount", "serviceAccount": {"namespace": ACCOUNTS_NAMESPACE, "name": account}}]
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": schema_name(account, kind)},
        "spec": {
            "priorityLevelConfiguration": {"name": PRIORITY[account]},
            "matchingPrecedence": 100,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": subjects,
                    "resourceRules": [
                        {
                            "verbs": verbs,
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                }
            ],
        },
    }


def set_up_accounts(kube: Kube, directory: Path) -> dict[str, Path]:
    """The operator's shipped account and role, a cluster-admin account for kubectl, the FlowSchemas
    that count each one's requests, and a token kubeconfig for each."""
    for manifest in ("namespace.yaml", "operator-rbac.yaml"):
        for document in yaml.safe_load_all((shipped_dir("manifests") / "base" / manifest).read_text()):
            if document:
                kube.apply(document)
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": BASELINE_ACCOUNT, "namespace": ACCOUNTS_NAMESPACE},
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": BASELINE_ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": BASELINE_ACCOUNT, "namespace": ACCOUNTS_NAMESPACE}],
        }
    )
    for account in (OPERATOR_ACCOUNT, BASELINE_ACCOUNT):
        for kind, verbs in (("writes", WRITES), ("reads", READS)):
            kube.request(
                "PATCH",
                f"{FLOW_SCHEMAS}/{schema_name(account, kind)}",
                body=counting_schema(account, kind, verbs),
                query=[("fieldManager", "vwclass-bench"), ("force", "true")],
                content_type="application/apply-patch+yaml",
            )
    return {
        account: token_kubeconfig(kube, ACCOUNTS_NAMESPACE, account, directory / f"{account}.kubeconfig", 4 * 3600)
        for account in (OPERATOR_ACCOUNT, BASELINE_ACCOUNT)
    }


# -- processes ---------------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a live process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


class Operator:
    """`python -m vwclass.operator` as its shipped ServiceAccount, in its own process."""

    def __init__(self, kubeconfig: Path, log_path: Path, source: Path | None = None) -> None:
        self.port = free_port()
        environment = dict(os.environ)
        if source is not None:  # that tree's vwclass, ahead of the installed one
            environment["PYTHONPATH"] = str(source)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vwclass.operator",
                "--kubeconfig",
                str(kubeconfig),
                "--liveness",
                f"http://127.0.0.1:{self.port}/healthz",
            ],
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=environment,
        )

    def wait_started(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the operator exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("the operator did not start")

    def cpu(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def wait_quiet(self, timeout: float = 300.0) -> None:
        """Until it has used under 0.05 CPU-s in each of 3 seconds running: done with what it found at start."""
        deadline = time.monotonic() + timeout
        quiet, last = 0, self.cpu()
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(1)
            now = self.cpu()
            quiet, last = (quiet + 1 if now - last < 0.05 else 0), now

    def peak_rss_mb(self) -> float:
        return proc_peak_rss_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)


def run_all(commands: list[tuple[list[str], bytes]]) -> tuple[float, float]:
    """Runs the commands at once, each with its input; their CPU seconds summed and peak RSS (MB)."""
    processes = [
        (subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), data)
        for argv, data in commands
    ]
    for process, data in processes:
        assert process.stdin is not None
        process.stdin.write(data)
        process.stdin.close()
    cpu, rss = 0.0, 0.0
    for process, _data in processes:
        _pid, code, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(code)
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss * 1024 / 1e6)
        if process.returncode:
            assert process.stderr is not None
            raise SystemExit(f"{' '.join(commands[0][0][:2])} failed: {process.stderr.read().decode()[:500]}")
    return cpu, rss


# -- the two runs -----------------------------------------------------------------------------------


def poll(check: Callable[[], bool], what: str, timeout: float = 1800.0, interval: float = 0.5) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise SystemExit(f"{what}: not done after {timeout:.0f}s")


def class_ready(kube: Kube, name: str, students: int) -> bool:
    body = kube.get(CLASS, name) or {}
    status = body.get("status") or {}
    ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
    return (
        bool(ready)
        and ready[0]["status"] == "True"
        and status.get("observedGeneration") == body["metadata"].get("generation")
        and (status.get("students") or {}).get("ready") == students
    )


def run_operator(
    kube: Kube,
    cluster: Cluster,
    kubeconfig: Path,
    size: int,
    classes: int,
    idle_minutes: float,
    who: str = "operator",
    source: Path | None = None,
) -> tuple[Run, int | None]:
    prefix = "op" if source is None else "before"
    class_names = [f"{prefix}{size}-{i}" if classes > 1 else f"{prefix}{size}" for i in range(classes)]
    operator = Operator(kubeconfig, cluster.directory / f"{who}.log", source)
    try:
        operator.wait_started()
        time.sleep(3)  # its start-up requests (the first watches) are not the class's
        operator.wait_quiet()  # nor is its first look at the cluster
        cpu_before = operator.cpu()
        writes_before, dispatched_before, rejected_before = counters(kube)
        started = time.monotonic()
        for name in class_names:
            kube.apply(class_body(name, students=size))
        poll(lambda: all(class_ready(kube, n, size) for n in class_names), f"operator, {classes} x {size}")
        seconds = time.monotonic() - started
        writes_after, dispatched_after, rejected_after = counters(kube)
        cpu = operator.cpu() - cpu_before
        idle_writes = None
        if idle_minutes:
            time.sleep(10)  # the last events of provisioning settle
            _w, idle_before, _r = counters(kube)
            time.sleep(idle_minutes * 60)
            _w, idle_after, _r = counters(kube)
            idle_writes = (
                idle_after[schema_name(OPERATOR_ACCOUNT, "writes")]
                - idle_before[schema_name(OPERATOR_ACCOUNT, "writes")]
            )
        students = size * classes
        run = Run(
            who,
            students,
            seconds,
            writes_after - writes_before,
            dispatched_after[schema_name(OPERATOR_ACCOUNT, "writes")]
            - dispatched_before[schema_name(OPERATOR_ACCOUNT, "writes")],
            dispatched_after[schema_name(OPERATOR_ACCOUNT, "reads")]
            - dispatched_before[schema_name(OPERATOR_ACCOUNT, "reads")],
            cpu,
            operator.peak_rss_mb(),
            sum((rejected_after - rejected_before).values()),
        )
        return run, idle_writes
    finally:
        operator.stop()


def run_baseline(kube: Kube, kubeconfig: Path, size: int, classes: int, parallelism: int) -> Run:
    """`vwclass render --expanded` piped into `parallelism` `kubectl apply --server-side`, split by student."""
    class_names = [f"raw{size}-{i}" if classes > 1 else f"raw{size}" for i in range(classes)]
    vwclass = str(Path(sys.executable).with_name("vwclass"))
    kubectl = [str(build.bin_dir() / "kubectl"), "--kubeconfig", str(kubeconfig)]
    writes_before, dispatched_before, rejected_before = counters(kube)
    started = time.monotonic()
    students: list[list[dict[str, Any]]] = []
    render_cpu, render_rss = 0.0, 0.0
    for name in class_names:
        render = subprocess.Popen(
            [vwclass, "render", name, "--students", str(size), "--expanded", "-o", "json"], stdout=subprocess.PIPE
        )
        assert render.stdout is not None
        rendered = json.loads(render.stdout.read())
        _pid, code, usage = os.wait4(render.pid, 0)
        if os.waitstatus_to_exitcode(code):
            raise SystemExit("vwclass render --expanded failed")
        render_cpu += usage.ru_utime + usage.ru_stime
        render_rss = max(render_rss, usage.ru_maxrss * 1024 / 1e6)
        # Each student's objects stay together and in order (its namespace first).
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for item in rendered["items"]:
            namespace = item["metadata"].get("namespace") or item["metadata"]["name"]
            by_namespace.setdefault(namespace, []).append(item)
        students += by_namespace.values()
    shares: list[list[dict[str, Any]]] = [[] for _ in range(min(parallelism, len(students)))]
    for index, objects in enumerate(students):
        shares[index % len(shares)] += objects
    commands = [
        (
            [*kubectl, "apply", "--server-side", "--field-manager", "bench-kubectl", "-f", "-"],
            json.dumps({"apiVersion": "v1", "kind": "List", "items": share}).encode(),
        )
        for share in shares
    ]
    apply_cpu, apply_rss = run_all(commands)

    def nodes_ready() -> bool:
        ready = 0
        for name in class_names:
            ready += sum(
                1
                for s in kube.list(STATEFULSET, names.class_selector(name))
                if (s.get("status") or {}).get("readyReplicas") == 1
            )
        return ready == size * classes

    poll(nodes_ready, f"baseline, {classes} x {size}")
    seconds = time.monotonic() - started
    writes_after, dispatched_after, rejected_after = counters(kube)
    return Run(
        "kubectl",
        size * classes,
        seconds,
        writes_after - writes_before,
        dispatched_after[schema_name(BASELINE_ACCOUNT, "writes")]
        - dispatched_before[schema_name(BASELINE_ACCOUNT, "writes")],
        dispatched_after[schema_name(BASELINE_ACCOUNT, "reads")]
        - dispatched_before[schema_name(BASELINE_ACCOUNT, "reads")],
        render_cpu + apply_cpu,
        max(render_rss, apply_rss),
        sum((rejected_after - rejected_before).values()),
    )


# -- the table --------------------------------------------------------------------------------------

READY_TARGETS = {30: 15.0, 300: 90.0}
RATIO_TARGET = 1.3
CPU_PER_STUDENT_TARGET = 0.1


def rss_target(size: int, classes: int) -> float | None:
    if classes == 10 and size == 30:
        return 150.0
    if classes == 1 and size == 500:
        return 200.0
    return None


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def print_table(
    results: list[tuple[int, list[Run], Run]], classes: int, idle: dict[str, int | None], minutes: float
) -> None:
    header = (
        f"{'class':>10} {'client':>8} {'Ready s':>8} {'writes/st all':>13} {'writes/st own':>13} "
        f"{'reads/st own':>12} {'CPU s':>7} {'CPU s/st':>8} {'peak RSS MB':>11} {'429s':>4}"
    )
    print("\n" + header)
    print("-" * len(header))
    for size, operators, baseline in results:
        label = f"{classes}x{size}" if classes > 1 else str(size)
        for run in (baseline, *operators):
            print(
                f"{label:>10} {run.who:>8} {run.seconds:8.1f} {run.writes_all / run.students:13.1f} "
                f"{run.writes_client / run.students:13.1f} {run.reads_client / run.students:12.1f} "
                f"{run.cpu_seconds:7.1f} {run.cpu_seconds / run.students:8.3f} {run.peak_rss_mb:11.0f} "
                f"{run.rejected:4}"
            )
    print("\ntargets:")
    for size, operators, baseline in results:
        for operator in operators:
            label = f"{classes}x{size} {operator.who}" if classes > 1 else f"{size} {operator.who}"
            ratio = operator.seconds / baseline.seconds
            parts = [f"ratio to baseline {ratio:.2f} (<= {RATIO_TARGET}: {verdict(ratio <= RATIO_TARGET)})"]
            if classes == 1 and size in READY_TARGETS:
                target = READY_TARGETS[size]
                parts.insert(
                    0, f"Ready {operator.seconds:.1f}s (<= {target:.0f}s: {verdict(operator.seconds <= target)})"
                )
            per_student = operator.cpu_seconds / operator.students
            parts.append(
                f"CPU {per_student:.3f} s/student (<= {CPU_PER_STUDENT_TARGET}: "
                f"{verdict(per_student <= CPU_PER_STUDENT_TARGET)})"
            )
            rss = rss_target(size, classes)
            if rss is not None:
                parts.append(
                    f"peak RSS {operator.peak_rss_mb:.0f} MB (< {rss:.0f}: {verdict(operator.peak_rss_mb < rss)})"
                )
            else:
                parts.append(f"peak RSS {operator.peak_rss_mb:.0f} MB (targets: < 150 for 10x30, < 200 for 500)")
            print(f"  {label:>15}: " + "; ".join(parts))
    for who, writes in idle.items():
        if writes is not None:
            print(f"  idle: {writes} {who} writes in {minutes:g} idle minutes (target 0: {verdict(writes == 0)})")


@contextlib.contextmanager
def fresh_cluster(name: str, nodes: int) -> Iterator[tuple[Kube, Cluster, dict[str, Path]]]:
    """A local control plane with stock controller settings, the API installed and the counted accounts."""
    cluster = Cluster(name, nodes=nodes, tuned_clients=False)
    try:
        cluster.up()
        kube = connect(str(cluster.kubeconfig))
        install(kube)
        yield kube, cluster, set_up_accounts(kube, cluster.directory)
    finally:
        cluster.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[30, 100, 300, 500], help="students per class")
    parser.add_argument("--classes", type=int, default=1, help="classes of each size at once (10: the 10 x 30 load)")
    parser.add_argument("--idle-minutes", type=float, default=5.0, help="idle minutes after the first size (0: skip)")
    parser.add_argument("--parallelism", type=int, default=8, help="kubectl apply processes for the baseline")
    parser.add_argument("--compare", type=Path, metavar="DIR", help="also run the operator of this source tree")
    args = parser.parse_args()
    # Stopped by a signal, it still takes its clusters down (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pods_per_student = capacity.class_need(parse_class(class_body("sizing", students=1))).pods
    results: list[tuple[int, list[Run], Run]] = []
    idle: dict[str, int | None] = {}
    operators: list[tuple[str, Path | None]] = [("before", args.compare)] if args.compare else []
    operators.append(("operator", None))
    for index, size in enumerate(args.sizes):
        # Each run on a fresh cluster of its own (nodes for its pods and one spare): no run's objects
        # sit in another's cluster, caches or controllers.
        nodes = max(FAKE_NODES, math.ceil(size * args.classes * pods_per_student / NodeShape().pods) + 1)
        with fresh_cluster(f"bench-{os.getpid()}-{size}-kubectl", nodes) as (kube, _cluster, kubeconfigs):
            baseline = run_baseline(kube, kubeconfigs[BASELINE_ACCOUNT], size, args.classes, args.parallelism)
        print(f"{size}: baseline {baseline}", flush=True)
        runs = []
        for who, source in operators:
            with fresh_cluster(f"bench-{os.getpid()}-{size}-{who}", nodes) as (kube, cluster, kubeconfigs):
                run, idle_writes = run_operator(
                    kube,
                    cluster,
                    kubeconfigs[OPERATOR_ACCOUNT],
                    size,
                    args.classes,
                    args.idle_minutes if index == 0 else 0,
                    who,
                    source,
                )
            print(f"{size}: {run}", flush=True)
            runs.append(run)
            if index == 0:
                idle[who] = idle_writes
        results.append((size, runs, baseline))
    print_table(results, args.classes, idle, args.idle_minutes)


if __name__ == "__main__":
    main()
