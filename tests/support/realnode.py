"""The real node for tests: a local control plane with one real node and a class's images imported, the
operator, and a class placed there whose students act through the kubeconfigs `vwclass credentials`
hands out (`kubectl` and `vwclass` as real programs, exactly as a student runs them).

Behaviour, not layout: a student's runner is found as the pod of their namespace that has a
`plugin-runner` container, and a node's pods as those the `node` StatefulSet owns, whatever their number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.classes import class_body, delete_class, install, wait_ready
from tests.support.cli import VWCLASS, Cli, kubectl_binary
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.testenv import images, realnode
from vwclass.testenv.cluster import Cluster

ON_THE_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {realnode.LABEL: "true"},
    "tolerations": [{"key": realnode.LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}
RUNNER = "plugin-runner"


@contextmanager
def real_node_cluster(purpose: str) -> Iterator[Cluster]:
    """A local control plane with the real node, the class's images built (or reused) and imported."""
    cluster = Cluster(f"pytest-realnode-{purpose}-{os.getpid()}")
    started = time.monotonic()
    cluster.up(real_node=True)
    try:
        node = realnode.RealNode(cluster)
        for archive in images.class_images():
            node.import_image(archive)
        print(f"\nthe real node up, the class's images imported, in {time.monotonic() - started:.1f}s")
        yield cluster
    finally:
        cluster.down()


@contextmanager
def running_operator(cluster: Cluster, clock: Callable[[], dt.datetime] | None = None) -> Iterator[Kube]:
    """The operator (embedded in the test process) reconciling the cluster's classes; the teacher's
    client. clock: what the operator takes for now (schedules and expiries)."""
    kube = connect(str(cluster.kubeconfig))
    install(kube)
    with EmbeddedOperator(str(cluster.kubeconfig), clock=clock) as running:
        yield running.kube


