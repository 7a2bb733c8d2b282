"""The control plane's command lines and configuration files: what each component of a Cluster runs with.

cluster.py starts and stops the components; this module only says how: their arguments, the
kubeconfigs they (and the admin) use, and the scheduler's configuration file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vwclass.testenv import realnode

if TYPE_CHECKING:
    from vwclass.testenv.cluster import Cluster

# Room for 500 students x 4 Services (a /24 runs out at ~60 students).
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.200.0.1/16"
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


def kubeconfig_text(cluster: Cluster, user: str) -> str:
    """A kubeconfig for `user`, by the client certificate pki.py made for that user."""
    pki_dir = cluster.directory / "pki"
    name = f"vwclass-{cluster.name}"
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n"
        f"    server: {cluster.server}\n    certificate-authority: {pki_dir / 'ca.crt'}\n"
        f"users:\n- name: {user}\n  user:\n"
        f"    client-certificate: {pki_dir / (user + '.crt')}\n    client-key: {pki_dir / (user + '.key')}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {user}\n"
        f"current-context: {name}\n"
    )


def write_kubeconfigs(cluster: Cluster) -> None:
    """The admin's kubeconfig (the one `up` prints) and those of the controller manager and scheduler."""
    cluster.kubeconfig.write_text(kubeconfig_text(cluster, "admin"))
    for user in ("controller-manager", "scheduler"):
        (cluster.directory / f"{user}.kubeconfig").write_text(kubeconfig_text(cluster, user))
    for path in cluster.directory.glob("*kubeconfig"):
        path.chmod(0o600)


def write_scheduler_config(cluster: Cluster) -> None:
    # Stock client limits (50 QPS, burst 100) unless tuned clients were asked for.
    limits = "  qps: 500\n  burst: 1000\n" if cluster.state().get("tuned_clients") else ""
    (cluster.directory / "scheduler.yaml").write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
        f"clientConnection:\n  kubeconfig: {cluster.directory / 'scheduler.kubeconfig'}\n{limits}"
        "leaderElection:\n  leaderElect: false\n"
    )


def argv(cluster: Cluster, component: str, bin_dir: Path) -> list[str]:
    """The command line of one component, from the ports and settings in the cluster's state."""
    ports = cluster.ports()
    directory = cluster.directory
    pki_dir = directory / "pki"
    binary = str(bin_dir / component)
    if component == "etcd":
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        client = f"http://127.0.0.1:{ports['etcd']}"
        return [
            binary,
            "--name=vwclass",
            f"--data-dir={directory / 'etcd'}",
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
            f"--bind-address={cluster.address}",
            f"--advertise-address={cluster.address}",
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
            f"--cert-dir={directory / 'pki'}",
            *(realnode.apiserver_args(pki_dir) if cluster.state().get("real_node") else []),
        ]
    if component == "kube-controller-manager":
        kubeconfig = directory / "controller-manager.kubeconfig"
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
            *(TUNED_CLIENT_FLAGS if cluster.state().get("tuned_clients") else ()),
            # After an outage of the control plane a kubelet sets its pods Ready again; kwok never
            # does. So a node is not declared lost over an outage the reliability tests cause.
            "--node-monitor-grace-period=5m",
        ]
    if component == "kube-scheduler":
        kubeconfig = directory / "scheduler.kubeconfig"
        return [
            binary,
            f"--config={directory / 'scheduler.yaml'}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
        ]
    if component == "kwok":
        return [
            binary,
            f"--kubeconfig={cluster.kubeconfig}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}",
            "--node-ip=10.200.0.1",
            # Heartbeats through Leases, as kubelets do; without them the node controller sees
            # stale nodes now and then and marks every pod on them not Ready.
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{ports['kwok']}",
        ]
    raise ValueError(component)
