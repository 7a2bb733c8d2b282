"""Writes per student to Ready, by all clients together: prints numbers, asserts nothing.

Starts a local control plane, the operator embedded, creates one class and reads the API server's
apiserver_request_total (every write verb, every resource and subresource, every client: the operator,
the controllers, the scheduler, kwok's kubelets) just before the create and at the moment the class
is Ready.

    .venv/bin/python bench/writes_bench.py [--students 30]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

# The embedded operator lives with the tests (only they and the benches run it): import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.classes import class_body, install
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import get_text
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS
from vwclass.testenv.cluster import Cluster

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"}
_SAMPLE = re.compile(r"^apiserver_request_total\{(.*)\} (\S+)$")


def writes(kube: Kube) -> Counter[str]:
    """Every write the API server has served, by resource (and subresource)."""
    counts: Counter[str] = Counter()
    for line in get_text(kube, "/metrics").splitlines():
        found = _SAMPLE.match(line)
        if not found:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
        if labels.get("verb") in WRITE_VERBS:
            resource = labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else "")
            counts[resource] += int(float(found.group(2)))
    return counts


def wait_ready(kube: Kube, name: str, students: int, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        body = kube.get(CLASS, name) or {}
        ready = [c for c in body.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True" and body["status"]["students"]["ready"] == students:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"class {name} not Ready after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    args = parser.parse_args()
    cluster = Cluster(f"writes-{os.getpid()}")  # its own, beside any other run's
    cluster.up()
    try:
        kube = connect(str(cluster.kubeconfig))
        install(kube)
        with EmbeddedOperator(str(cluster.kubeconfig), resync_seconds=60.0):
            time.sleep(5)  # the operator's own start-up writes are not the class's
            before = writes(kube)
            kube.apply(class_body("writes", students=args.students))
            elapsed = wait_ready(kube, "writes", args.students)
            after = writes(kube)
        delta = Counter({k: after[k] - before[k] for k in after if after[k] - before[k] > 0})
        total = sum(delta.values())
        print(
            f"{args.students} students Ready in {elapsed:.1f}s: {total} writes by all clients, "
            f"{total / args.students:.1f} per student",
            flush=True,
        )
        for resource, count in delta.most_common():
            print(f"  {resource:40} {count:6} {count / args.students:6.1f} per student")
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
