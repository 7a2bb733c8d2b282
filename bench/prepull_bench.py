"""What the image pre-pull saves a class that starts with its images not on the node: prints numbers,
asserts nothing.

On the local control plane with its real node, the operator embedded, the class's images are pushed to
a registry on this machine (Debian's docker-registry, on 127.0.0.1, which containerd pulls from over
plain HTTP) and removed from the node, so every start below really pulls. For each run, each of:
- cold: a class of --students created with spec.imagePrePull false: creation to Ready;
- cold, pre-pull on: the same with the pre-pull on (its DaemonSet pulls beside the students' pods);
- warm: a class created suspended (as a scheduled class is before its first lecture) with the pre-pull
  on, which pulls every image on the node (the pull's time is printed), then resumed: resume to Ready.
The images are removed from the node again before each. The ratio printed is warm over cold.

    sudo apt-get install docker-registry   # once
    flock /tmp/vwclass-realnode.lock .venv/bin/python bench/prepull_bench.py [--students 4] [--runs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.classes import class_body, delete_class, install
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.core import prepull
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS
from vwclass.testenv import images, processes, realnode
from vwclass.testenv.cluster import Cluster

ON_THE_REAL_NODE = {
    "nodeSelector": {realnode.LABEL: "true"},
    "tolerations": [{"key": realnode.LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}
# spec.images keys, each to be served from the local registry.
IMAGE_KEYS = ("rabbitmq", "pluginRunner", "dataSharingService", "appMetaCache", "dataEndpoint", "playbackServer")


def until(what: str, check: Callable[[], bool], timeout: float = 900) -> float:
    """Seconds until check() holds, polled every half second."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"not {what} after {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def status(kube: Kube, name: str) -> dict[str, Any]:
    return dict((kube.get(CLASS, name) or {}).get("status") or {})


def ready(kube: Kube, name: str, students: int) -> bool:
    block = status(kube, name)
    conditions = {c["type"]: c["status"] for c in block.get("conditions", [])}
    return conditions.get("Ready") == "True" and block.get("students", {}).get("ready") == students


@contextlib.contextmanager
def local_registry() -> Iterator[str]:
    """Debian's docker-registry on a free loopback port, its storage in a temporary folder."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("needs Debian's docker-registry: sudo apt-get install docker-registry")
    port = processes.free_port()
    with tempfile.TemporaryDirectory(prefix="vwclass-bench-registry-") as directory:
        config = Path(directory) / "config.yml"
        config.write_text(
            f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {directory}/data}}}}\n"
            f"http: {{addr: 127.0.0.1:{port}}}\n"
        )
        with open(Path(directory) / "registry.log", "w") as log:
            server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            until("the registry answering", lambda: _answers(port), timeout=30)
            yield f"127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
            return True
    except OSError:
        return False


def ctr(node: realnode.RealNode, *args: str) -> None:
    subprocess.run([*node.ctr(), *args], check=True, stdout=subprocess.DEVNULL)


def publish(node: realnode.RealNode, registry: str, spec: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Pushes each image of the class to the registry; the spec.images that name them there, and every
    reference (the imported and the registry's) that removing them from the node takes."""
    cls = parse_class(class_body("sizing", students=1, **spec))
    served, references = {}, []
    for key in IMAGE_KEYS:
        original = _normalized(getattr(cls.images, _snake(key)))
        if original not in _present(node):
            continue  # not built here (the playback server): the class does not run it
        there = f"{registry}/bench/{original.rsplit('/', 1)[-1]}"
        ctr(node, "images", "tag", "--force", original, there)
        ctr(node, "images", "push", "--plain-http", there)
        served[key] = there
        references += [original, there]
    return served, references


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _normalized(reference: str) -> str:
    """A reference as containerd names it (docker.io/library/ for an official image's short name)."""
    first = reference.split("/", 1)[0]
    if "/" not in reference:
        return f"docker.io/library/{reference}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{reference}"
    return reference


def _present(node: realnode.RealNode) -> set[str]:
    listed = subprocess.run([*node.ctr(), "images", "list", "-q"], check=True, capture_output=True, text=True)
    return set(listed.stdout.split())


def remove(node: realnode.RealNode, references: list[str]) -> None:
    """Every reference of the class's images off the node, and their content with them (synchronous GC)."""
    present = _present(node)
    gone = [r for r in references if r in present]
    if gone:
        ctr(node, "images", "rm", "--sync", *gone)


def one_run(
    kube: Kube, node: realnode.RealNode, references: list[str], spec: dict[str, Any], students: int
) -> dict[str, float]:
    times: dict[str, float] = {}
    for label, pre_pull in (("cold", False), ("cold, pre-pull on", True)):
        remove(node, references)
        name = "cold" if not pre_pull else "coldpp"
        kube.apply(class_body(name, students=students, imagePrePull=pre_pull, **spec))
        times[label] = until(f"{name} Ready", lambda n=name: ready(kube, n, students))
        delete_class(kube, name, timeout=300)
    remove(node, references)
    kube.apply(class_body("warm", students=students, suspended=True, **spec))

    def pulled() -> bool:
        block = status(kube, "warm").get("imagePrePull") or {}
        return bool(block.get("nodes") and block.get("pulled") == block.get("nodes"))

    times["pre-pull while suspended"] = until("warm's images pulled", pulled)
    kube.merge_patch(CLASS, "warm", None, {"spec": {"suspended": False}})
    times["warm: resume to Ready"] = until("warm Ready", lambda: ready(kube, "warm", students))
    delete_class(kube, "warm", timeout=300)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    cluster = Cluster(f"bench-prepull-{os.getpid()}")
    cluster.up(real_node=True)
    try:
        node = realnode.RealNode(cluster)
        for archive in images.class_images():
            node.import_image(archive)
        kube = connect(str(cluster.kubeconfig))
        install(kube)
        with local_registry() as registry, EmbeddedOperator(str(cluster.kubeconfig)) as operator:
            served, references = publish(node, registry, {"placement": ON_THE_REAL_NODE})
            spec = {"placement": ON_THE_REAL_NODE, "images": served}
            count = len(prepull.images(parse_class(class_body("sizing", students=1, **spec))))
            print(f"{count} images of a student's node served from {registry}; {args.students} students a class")
            runs = [one_run(operator.kube, node, references, spec, args.students) for _ in range(args.runs)]
    finally:
        cluster.down()
    print(f"\n{'measure (s)':<28}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs))))
    for label in runs[0]:
        print(f"{label:<28}" + "".join(f"{run[label]:>10.1f}" for run in runs))
    for index, run in enumerate(runs, 1):
        ratio = run["warm: resume to Ready"] / run["cold"]
        print(f"run {index}: warm resume / cold start = {ratio:.2f}")


if __name__ == "__main__":
    main()
