"""The real node: it joins the local control plane Ready, runs a pod from a locally built image with
logs, exec and cluster DNS working, refuses a second real node, and `down` leaves nothing of ours."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vwclass import testenv
from vwclass.testenv import images, realnode
from vwclass.testenv.cluster import Cluster

pytestmark = [pytest.mark.realnode, pytest.mark.realnode_alone]

OUR_BINARIES = ("kubelet", "kube-proxy", "kube-router", "coredns", "containerd", "containerd-shim-runc-v2")


def _sh(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True).stdout


def _machine() -> dict[str, object]:
    """What the real node may change on this machine, to compare before up and after down."""
    return {
        "sysctls": {name: realnode._sysctl_path(name).read_text().strip() for name in realnode.SYSCTLS},
        "ipsets": sorted(_sh("ipset", "list", "-n").split()),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in _sh("ip", "-o", "link").splitlines()),
        "paths": sorted(p for p in realnode.HOST_PATHS if Path(p).exists()),
    }


def _our_processes() -> list[str]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            argv0 = argv[0]
        except OSError:
            continue
        if Path(argv0).name in OUR_BINARIES or realnode.PYTHON_MODULES["local-path"] in argv:
            found.append(f"{proc.name} {argv0}")
    return found


@pytest.fixture(scope="module")
def machine_before() -> dict[str, object]:
    return _machine()


@pytest.fixture(scope="module")
def cluster(machine_before: dict[str, object]) -> Iterator[Cluster]:
    cluster = Cluster(f"pytest-realnode-{os.getpid()}")
    started = time.monotonic()
    cluster.up(real_node=True)
    print(f"\nreal-node cluster up in {time.monotonic() - started:.1f}s")
    try:
        yield cluster
    finally:
        cluster.down()


def test_a_machine_without_containerd_gets_one_line_and_no_leftovers(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = Cluster(f"pytest-realnode-bare-{os.getpid()}")
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(testenv.TestenvError, match="containerd is missing: apt-get install containerd"):
            bare.up(real_node=True)
        assert not realnode.LOCK.exists()
    finally:
        bare.down()


def test_an_image_build_that_fails_gets_one_line_pointing_at_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    broken = images.DebianImage("vwclass.testenv/broken:1", wheels=(("vwclass-no-such-distribution==0.0.1",),))
    with pytest.raises(testenv.TestenvError) as raised:
        images.debian_image(broken)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("building the wheels of vwclass.testenv/broken:1 failed")
    log = Path(message.rsplit("see ", 1)[1])
    assert log.is_file()
    assert "vwclass-no-such-distribution" in log.read_text()  # pip's own words are in the log it points at
    assert not list(tmp_path.rglob("image.tar")), "no archive is left for a failed build"


def test_unusable_cgroups_get_one_line_and_no_leftovers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No cgroup v1 controllers where the kubelet looks, as on a machine that mounts only cgroup v2.
    monkeypatch.setattr(realnode, "CGROUP_ROOT", tmp_path / "no-cgroup-v1")
    bare = Cluster(f"pytest-realnode-nocgroups-{os.getpid()}")
    try:
        with pytest.raises(testenv.TestenvError, match=r"^cgroups unusable: cannot create a cpu cgroup \(") as raised:
            bare.up(real_node=True)
        assert "\n" not in str(raised.value)
        assert not realnode.LOCK.exists()
    finally:
        bare.down()


def test_an_address_already_taken_gets_one_line_and_no_leftovers() -> None:
    squatter = "vwc-squat0"
    subprocess.run(["ip", "link", "add", squatter, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{realnode.NODE_IP}/32", "dev", squatter], check=True)
        taken = Cluster(f"pytest-realnode-taken-{os.getpid()}")
        with pytest.raises(testenv.TestenvError, match=f"address {realnode.NODE_IP} is already taken: {squatter}"):
            taken.up(real_node=True)
        assert not taken.directory.exists()
        assert not realnode.LOCK.exists()
    finally:
        subprocess.run(["ip", "link", "del", squatter], check=True)


def test_the_node_is_ready_with_the_api_servers_version_label_and_taint(cluster: Cluster) -> None:
    node = json.loads(cluster.kubectl("get", "node", realnode.NODE_NAME, "-o", "json"))
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    server = json.loads(cluster.kubectl("version", "-o", "json"))["serverVersion"]["gitVersion"]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == server
    assert node["metadata"]["labels"][realnode.LABEL] == "true"
    assert {"key": realnode.LABEL, "value": "true", "effect": "NoSchedule"} in node["spec"]["taints"]


def test_a_pod_from_a_local_image_runs_with_logs_exec_and_dns(cluster: Cluster) -> None:
    started = time.monotonic()
    archive = images.debian_image(images.TEST_IMAGE)
    realnode.RealNode(cluster).import_image(archive)
    print(f"\ntest image built (or reused) and imported in {time.monotonic() - started:.1f}s")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {
            "nodeSelector": {realnode.LABEL: "true"},
            "tolerations": [{"key": realnode.LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": images.TEST_IMAGE.reference,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", "echo hello-from-the-real-node; exec sleep 3600"],
                }
            ],
        },
    }
    manifest = cluster.directory / "probe-pod.json"
    manifest.write_text(json.dumps(pod))
    created = time.monotonic()
    cluster.kubectl("apply", "-f", str(manifest))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/probe", "--timeout=120s", timeout=150)
    print(f"pod Ready {time.monotonic() - created:.1f}s after creation")
    assert cluster.kubectl("get", "pod", "probe", "-o", "jsonpath={.spec.nodeName}") == realnode.NODE_NAME
    assert "hello-from-the-real-node" in cluster.kubectl("logs", "probe")
    assert cluster.kubectl("exec", "probe", "--", "cat", "/proc/1/cmdline").startswith("sleep")
    # The search path of the pod's resolv.conf turns kubernetes.default into the Service's name.
    resolved = cluster.kubectl("exec", "probe", "--", "getent", "hosts", "kubernetes.default")
    assert resolved.split()[0] == "10.96.0.1", resolved


def test_network_policy_is_enforced_by_the_kernel_and_dns_to_kube_system_stays_open(cluster: Cluster) -> None:
    """The egress rule every student namespace has (DNS to kube-system only, here) lets names resolve
    and stops a connection to the API server's Service, until the policy is gone."""
    fence = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "dns-only", "namespace": "default"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }
    manifest = cluster.directory / "fence.json"
    manifest.write_text(json.dumps(fence))
    connect = [
        "exec",
        "probe",
        "--",
        "bash",
        "-c",
        'timeout 3 bash -c "</dev/tcp/10.96.0.1/443" 2>/dev/null && echo open || echo shut',
    ]
    assert cluster.kubectl(*connect).strip() == "open"
    cluster.kubectl("apply", "-f", str(manifest))
    deadline = time.monotonic() + 30
    while cluster.kubectl(*connect).strip() != "shut":  # kube-router syncs its rules within seconds
        assert time.monotonic() < deadline, "the NetworkPolicy was not enforced within 30 s"
    assert cluster.kubectl("exec", "probe", "--", "getent", "hosts", "kubernetes.default").split()[0] == "10.96.0.1"
    cluster.kubectl("delete", "-f", str(manifest))


