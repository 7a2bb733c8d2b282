"""Operator benchmarks on the local control plane; prints numbers, asserts nothing.

1. A 30-student class: time to Ready through the operator, and in the same run the time for
   `kubectl apply --server-side` of the same rendered objects plus `kubectl wait` for the same readiness.
2. A 300-student class: time to Ready, then time until every namespace is gone after deletion.
3. Idle writes: API-server write requests (apiserver_request_total, our resources) during N idle
   seconds of a Ready 30-student class, and the operator's own write counter.

    .venv/bin/python bench/operator_bench.py [--idle-seconds 300] [--big 300]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vwclass.core import capacity, names, render
from vwclass.core.rabbitmq import NodeCredentials
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS, NAMESPACE
from vwclass.testenv import build
from vwclass.testenv.cluster import FAKE_NODES, Cluster, NodeShape

# The embedded operator lives with the tests (only they and this bench run it): import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.embedded_operator import EmbeddedOperator

OUR_RESOURCES = {
    "namespaces",
    "serviceaccounts",
    "rolebindings",
    "networkpolicies",
    "resourcequotas",
    "limitranges",
    "secrets",
    "configmaps",
    "services",
    "persistentvolumeclaims",
    "statefulsets",
    "deployments",
    "virtualwaggleclasses",
    "events",
}
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY"}


def kubectl(cluster: Cluster, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(build.bin_dir() / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode:
        raise SystemExit(f"kubectl {' '.join(args[:3])}: {result.stderr.strip()}")
    return result.stdout


def writes_by_verb(cluster: Cluster) -> dict[str, float]:
    totals: dict[str, float] = {}
    pattern = re.compile(r"^apiserver_request_total\{(.*)\} (\S+)$")
    for line in kubectl(cluster, "get", "--raw", "/metrics").splitlines():
        found = pattern.match(line)
        if not found:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
        if (
            labels.get("verb") in WRITE_VERBS
            and labels.get("resource") in OUR_RESOURCES
            and not labels.get("subresource")
        ):
            key = f"{labels['verb']} {labels['resource']}"
            totals[key] = totals.get(key, 0.0) + float(found.group(2))
    return totals


def wait_ready(kube: Kube, name: str, students: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = kube.get(CLASS, name) or {}
        ready = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True" and body["status"]["students"]["ready"] == students:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"class {name} not Ready after {timeout}s")


def class_body(name: str, students: int) -> dict[str, object]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name},
        "spec": {"students": students},
    }


def kubectl_baseline(cluster: Cluster, students: int) -> float:
    """The same objects applied by kubectl, then waited on for the same readiness."""
    cls = parse_class(class_body("byhand", students))
    objects = []
    for student in cls.students:
        creds = {
            k: f"{k}-{student.id}" for k in ("admin-password", "service-password", "plugin-password", "jupyter-token")
        }
        rendered = render.student_objects(
            cls, student, NodeCredentials(creds["admin-password"], creds["service-password"], creds["plugin-password"])
        )
        objects += [*rendered[:1], render.credentials_secret(cls, student, creds), *rendered[1:]]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as manifest:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objects}, manifest)
    selector = names.class_selector("byhand")
    started = time.monotonic()
    kubectl(cluster, "apply", "--server-side", "-f", manifest.name)
    # One StatefulSet per student (the node, one pod): ready when its one replica is.
    kubectl(
        cluster,
        "wait",
        "--for=jsonpath={.status.readyReplicas}=1",
        "statefulset",
        "-A",
        "-l",
        selector,
        "--timeout=600s",
    )
    elapsed = time.monotonic() - started
    kubectl(cluster, "delete", "namespace", "-l", selector, "--wait=false")
    Path(manifest.name).unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument("--big", type=int, default=300)
    parser.add_argument("--big-only", action="store_true", help="measure only the big class")
    args = parser.parse_args()
    # Kubelet-shaped nodes (110 pods each), enough for both classes and the kubectl baseline's copies
    # at once, counted as the operator's capacity check counts them.
    pods = 2 * (30 + args.big) * len(capacity.class_need(parse_class(class_body("sizing", 1))).pods_per_student)
    cluster = Cluster("bench", nodes=max(FAKE_NODES, math.ceil(pods / NodeShape().pods)))
    cluster.up()
    try:
        kube = connect(str(cluster.kubeconfig))
        kubectl(
            cluster,
            "apply",
            "--server-side",
            "-f",
            "crds/virtualwaggleclass.yaml",
            "-f",
            "manifests/base/student-clusterrole.yaml",
        )
        kubectl(cluster, "wait", "--for=condition=Established", f"crd/{names.CRD_NAME}")
        with EmbeddedOperator(str(cluster.kubeconfig), resync_seconds=60.0) as operator:
            if args.big_only:
                args.idle_seconds = 0
            kube.apply(class_body("bench30", 30))
            operator_30 = wait_ready(kube, "bench30", 30)
            time.sleep(10)  # let the last events of provisioning settle
            metrics_before, ours_before = writes_by_verb(cluster), sum(operator.kube.writes.values())
            time.sleep(args.idle_seconds)
            metrics_after, ours_after = writes_by_verb(cluster), sum(operator.kube.writes.values())
            delta = {k: metrics_after.get(k, 0) - metrics_before.get(k, 0) for k in metrics_after}
            delta = {k: v for k, v in delta.items() if v}
            if not args.big_only:
                print(
                    f"idle {args.idle_seconds:.0f}s of a Ready 30-student class: API-server writes on our resources "
                    f"{int(sum(delta.values()))} {delta or ''}; operator's own writes {ours_after - ours_before}",
                    flush=True,
                )
                baseline_30 = kubectl_baseline(cluster, 30)
                print(
                    f"30 students: operator Ready in {operator_30:.1f}s; kubectl apply --server-side + wait "
                    f"{baseline_30:.1f}s (ratio {operator_30 / baseline_30:.2f})",
                    flush=True,
                )

            kube.apply(class_body(f"bench{args.big}", args.big))
            big = wait_ready(kube, f"bench{args.big}", args.big)
            print(
                f"{args.big} students: operator Ready in {big:.1f}s; operator writes so far "
                f"{dict(operator.kube.writes)}",
                flush=True,
            )
        started = time.monotonic()
        kube.delete(CLASS, f"bench{args.big}")
        while kube.list(NAMESPACE, names.class_selector(f"bench{args.big}")):
            time.sleep(1)
        print(
            f"{args.big} students: every namespace gone {time.monotonic() - started:.1f}s after deleting the class",
            flush=True,
        )
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