def kubectl_as(kubeconfig: Path, *args: str, timeout: float = 120, stdin: str | None = None) -> str:
    """`kubectl ARGS` with a student's kubeconfig; its stdout, or an AssertionError with its stderr."""
    result = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: exit {result.returncode}: {result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Student:
    """A student of a class on the real node, as their handout (`vwclass credentials`) makes them."""

    id: str
    namespace: str
    kubeconfig: Path
    notes: Path

    @property
    def vwclass(self) -> Cli:
        return Cli(self.kubeconfig)

    def kubectl(self, *args: str, timeout: float = 120, stdin: str | None = None) -> str:
        return kubectl_as(self.kubeconfig, *args, timeout=timeout, stdin=stdin)

    def pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.kubectl("get", "pods", "-o", "json"))["items"]
        return items

    def runner_pod(self) -> str:
        """The name of the running pod that holds this student's plugin runner."""

        def running() -> str | None:
            for pod in self.pods():
                containers = {c["name"] for c in pod["spec"]["containers"]}
                statuses = {c["name"]: c for c in pod.get("status", {}).get("containerStatuses", [])}
                if RUNNER in containers and statuses.get(RUNNER, {}).get("ready"):
                    return str(pod["metadata"]["name"])
            return None

        return eventually(running, timeout=300, interval=2, what=f"{self.id}'s plugin runner running")

    def node_pods(self) -> list[dict[str, Any]]:
        """The pods of this student's node (owned by its `node` StatefulSet), however many it has."""
        return [
            pod
            for pod in self.pods()
            if any(
                o.get("kind") == "StatefulSet" and o.get("name") == names.NODE_WORKLOAD
                for o in pod["metadata"].get("ownerReferences", [])
            )
        ]

    def in_runner(self, *command: str, timeout: float = 180, stdin: str | None = None) -> str:
        """`kubectl exec -i POD -c plugin-runner -- COMMAND` as this student; its stdout."""
        return self.kubectl("exec", "-i", self.runner_pod(), "-c", RUNNER, "--", *command, timeout=timeout, stdin=stdin)

    def python_in_runner(self, code: str, timeout: float = 180) -> str:
        """Python code run in the plugin runner (fed on stdin, as a student pastes it); its stdout."""
        return self.in_runner("python3", "-", timeout=timeout, stdin=code)

    def shell_env(self) -> dict[str, str]:
        """The environment of the student's shell after `export KUBECONFIG=...` (as the README says), with
        this environment's `vwclass` and `kubectl` first on PATH."""
        path = os.pathsep.join([str(VWCLASS.parent), str(Path(kubectl_binary()).parent), os.environ.get("PATH", "")])
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def shell(
        self, command: str, cwd: Path, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command line as the student's shell runs it."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=self.shell_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )


def runner_image(student: Student) -> str:
    """The image of the student's plugin runner: what their own pods can run too."""
    for pod in student.node_pods():
        for container in pod["spec"]["containers"]:
            if container["name"] == RUNNER:
                return str(container["image"])
    raise AssertionError(f"{student.id}'s node has no {RUNNER}")


@contextmanager
def container_exits(student: Student) -> Iterator[dict[str, dict[str, int | None]]]:
    """While inside, a watch (as the student) of their namespace's pods; yields, filled in as the watch
    sees them, each pod's (by uid) containers' last exit codes (None: not seen terminated)."""
    exits: dict[str, dict[str, int | None]] = {}
    watch = subprocess.Popen(
        [kubectl_binary(), "--kubeconfig", str(student.kubeconfig), "get", "pods", "--watch", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def read() -> None:
        assert watch.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in watch.stdout:  # a stream of indented JSON objects, one per change
            buffer += line
            try:
                pod, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue
            buffer = buffer.lstrip()[end:]
            statuses = [*pod["status"].get("initContainerStatuses", []), *pod["status"].get("containerStatuses", [])]
            exits[pod["metadata"]["uid"]] = {
                c["name"]: c.get("state", {}).get("terminated", {}).get("exitCode") for c in statuses
            }

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(1)  # the watch's first listing is in
        yield exits
    finally:
        watch.kill()
        watch.wait()
        reader.join(timeout=10)


@dataclass(frozen=True)
class RealClass:
    """A class on the real node, Ready, with its students' handouts written."""

    name: str
    teacher: Kube
    students: tuple[Student, ...]


@contextmanager
def class_on_the_real_node(
    teacher: Kube, cluster: Cluster, name: str, handout: Path, students: int = 2, **spec: Any
) -> Iterator[RealClass]:
    """A class of `students` placed on the real node, Ready, and `vwclass credentials` written to handout."""
    created = time.monotonic()
    teacher.apply(class_body(name, students=students, placement=ON_THE_REAL_NODE, **spec))
    try:
        wait_ready(teacher, name, students=students, timeout=600)
        print(f"\nclass {name}: Ready {time.monotonic() - created:.1f}s after creation")
        result = Cli(cluster.kubeconfig)("credentials", name, "--out", str(handout), "--duration", "2h")
        assert result.exit_code == 0, result.output
        handed: list[Student] = []
        for kubeconfig in sorted(handout.glob("*.kubeconfig")):
            [context] = yaml.safe_load(kubeconfig.read_text())["contexts"]
            namespace = context["context"]["namespace"]
            handed.append(Student(kubeconfig.stem, namespace, kubeconfig, kubeconfig.with_suffix(".txt")))
        assert len(handed) == students, sorted(p.name for p in handout.iterdir())
        for student in handed:
            wait_services_route(student)
        yield RealClass(name, teacher, tuple(handed))
    finally:
        # Not waited for: the shared cluster goes when the package ends, and the next module's class
        # does not need this one's namespaces gone (their pods stop in seconds).
        delete_class(teacher, name, wait=False)


# Each target: (what, host, port). A connection attempt gets this long before it counts as timed out.
CONNECT_TIMEOUT = 4.0
PROBE = """
import json, socket, sys

targets = json.loads(sys.argv[1])
results = {}
for what, host, port in targets:
    try:
        address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except OSError as error:
        results[what] = "no-dns: " + str(error)
        continue
    s = socket.socket()
    s.settimeout(float(sys.argv[2]))
    try:
        s.connect((address, port))
        results[what] = "connected"
    except socket.timeout:
        results[what] = "timeout"
    except ConnectionRefusedError:
        results[what] = "refused"
    except OSError as error:
        results[what] = "error: " + str(error)
    finally:
        s.close()
print(json.dumps(results))
"""


def probe(student: Student, pod: str, container: str, targets: list[tuple[str, str, int]]) -> dict[str, str]:
    """A TCP connection from the pod's container (as the student) to each target: what -> connected,
    refused, timeout or why not."""
    out = student.kubectl(
        "exec",
        pod,
        "-c",
        container,
        "--",
        "python3",
        "-c",
        PROBE,
        json.dumps(targets),
        str(CONNECT_TIMEOUT),
        timeout=300,
    )
    results: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return results


def wait_services_route(student: Student, timeout: float = 60) -> None:
    """Until the student's runner connects to each Service of their namespace. A class is Ready when its
    pods are; a Service routes a moment later (the EndpointSlice controller, then kube-proxy's next sync)
    and refuses until then, which a student's plugin rides out by retrying and a test must wait out."""
    services = json.loads(student.kubectl("get", "services", "-o", "json"))["items"]
    targets = [
        (f"{s['metadata']['name']}:{p['port']}", s["metadata"]["name"], p["port"])
        for s in services
        for p in s["spec"].get("ports", [])
        if p.get("protocol", "TCP") == "TCP"
    ]
    eventually(
        lambda: set(probe(student, student.runner_pod(), RUNNER, targets).values()) == {"connected"},
        timeout=timeout,
        interval=1,
        what=f"{student.id}'s runner connected to {[t[0] for t in targets]}",
    )


def query_in_runner(student: Student, filter: dict[str, str], start: str = "-1h") -> list[dict[str, Any]]:
    """`sage_data_client.query(endpoint=$SAGE_DATA_API, ...)` from the student's runner, as records with
    their meta (the DataFrame's `meta.*` columns) folded back into a map."""
    code = f"""
import json, os
import sage_data_client
df = sage_data_client.query(endpoint=os.environ["SAGE_DATA_API"], start={start!r}, filter={filter!r})
print(df.to_json(orient="records", date_format="iso"))
"""
    return records(json.loads(student.python_in_runner(code).strip().splitlines()[-1]))


def records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DataFrame rows as {timestamp, name, value, meta}."""
    return [
        {
            "timestamp": row.get("timestamp"),
            "name": row.get("name"),
            "value": row.get("value"),
            "meta": {k.removeprefix("meta."): v for k, v in row.items() if k.startswith("meta.") and v is not None},
        }
        for row in rows
    ]


def node_identity(student: Student) -> dict[str, str]:
    """The node id and VSN the student's runner has: what the node's meta must carry."""
    env = dict(line.split("=", 1) for line in student.in_runner("env").splitlines() if line.startswith("WAGGLE_NODE_"))
    return {"node": env["WAGGLE_NODE_ID"], "vsn": env["WAGGLE_NODE_VSN"]}


def stored(student: Student, name: str, count: int = 1, timeout: float = 120) -> list[dict[str, Any]]:
    """The student's records of measurement `name`, through the data API from their runner, once there
    are at least `count`."""

    def enough() -> list[dict[str, Any]] | None:
        found = query_in_runner(student, {"name": name})
        return found if len(found) >= count else None

    return eventually(enough, timeout=timeout, interval=3, what=f"{count} record(s) of {name} for {student.id}")


def image_from_the_templates_dockerfile(base: Path, folder: Path, reference: str, out: Path) -> Path:
    """The image `docker build` makes of a `vwclass newplugin` folder, without Docker: the base image's
    layers (plugin-base, as the template's FROM names it), then the folder as /app, with the Dockerfile's
    WORKDIR and ENTRYPOINT. (Its RUN installs requirements.txt only when it names a package; the
    template's names none, which this checks.)"""
    dockerfile = (folder / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "-u", "/app/main.py"]' in dockerfile, dockerfile
    assert "WORKDIR /app" in dockerfile, dockerfile
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert not [r for r in requirements if r.strip() and not r.strip().startswith("#")], requirements

    def blob(archive: tarfile.TarFile, digest: str) -> bytes:
        member = archive.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
        assert member is not None
        return member.read()

    def add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        archive.addfile(info, io.BytesIO(data))

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as app:
        directory = tarfile.TarInfo("app")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        app.addfile(directory)
        for path in sorted(folder.iterdir()):
            if path.is_file():
                add(app, f"app/{path.name}", path.read_bytes())
    layer_bytes = layer.getvalue()
    layer_digest = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()

    with tarfile.open(base) as source, tarfile.open(out, "w") as image:
        index = json.loads(source.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(source, index["manifests"][0]["digest"]))
        config = json.loads(blob(source, manifest["config"]["digest"]))
        config["config"]["Entrypoint"] = ["python3", "-u", "/app/main.py"]
        config["config"]["Cmd"] = None
        config["config"]["WorkingDir"] = "/app"
        config["rootfs"]["diff_ids"].append(layer_digest)
        config_bytes = json.dumps(config).encode()
        for each in manifest["layers"]:  # streamed: a base layer is hundreds of MB
            member = source.getmember(f"blobs/sha256/{each['digest'].removeprefix('sha256:')}")
            image.addfile(member, source.extractfile(member))
        add(image, f"blobs/sha256/{layer_digest.removeprefix('sha256:')}", layer_bytes)
        manifest["layers"].append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer_bytes)}
        )
        manifest["config"] = {
            "mediaType": manifest["config"]["mediaType"],
            "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
            "size": len(config_bytes),
        }
        manifest_bytes = json.dumps(manifest).encode()
        add(image, f"blobs/sha256/{hashlib.sha256(config_bytes).hexdigest()}", config_bytes)
        add(image, f"blobs/sha256/{hashlib.sha256(manifest_bytes).hexdigest()}", manifest_bytes)
        descriptor = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
            "size": len(manifest_bytes),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": reference, "io.containerd.image.name": reference},
        }
        add(image, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add(image, "index.json", json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode())
    return out


def write_plugin(student: Student, folder: Path, name: str, value: float) -> Path:
    """`vwclass newplugin NAME`, then main.py edited to publish `value` (a student's first edit)."""
    result = student.shell(f"vwclass newplugin {name}", cwd=folder)
    assert result.returncode == 0, result.stderr
    main = folder / name / "main.py"
    text = main.read_text()
    edited = re.sub(r"return round\(random\.uniform\([^)]*\), 2\)", f"return {value}", text)
    assert edited != text, "the template's measure() is where a student puts their value"
    main.write_text(edited)
    return folder / name