def test_a_non_root_pod_writes_its_claims_volume_and_the_volume_goes_with_the_claim(cluster: Cluster) -> None:
    """The default StorageClass gives a pod running as any uid (RabbitMQ's 100, the data endpoint's
    10001) a volume it can write, and deleting the claim removes the volume and its directory."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "scratch", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
    }
    writer = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "writer", "namespace": "default"},
        "spec": {
            "nodeSelector": {realnode.LABEL: "true"},
            "tolerations": [{"key": realnode.LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "runAsNonRoot": True, "fsGroup": 10001},
            "containers": [
                {
                    "name": "main",
                    "image": images.TEST_IMAGE.reference,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", "echo kept > /data/record && cat /data/record"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "scratch"}}],
        },
    }
    realnode.RealNode(cluster).import_image(images.debian_image(images.TEST_IMAGE))
    manifest = cluster.directory / "writer.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [claim, writer]}))
    cluster.kubectl("apply", "-f", str(manifest))
    cluster.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/writer", "--timeout=120s", timeout=150)
    assert cluster.kubectl("logs", "writer").strip() == "kept"
    volume = cluster.kubectl("get", "pvc", "scratch", "-o", "jsonpath={.spec.volumeName}")
    directory = Path(cluster.kubectl("get", "pv", volume, "-o", "jsonpath={.spec.hostPath.path}"))
    assert (directory / "record").read_text() == "kept\n"
    cluster.kubectl("delete", "-f", str(manifest), "--wait=true", timeout=90)
    deadline = time.monotonic() + 30
    while directory.exists() or cluster.kubectl("get", "pv", "-o", "name").strip():
        assert time.monotonic() < deadline, "the released volume and its directory were not removed within 30 s"
        time.sleep(0.5)


def test_a_second_real_node_on_this_machine_is_refused_in_one_line(cluster: Cluster) -> None:
    other = Cluster(f"pytest-realnode-other-{os.getpid()}")
    try:
        with pytest.raises(
            testenv.TestenvError, match=f"a real node already runs on this machine \\(cluster '{cluster.name}'\\)"
        ):
            other.up(real_node=True)
        assert realnode.RealNode(cluster).state(), "the refused second up must not touch the first node"
        assert not other.directory.exists(), "a refused up creates nothing"
    finally:
        other.down()


def test_down_leaves_no_process_interface_chain_ipset_mount_or_sysctl_of_ours(
    cluster: Cluster, machine_before: dict[str, object]
) -> None:
    started = time.monotonic()
    cluster.down()
    print(f"\nreal-node cluster down in {time.monotonic() - started:.1f}s")
    assert _our_processes() == []
    assert _machine() == machine_before
    dump = _sh("iptables-save") + _sh("ip6tables-save")
    assert "KUBE-" not in dump
    assert "CNI-" not in dump
    mounts = Path("/proc/self/mountinfo").read_text()
    for path in (str(cluster.directory), str(realnode.CONTAINERD_STATE), "/var/lib/kubelet", "/run/netns/cni-"):
        assert path not in mounts
    assert not any(Path("/sys/fs/cgroup").glob("*/kubepods"))
    assert not realnode.LOCK.exists()
