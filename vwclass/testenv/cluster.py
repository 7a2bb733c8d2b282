"""Runs the local control plane as processes: start, wait until ready, stop exactly what it started.

A cluster lives in one directory (certificates, kubeconfigs, etcd data, logs, state.json with pids
and ports). Ports are picked free at start, so two clusters with different names never collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vwclass.testenv import TestenvError, build, pki, realnode

# Order matters: each component needs the ones before it.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Room for 500 students x 4 Services (a /24 runs out at ~60 students).
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.200.0.1/16"
FAKE_NODES = 4
# Set to 1 to start the controller manager and scheduler with tuned clients (see TUNED_CLIENT_FLAGS).
TUNED_CLIENTS_ENV = "VWCLASS_TESTENV_TUNED_CLIENTS"
# Opt-in only: client limits and worker counts of a busy, tuned cluster. Stock settings (20 QPS/30 burst
# per controller client, 50/100 for the scheduler) are what a classroom's MicroK8s or kubeadm runs, so
# they are the default; a test whose point is the operator's own throughput on hundreds of students
# opts in (Cluster.retune) and says why.
TUNED_CLIENT_FLAGS = (
    "--kube-api-qps=500",
    "--kube-api-burst=1000",
    "--concurrent-namespace-syncs=30",
    "--concurrent-deployment-syncs=20",
    "--concurrent-replicaset-syncs=20",
    "--concurrent-statefulset-syncs=20",
    "--concurrent-gc-syncs=40",
)


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int, binary: str) -> bool:
    """True when pid is running and is our binary (a reused pid is somebody else's process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return Path(cmdline).name == binary


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
        try:
            loaded: dict[str, object] = json.loads(self.state_file.read_text())
            return loaded
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict[str, object]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))

    def pids(self) -> dict[str, int]:
        pids = self.state().get("pids", {})
        return {k: int(v) for k, v in pids.items()} if isinstance(pids, dict) else {}

    def running(self) -> dict[str, bool]:
        return {c: _alive(pid, c) for c, pid in self.pids().items()}

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
            "apiserver": int(requested) if requested else _free_port(),
            "etcd": _free_port(),
            "etcd-peer": _free_port(),
            "controller-manager": _free_port(),
            "scheduler": _free_port(),
            "kwok": _free_port(),
        }
        for purpose, port in ports.items():
            if not _port_is_free(port):
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
        self._write_kubeconfigs()
        self._write_scheduler_config()
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
        argv = self._argv(component, Path(str(state["bin"])))
        log = self.log(component).open("a")
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `up`, and a Ctrl-C in the caller's terminal
            cwd=self.directory,
        )
        pids = dict(self.pids())
        pids[component] = process.pid
        state["pids"] = pids
        self._save(state)
        time.sleep(0.2)
        if process.poll() is not None:
            raise TestenvError(f"{component} exited at once (code {process.returncode}); see {self.log(component)}")

    def stop(self, component: str, timeout: float = 15.0) -> None:
        pid = self.pids().get(component)
        if pid is None or not _alive(pid, component):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid, component) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, component):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child

    def retune(self, tuned: bool) -> None:
        """Restarts the controller manager and scheduler with tuned (or stock) clients; a test that needs
        tuned ones sets them, then puts stock ones back."""
        state = self.state()
        if bool(state.get("tuned_clients")) == tuned:
            return
        state["tuned_clients"] = tuned
        self._save(state)
        self._write_scheduler_config()
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
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            pid = self.pids().get(component)
            if pid is not None and not _alive(pid, component):
                raise TestenvError(f"{component} stopped while starting; see {self.log(component)}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.3)
        raise TestenvError(f"{component} not ready after {timeout:.0f}s ({last}); see {self.log(component)}")

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

    # -- configuration -------------------------------------------------------------------------
    def _kubeconfig_text(self, user: str) -> str:
        pki_dir = self.directory / "pki"
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: vwclass-{self.name}\n  cluster:\n"
            f"    server: {self.server}\n    certificate-authority: {pki_dir / 'ca.crt'}\n"
            f"users:\n- name: {user}\n  user:\n"
            f"    client-certificate: {pki_dir / (user + '.crt')}\n    client-key: {pki_dir / (user + '.key')}\n"
            f"contexts:\n- name: vwclass-{self.name}\n  context:\n    cluster: vwclass-{self.name}\n    user: {user}\n"
            f"current-context: vwclass-{self.name}\n"
        )

    def _write_kubeconfigs(self) -> None:
        self.kubeconfig.write_text(self._kubeconfig_text("admin"))
        for user in ("controller-manager", "scheduler"):
            (self.directory / f"{user}.kubeconfig").write_text(self._kubeconfig_text(user))
        for path in self.directory.glob("*kubeconfig"):
            path.chmod(0o600)

    def _write_scheduler_config(self) -> None:
        # Stock client limits (50 QPS, burst 100) unless tuned clients were asked for.
        limits = "  qps: 500\n  burst: 1000\n" if self.state().get("tuned_clients") else ""
        (self.directory / "scheduler.yaml").write_text(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
            f"clientConnection:\n  kubeconfig: {self.directory / 'scheduler.kubeconfig'}\n{limits}"
            "leaderElection:\n  leaderElect: false\n"
        )

    def _argv(self, component: str, bin_dir: Path) -> list[str]:
        ports = self.ports()
        pki_dir = self.directory / "pki"
        binary = str(bin_dir / component)
        if component == "etcd":
            peer = f"http://127.0.0.1:{ports['etcd-peer']}"
            client = f"http://127.0.0.1:{ports['etcd']}"
            return [
                binary,
                "--name=vwclass",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=vwclass={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]
        if component == "kube-apiserver":
            return [
                binary,
                f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={ports['apiserver']}",
                f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
                f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
                f"--client-ca-file={pki_dir / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki_dir / 'sa.pub'}",
                f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={self.directory / 'pki'}",
                *(realnode.apiserver_args(pki_dir) if self.state().get("real_node") else []),
            ]
        if component == "kube-controller-manager":
            kubeconfig = self.directory / "controller-manager.kubeconfig"
            return [
                binary,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['controller-manager']}",
                f"--root-ca-file={pki_dir / 'ca.crt'}",
                f"--service-account-private-key-file={pki_dir / 'sa.key'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                # PersistentVolumeClaims bind here as on MicroK8s' hostpath-storage (local-only, test use).
                "--enable-hostpath-provisioner=true",
                *(TUNED_CLIENT_FLAGS if self.state().get("tuned_clients") else ()),
                # After an outage of the control plane a kubelet sets its pods Ready again; kwok never
                # does. So a node is not declared lost over an outage the reliability tests cause.
                "--node-monitor-grace-period=5m",
            ]
        if component == "kube-scheduler":
            kubeconfig = self.directory / "scheduler.kubeconfig"
            return [
                binary,
                f"--config={self.directory / 'scheduler.yaml'}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
            ]
        if component == "kwok":
            return [
                binary,
                f"--kubeconfig={self.kubeconfig}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.200.0.1",
                # Heartbeats through Leases, as kubelets do; without them the node controller sees
                # stale nodes now and then and marks every pod on them not Ready.
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{ports['kwok']}",
            ]
        raise ValueError(component)

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
