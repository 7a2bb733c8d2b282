"""One real node beside the kwok nodes: containerd, kubelet, kube-proxy, kube-router and CoreDNS here.

Everything it changes on the machine (processes, interfaces, iptables chains, ipsets, mounts,
cgroups, sysctls, paths) is recorded in <cluster>/node/state.json so `down` undoes exactly that.
Its names and addresses are fixed, so one real node exists per machine (a lock file says whose).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vwclass.testenv import TestenvError, build, clusterdns, hostcleanup, images, processes, syspackages

if TYPE_CHECKING:
    from vwclass.testenv.cluster import Cluster

NODE_NAME = "vwclass-real-node"
NODE_IP = "10.222.0.1"  # on an empty bridge of its own: this kernel has no dummy links
# The cgroup v1 hierarchy the kubelet and runc use (real-node.md: these machines have no cgroup v2).
CGROUP_ROOT = Path("/sys/fs/cgroup")
NODE_BRIDGE = "vwc-node0"
CNI_BRIDGE = "vwc-cni0"
POD_SUBNET = "10.223.0.0/24"  # clear of the service range and of kwok's pod addresses
LABEL = "vwclass.testenv/real-node"
LOCK = Path("/run/vwclass-testenv-real-node")
CONTAINERD_STATE = Path("/run/vwclass-testenv/containerd")
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "kube-router", "local-path")
# Components run by Python (whichever interpreter `up` used): known by the module in their command line.
PYTHON_MODULES = {"local-path": "vwclass.testenv.localpath"}
# Set by the kubelet, the bridge plugin (ip_forward), kube-proxy and us; restored on down.
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
# Paths the kubelet and containerd use whatever their root directories: removed if we made them.
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
    "/run/netns",
)
NEEDED = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "ipset": "ipset",
    "ip": "iproute2",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}
APT_PACKAGES = " ".join(syspackages.GROUPS["real-node"])


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _alive(pid: int, component: str) -> bool:
    return processes.alive(pid, component, PYTHON_MODULES.get(component))


def _kill(pid: int, component: str, timeout: float = 10.0) -> None:
    processes.stop(pid, component, timeout, PYTHON_MODULES.get(component))


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


class RealNode:
    """The real node of one cluster; its state lives in <cluster>/node."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.directory = cluster.directory / "node"

    # -- state ---------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def state(self) -> dict[str, object]:
        return processes.read_state(self.state_file)

    def _update(self, **changes: object) -> None:
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state, indent=2))

    def log(self, component: str) -> Path:
        return self.cluster.directory / "logs" / f"{component}.log"

    @property
    def socket(self) -> Path:
        return self.directory / "containerd.sock"

    def ctr(self) -> list[str]:
        return ["ctr", "--address", str(self.socket), "--namespace", "k8s.io"]

    # -- before the control plane starts -------------------------------------------------------
    def prepare(self) -> dict[str, Path]:
        """Checks the machine, takes the lock, builds what the node runs and adds the node's address.
        Returns the tools' bin directories."""
        if os.geteuid() != 0:
            raise TestenvError("--real-node needs root (it runs containerd and a kubelet on this machine)")
        self._lock()
        self._check_machine()
        self.directory.mkdir(parents=True, exist_ok=True)
        sysctls = {name: _sysctl_path(name).read_text().strip() for name in SYSCTLS if _sysctl_path(name).exists()}
        ipsets = _run("ipset", "list", "-n").stdout.split()
        netns = sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").exists() else []
        created = [p for p in HOST_PATHS if not Path(p).exists()]
        self._update(sysctls=sysctls, ipsets_before=ipsets, netns_before=netns, created_paths=created, pids={})
        tools = {m.directory: build.ensure_tool(m) for m in (build.KUBE_ROUTER, build.COREDNS)}
        self._update(tools={k: str(v) for k, v in tools.items()})
        images.pause_image()
        for command in (
            ("ip", "link", "add", NODE_BRIDGE, "type", "bridge"),
            ("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE),
            ("ip", "link", "set", NODE_BRIDGE, "up"),
        ):
            result = _run(*command)
            if result.returncode != 0:
                raise TestenvError(f"{' '.join(command)}: {result.stderr.strip()}")
        return tools

    def _check_machine(self) -> None:
        for command, package in NEEDED.items():
            if not (Path(command).exists() if command.startswith("/") else shutil.which(command)):
                raise TestenvError(
                    f"{command} is missing: apt-get install {package} (the real node needs {APT_PACKAGES})"
                )
        for controller in ("cpu", "memory", "pids"):
            probe = CGROUP_ROOT / controller / "vwclass-testenv-probe"
            try:
                probe.mkdir(exist_ok=True)
                probe.rmdir()
            except OSError as error:
                raise TestenvError(f"cgroups unusable: cannot create a {controller} cgroup ({error})") from None
        taken = _run("ip", "-o", "addr", "show", "to", f"{NODE_IP}/32").stdout.strip()
        if taken:
            raise TestenvError(f"the real node's address {NODE_IP} is already taken: {taken.split()[1]}")
        for link in (NODE_BRIDGE, CNI_BRIDGE):
            if _run("ip", "link", "show", link).returncode == 0:
                raise TestenvError(
                    f"interface {link} already exists (left by an earlier real node? `ip link del {link}`)"
                )

    def _lock(self) -> None:
        try:
            owner = Path(LOCK.read_text().strip())
        except OSError:
            owner = None
        if owner is not None and owner != self.cluster.directory and (owner / "node" / "state.json").exists():
            raise TestenvError(
                f"a real node already runs on this machine (cluster '{owner.name}'); only one fits: "
                f"python -m vwclass.testenv down --name {owner.name}"
            )
        LOCK.write_text(str(self.cluster.directory))

    # -- after the control plane is up ---------------------------------------------------------
    def start(self) -> None:
        """Starts containerd and the kubelet, waits until the node is Ready, then the network parts."""
        started = time.monotonic()
        for name in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"):
            _sysctl_path(name).write_text("1")  # kube-proxy and the policy rules see bridged traffic
        self._write_configs()
        self._spawn("containerd", ["containerd", "--config", str(self.directory / "containerd.toml")])
        self._wait("containerd", lambda: _run(*self.ctr(), "version").returncode == 0, 30, interval=0.3)
        images.import_image(self.ctr(), images.pause_image(), self.log("containerd-imports"))
        bin_dir = Path(str(self.cluster.state()["bin"]))
        ports = {k: int(v) for k, v in dict(self.state().get("ports", {})).items()}  # type: ignore[call-overload]
        tools = {k: Path(str(v)) for k, v in dict(self.state().get("tools", {})).items()}  # type: ignore[call-overload]
        self._spawn(
            "kubelet",
            [
                str(bin_dir / "kubelet"),
                f"--config={self.directory / 'kubelet.yaml'}",
                f"--kubeconfig={self.directory / 'kubelet.kubeconfig'}",
                f"--root-dir={self.directory / 'kubelet'}",
                f"--node-ip={NODE_IP}",
                f"--hostname-override={NODE_NAME}",
                f"--node-labels={LABEL}=true",
            ],
        )
        self._wait(
            "kubelet",
            lambda: (
                "True"
                in self._kubectl_quiet(
                    "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
                )
            ),
            180,
        )
        self._spawn(
            "kube-proxy",
            [
                str(bin_dir / "kube-proxy"),
                f"--kubeconfig={self.directory / 'kube-proxy.kubeconfig'}",
                "--proxy-mode=iptables",
                f"--hostname-override={NODE_NAME}",
                f"--cluster-cidr={POD_SUBNET}",
                "--conntrack-max-per-core=0",  # leave the conntrack sysctls alone
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy-healthz']}",
                f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
            ],
        )
        self._spawn(
            "kube-router",
            [
                str(tools["kube-router"] / "kube-router"),
                f"--kubeconfig={self.directory / 'kube-router.kubeconfig'}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                "--enable-ipv6=false",
                "--metrics-port=0",
                "--health-port=0",
                f"--service-cluster-ip-range={_service_cidr()}",
            ],
        )
        # Volumes of the default StorageClass that a non-root pod can write (localpath.py says why).
        self._spawn(
            "local-path",
            [
                sys.executable,
                "-m",
                PYTHON_MODULES["local-path"],
                f"--server={self.cluster.server}",
                f"--pki={self.cluster.directory / 'pki'}",
                f"--root={self.directory / 'volumes'}",
            ],
        )
        # Cluster DNS as a pod (clusterdns.py): its image holds the CoreDNS binary built here.
        self.import_image(images.binary_image(tools["coredns"] / "coredns", clusterdns.REFERENCE))
        self.cluster.kubectl("apply", "--server-side", "-f", str(clusterdns.write(self.directory, LABEL)))
        self._wait("kubelet", self._dns_ready, 120, what="cluster DNS (the coredns pod in kube-system)")
        build._say(f"real node {NODE_NAME} ready in {time.monotonic() - started:.0f}s")

    def _dns_ready(self) -> bool:
        ready = self._kubectl_quiet(
            "get", "deployment", "coredns", "-n", "kube-system", "-o", "jsonpath={.status.readyReplicas}"
        )
        return ready.strip() == "1"

    def _kubectl_quiet(self, *args: str) -> str:
        try:
            return self.cluster.kubectl(*args)
        except TestenvError:
            return ""

    def _running(self, component: str) -> bool:
        pid = dict(self.state().get("pids", {})).get(component)  # type: ignore[call-overload]
        return pid is not None and _alive(int(pid), component)

    def _wait(
        self, component: str, ready: Callable[[], bool], timeout: float, what: str = "", interval: float = 0.5
    ) -> None:
        processes.wait_until(
            ready, component, lambda: self._running(component), self.log(component), timeout, interval, what
        )

    def _spawn(self, component: str, argv: list[str]) -> None:
        def record(pid: int) -> None:
            pids = dict(self.state().get("pids", {}))  # type: ignore[call-overload]
            self._update(pids={**pids, component: pid})

        processes.start(component, argv, self.log(component), record, settle=0.3)

    def running(self) -> dict[str, tuple[int, bool]]:
        """Each component's pid and whether it still runs (for `status`)."""
        pids = {k: int(v) for k, v in dict(self.state().get("pids", {})).items()}  # type: ignore[call-overload]
        return {component: (pid, _alive(pid, component)) for component, pid in pids.items()}

    def import_image(self, archive: Path) -> None:
        """Loads an image archive (images.py) into the node's containerd, under its own reference."""
        images.import_image(self.ctr(), archive, self.log("containerd-imports"))

    def _write_configs(self) -> None:
        from vwclass.testenv import nodeconfig

        ports = nodeconfig.write_all(self)
        self._update(ports=ports)

    # -- down ----------------------------------------------------------------------------------
    def down(self) -> None:
        """Undoes everything prepare() and start() did, in reverse; safe to run twice."""
        state = self.state()
        try:
            if Path(LOCK.read_text().strip()) == self.cluster.directory:
                LOCK.unlink()
        except OSError:
            pass
        if not state:
            return
        pids = {k: int(v) for k, v in dict(state.get("pids", {})).items()}  # type: ignore[call-overload]
        for component in reversed(COMPONENTS):
            if component in pids and component != "containerd":
                _kill(pids[component], component)
        hostcleanup.kill_cgroup_processes()
        for pid in hostcleanup.shims(self.socket):
            _kill(pid, "containerd-shim-runc-v2", timeout=3)
        if "containerd" in pids:
            _kill(pids["containerd"], "containerd")
        netns_before = set(state.get("netns_before", []))  # type: ignore[call-overload]
        hostcleanup.unmount_under([self.directory, CONTAINERD_STATE, Path("/var/lib/kubelet")])
        for path in Path("/run/netns").glob("cni-*") if Path("/run/netns").exists() else []:
            if path.name not in netns_before:
                _run("umount", "-l", str(path))
                path.unlink(missing_ok=True)
        for link in (CNI_BRIDGE, NODE_BRIDGE):
            _run("ip", "link", "del", link)
        hostcleanup.remove_iptables_chains()
        before = set(state.get("ipsets_before", []))  # type: ignore[call-overload]
        for name in _run("ipset", "list", "-n").stdout.split():
            if name not in before:
                _run("ipset", "destroy", name)
        hostcleanup.remove_cgroups()
        for name, value in dict(state.get("sysctls", {})).items():  # type: ignore[call-overload]
            path = _sysctl_path(name)
            if path.exists() and path.read_text().strip() != value:
                path.write_text(value)
        for created in state.get("created_paths", []):  # type: ignore[attr-defined]
            shutil.rmtree(created, ignore_errors=True)
        shutil.rmtree(CONTAINERD_STATE.parent, ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def _service_cidr() -> str:
    from vwclass.testenv.controlplane import SERVICE_CIDR

    return SERVICE_CIDR


def apiserver_args(pki: Path) -> list[str]:
    """What the API server needs to reach the kubelet for logs, exec and port-forward."""
    return [
        "--kubelet-preferred-address-types=InternalIP,Hostname",  # the node's name does not resolve
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
    ]
