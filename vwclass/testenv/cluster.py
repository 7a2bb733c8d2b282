"""Runs the local control plane as processes: start, wait until ready, stop exactly what it started.

A cluster lives in one directory (certificates, kubeconfigs, etcd data, logs, state.json with pids
and ports). Ports are picked free at start, so two clusters with different names never collide.
What each component runs with is controlplane.py's; how a process is started and stopped, processes.py's.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vwclass.testenv import TestenvError, build, controlplane, pki, processes, realnode

# Order matters: each component needs the ones before it.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
FAKE_NODES = 4
# Set to 1 to start the controller manager and scheduler with tuned clients (controlplane.TUNED_CLIENT_FLAGS).
TUNED_CLIENTS_ENV = "VWCLASS_TESTENV_TUNED_CLIENTS"


@dataclass(frozen=True)
class NodeShape:
    """What one kwok node advertises. The default is a kubelet's: 110 pods (what MicroK8s, kind, k3s
    and kubeadm keep), on the machine a class often gets: a Chameleon bare-metal node of 48 CPUs, 187Gi."""

    cpu: str = "48"
    memory: str = "187Gi"
    pods: int = 110


def clusters_root() -> Path:
    override = os.environ.get("VWCLASS_TESTENV_DIR")
    if override:
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "vwclass" / "clusters"


@dataclass
class Cluster:
    """One local control plane, addressed by name; its state is kept in its directory."""

    name: str = "default"
    root: Path = field(default_factory=clusters_root)
    # How `up` shapes the cluster: how many kwok nodes, each of what shape, and whether the controller
    # manager and scheduler get tuned clients (stock unless VWCLASS_TESTENV_TUNED_CLIENTS=1).
    nodes: int = FAKE_NODES
    node_shape: NodeShape = field(default_factory=NodeShape)
    tuned_clients: bool = field(default_factory=lambda: os.environ.get(TUNED_CLIENTS_ENV) == "1")

    @property
    def directory(self) -> Path:
        return self.root / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def log(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, object]:
        return processes.read_state(self.state_file)

    def _save(self, state: dict[str, object]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))

    def pids(self) -> dict[str, int]:
        pids = self.state().get("pids", {})
        return {k: int(v) for k, v in pids.items()} if isinstance(pids, dict) else {}

    def running(self) -> dict[str, bool]:
        return {c: processes.alive(pid, c) for c, pid in self.pids().items()}

    def is_up(self) -> bool:
        running = self.running()
        return bool(running) and all(running.get(c, False) for c in COMPONENTS)

    def ports(self) -> dict[str, int]:
        ports = self.state().get("ports", {})
        return {k: int(v) for k, v in ports.items()} if isinstance(ports, dict) else {}

    @property
    def address(self) -> str:
        """Where the API server listens: the real node's address when there is one (pods reach it)."""
        return str(self.state().get("address", "127.0.0.1"))

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.ports()['apiserver']}"

    # -- up / down ---------------------------------------------------------------------------
    def up(self, real_node: bool = False) -> None:
        """Starts every component (building binaries first if needed) and waits until Ready; with
        real_node, also a real node (realnode.py), undone again if any step fails."""
        if self.is_up():
            return
        if self.pids() or realnode.RealNode(self).state():
            self.down()  # a half-dead previous run: clear it before starting afresh
        bin_dir = build.ensure_binaries()
        if not real_node:
            self._up(bin_dir, None)
            return
        node = realnode.RealNode(self)
        try:
            node.prepare()
            self._up(bin_dir, node)
            node.start()
        except BaseException:
            # Undo the machine's changes and stop the processes, but keep the logs the error names.
            node.down()
            for component in reversed(COMPONENTS):
                self.stop(component)
            raise

    def _up(self, bin_dir: Path, node: realnode.RealNode | None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "pki"):
            (self.directory / sub).mkdir(exist_ok=True)
        address = realnode.NODE_IP if node else "127.0.0.1"
        pki.generate(self.directory / "pki", node_ip=realnode.NODE_IP if node else None, node_name=realnode.NODE_NAME)
        requested = os.environ.get("VWCLASS_TESTENV_APISERVER_PORT")
        ports = {
            "apiserver": int(requested) if requested else processes.free_port(),
            "etcd": processes.free_port(),
            "etcd-peer": processes.free_port(),
            "controller-manager": processes.free_port(),
            "scheduler": processes.free_port(),
            "kwok": processes.free_port(),
        }
        for purpose, port in ports.items():
            if not processes.port_is_free(port):
                raise TestenvError(f"port {port} (for {purpose}) is already taken on 127.0.0.1")
        self._save(
            {
                "bin": str(bin_dir),
                "ports": ports,
                "pids": {},
                "address": address,
                "real_node": bool(node),
                "tuned_clients": self.tuned_clients,
            }
        )
        controlplane.write_kubeconfigs(self)
        controlplane.write_scheduler_config(self)
        for component in COMPONENTS:
            self.start(component)
            if component == "etcd":
                self._wait_http(f"http://127.0.0.1:{ports['etcd']}/health", "etcd")
            elif component == "kube-apiserver":
                self.wait_apiserver()
        self._register_cluster_objects()

    def down(self) -> None:
        """Stops exactly the processes this cluster started (and undoes its real node), then removes
        its directory."""
        realnode.RealNode(self).down()
        for component in reversed(COMPONENTS):
            self.stop(component)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- single components (the reliability tests stop and start them) -------------------------
    def start(self, component: str) -> None:
        state = self.state()
        argv = controlplane.argv(self, component, Path(str(state["bin"])))

        def record(pid: int) -> None:
            state["pids"] = {**self.pids(), component: pid}
            self._save(state)

        processes.start(component, argv, self.log(component), record, cwd=self.directory)

    def stop(self, component: str, timeout: float = 15.0) -> None:
        pid = self.pids().get(component)
        if pid is not None:
            processes.stop(pid, component, timeout)

    def retune(self, tuned: bool) -> None:
        """Restarts the controller manager and scheduler with tuned (or stock) clients; a test that needs
        tuned ones sets them, then puts stock ones back."""
        state = self.state()
        if bool(state.get("tuned_clients")) == tuned:
            return
        state["tuned_clients"] = tuned
        self._save(state)
        controlplane.write_scheduler_config(self)
        for component in ("kube-controller-manager", "kube-scheduler"):
            self.stop(component)
            self.start(component)

    # -- nodes -----------------------------------------------------------------------------------
    def add_nodes(self, count: int, shape: NodeShape | None = None, prefix: str = "kwok-extra") -> list[str]:
        """Registers `count` more kwok nodes of `shape` (kwok runs them at once) and waits until Ready."""
        existing = {line.strip().removeprefix("node/") for line in self.kubectl("get", "nodes", "-o", "name").split()}
        names: list[str] = []
        index = 0
        while len(names) < count:
            name = f"{prefix}-{index}"
            index += 1
            if name not in existing:
                names.append(name)
        self._apply([_fake_node(name, shape or self.node_shape) for name in names])
        self.kubectl("wait", "--for=condition=Ready", *(f"node/{n}" for n in names), "--timeout=60s", timeout=90)
        return names

    def remove_nodes(self, names: list[str]) -> None:
        if names:
            self.kubectl("delete", "node", "--wait=false", "--ignore-not-found", *names)

    def cordon(self, names: list[str], cordoned: bool = True) -> None:
        """Marks nodes unschedulable (or schedulable again), as `kubectl cordon` does."""
        for name in names:
            self.kubectl("patch", "node", name, "-p", json.dumps({"spec": {"unschedulable": cordoned}}))

    # -- waiting -------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        pki_dir = self.directory / "pki"
        context = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        context.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        return context

    def _wait_http(
        self, url: str, component: str, timeout: float = 90.0, context: ssl.SSLContext | None = None
    ) -> None:
        last = ""

        def answers() -> bool:
            nonlocal last
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
                return False

        def running() -> bool:
            pid = self.pids().get(component)
            return pid is None or processes.alive(pid, component)

        processes.wait_until(answers, component, running, self.log(component), timeout, 0.3, why_not=lambda: last)

    def wait_apiserver(self, timeout: float = 90.0) -> None:
        self._wait_http(f"{self.server}/readyz", "kube-apiserver", timeout, self._ssl_context())

    def kubectl(self, *args: str, timeout: float = 60.0) -> str:
        binary = Path(str(self.state()["bin"])) / "kubectl"
        result = subprocess.run(
            [str(binary), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise TestenvError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def _register_cluster_objects(self) -> None:
        """Fake nodes (no taint, so unmodified manifests schedule) and a default StorageClass."""
        self._apply(
            [_storage_class(real_node=bool(self.state().get("real_node")))]
            + [_fake_node(f"kwok-node-{i}", self.node_shape) for i in range(self.nodes)]
        )
        self.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s", timeout=90)

    def _apply(self, documents: list[dict[str, object]]) -> None:
        manifest = self.directory / "cluster-objects.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}))
        deadline = time.monotonic() + 60
        while True:
            try:
                self.kubectl("apply", "--server-side", "-f", str(manifest))
                break
            except TestenvError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)  # the apiserver may still be bootstrapping its RBAC roles


def _fake_node(name: str, shape: NodeShape) -> dict[str, object]:
    capacity = {"cpu": shape.cpu, "memory": shape.memory, "pods": str(shape.pods), "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def _storage_class(real_node: bool) -> dict[str, object]:
    """The default StorageClass; with a real node, served by localpath.py so non-root pods can write."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "testenv-hostpath",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "vwclass.testenv/local-path" if real_node else "kubernetes.io/host-path",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
