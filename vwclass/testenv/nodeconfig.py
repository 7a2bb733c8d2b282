"""The real node's configuration files: containerd, CNI, kubelet and kubeconfigs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from vwclass.core import presets
from vwclass.testenv import clusterdns, controlplane, images, processes

if TYPE_CHECKING:
    from vwclass.testenv.realnode import RealNode


def write_all(node: RealNode) -> dict[str, int]:
    """Writes every file the node's components read; returns the ports chosen for them."""
    from vwclass.testenv.realnode import CNI_BRIDGE, CONTAINERD_STATE, LABEL, NODE_IP, POD_SUBNET

    directory = node.directory
    pki = node.cluster.directory / "pki"
    ports = {
        name: processes.free_port()
        for name in ("kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics")
    }
    cni_dir = directory / "cni"
    cni_dir.mkdir(exist_ok=True)
    CONTAINERD_STATE.mkdir(parents=True, exist_ok=True)
    # containerd 1.6 (config version 2): its own root, state and socket, so a machine's own containerd
    # (if any) is untouched; restrict_oom_score_adj because root here lacks CAP_SYS_RESOURCE.
    (directory / "containerd.toml").write_text(
        f"""version = 2
root = "{directory / "containerd"}"
state = "{CONTAINERD_STATE}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{node.socket}"
[ttrpc]
  address = "{directory / "containerd.ttrpc.sock"}"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE_REFERENCE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni_dir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
"""
    )
    gateway = POD_SUBNET.rsplit(".", 1)[0] + ".1"
    (cni_dir / "10-vwclass.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": "vwclass-testenv",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": CNI_BRIDGE,
                        "isGateway": True,
                        "ipMasq": True,
                        "hairpinMode": True,  # a pod reaches its own Service
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": POD_SUBNET, "gateway": gateway}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(directory / "cni-ipam"),
                        },
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                ],
            },
            indent=2,
        )
    )
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # cgroup v1 is all this machine offers (refused by default since 1.35)
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [clusterdns.DNS_SERVICE_IP],
        "clusterDomain": "cluster.local",
        "resolvConf": str(directory / "resolv.conf"),
        # Imported images cannot be pulled again: never collect them, and evict only when truly full.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "registerWithTaints": [{"key": LABEL, "value": "true", "effect": "NoSchedule"}],
        "serializeImagePulls": False,
        "maxPods": 110,
        # A fork bomb in one student's pod stops at its own pod (presets.POD_PIDS_LIMIT explains).
        "podPidsLimit": presets.POD_PIDS_LIMIT,
    }
    (directory / "resolv.conf").write_text("nameserver 127.0.0.1\n")  # pods use clusterDNS; no upstream here
    (directory / "kubelet.yaml").write_text(json.dumps(kubelet, indent=2))
    for user in ("kubelet", "kube-proxy", "kube-router"):
        path = directory / f"{user}.kubeconfig"
        path.write_text(controlplane.kubeconfig_text(node.cluster, user))
        path.chmod(0o600)
    return ports
