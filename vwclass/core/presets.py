"""Resource presets: how much of the cluster each student namespace may use, by class size setting."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """The ResourceQuota of a student namespace and the plugin runner's share of it."""

    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    storage: str
    pods: int
    runner_request_cpu: str
    runner_request_memory: str
    runner_limit_cpu: str
    runner_limit_memory: str
    # Local disk (container logs, writable layers, emptyDirs): the namespace's totals, and the runner's
    # limit. Past a pod's limit the kubelet evicts that pod alone; with no limit, one student filling a
    # disk would bring DiskPressure and the eviction of every student on the node.
    requests_ephemeral_storage: str
    limits_ephemeral_storage: str
    runner_limit_ephemeral_storage: str
    # ResourceQuota keys that count objects (count/configmaps, services, ...), as (key, limit) pairs.
    object_counts: tuple[tuple[str, int], ...] = ()


def object_counts(data: int, workloads: int, jobs: int, statefulsets: int) -> tuple[tuple[str, int], ...]:
    """How many objects of each kind a student namespace may hold, the node's own included.

    The node itself uses 1-2 ConfigMaps (kube-root-ca.crt, the playback config), 2 Secrets, up to 5
    Services and Deployments and 1 StatefulSet. Each Deployment keeps up to 11 ReplicaSets (its
    revision history), so ReplicaSets get room for the node's 5 and the student's Deployments at that
    depth: a rollout must never stall on the quota. ConfigMaps and Secrets are the kinds built to carry
    data; an admission policy caps each at 64 KiB, so `data` of each bounds a student's share of etcd.
    """
    return (
        ("count/configmaps", data),
        ("count/secrets", data),
        ("services", workloads),
        ("count/deployments.apps", workloads),
        ("count/replicasets.apps", workloads * 11),
        ("count/statefulsets.apps", statefulsets),
        ("count/jobs.batch", jobs),
        ("count/cronjobs.batch", max(2, jobs // 4)),
    )


# The node's own claim takes 3Gi (records, RabbitMQ, uploads and the workspace, in subPaths); the rest
# is the student's, and headroom too: a request aborted mid-way (an operator killed) can leave the quota
# over-charged until Kubernetes recounts it, which must not block a node's own volumes.
# Quantities are written in the API server's canonical form ("500m", "1Gi"), so what we apply reads
# back unchanged and a resync sees no difference.
# The ephemeral limits leave room beside the node (its containers' limits add up to about 1.1Gi plus the
# runner's) for several plugins at CONTAINER_DEFAULTS' 1Gi each.
PRESETS: dict[str, Preset] = {
    "small": Preset(
        "1",
        "2Gi",
        "4",
        "4Gi",
        "10Gi",
        20,
        "100m",
        "256Mi",
        "1",
        "1Gi",
        requests_ephemeral_storage="2Gi",
        limits_ephemeral_storage="10Gi",
        runner_limit_ephemeral_storage="2Gi",
        object_counts=object_counts(16, 10, 10, 3),
    ),
    "medium": Preset(
        "2",
        "4Gi",
        "8",
        "8Gi",
        "20Gi",
        30,
        "250m",
        "512Mi",
        "2",
        "2Gi",
        requests_ephemeral_storage="4Gi",
        limits_ephemeral_storage="20Gi",
        runner_limit_ephemeral_storage="4Gi",
        object_counts=object_counts(24, 15, 20, 5),
    ),
    "large": Preset(
        "4",
        "8Gi",
        "16",
        "16Gi",
        "40Gi",
        50,
        "500m",
        "1Gi",
        "4",
        "4Gi",
        requests_ephemeral_storage="8Gi",
        limits_ephemeral_storage="40Gi",
        runner_limit_ephemeral_storage="8Gi",
        object_counts=object_counts(32, 20, 30, 8),
    ),
}


@dataclass(frozen=True)
class ContainerResources:
    """One container's requests and limits: CPU, memory and local disk (ephemeral storage)."""

    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str
    request_ephemeral_storage: str
    limit_ephemeral_storage: str


# What a container a student runs gets when it names nothing: the LimitRange's defaults, and what every
# plugin pod asks for (so a plugin costs the same whether `vwclass plugin` or kubectl made it). 1Gi of
# disk holds a requirements.txt's wheels; a plugin that writes more is evicted alone.
CONTAINER_DEFAULTS = ContainerResources("50m", "64Mi", "500m", "512Mi", "64Mi", "1Gi")
# The init container that registers a pod's app meta: a redis-cli call.
REGISTER_APP_META = ContainerResources("10m", "16Mi", "100m", "32Mi", "8Mi", "32Mi")
# Each container of a class's image pre-pull pod: /bin/true once per image, then sleep.
PREPULL_CONTAINER = ContainerResources("1m", "8Mi", "100m", "32Mi", "1Mi", "16Mi")
# The node's own containers but the runner (whose share is the preset's). Requests are what an idle node
# uses (bench/realnode_capacity_bench.py); disk is mostly their logs, which the kubelet rotates, and the
# emptyDirs they write (app-meta's Redis file, the data endpoint's /tmp), each capped below its limit.
NODE_CONTAINERS: dict[str, ContainerResources] = {
    "rabbitmq": ContainerResources("25m", "160Mi", "1", "512Mi", "16Mi", "512Mi"),
    "app-meta-cache": ContainerResources("10m", "16Mi", "100m", "32Mi", "8Mi", "128Mi"),
    "data-sharing-service": ContainerResources("10m", "32Mi", "250m", "128Mi", "8Mi", "128Mi"),
    "data-endpoint": ContainerResources("10m", "32Mi", "500m", "128Mi", "16Mi", "256Mi"),
    "playback-server": ContainerResources("20m", "32Mi", "250m", "128Mi", "8Mi", "128Mi"),
}
# A class's gateway (one pod per class, in vwclass-system): nginx, and the check of each request's token.
GATEWAY_CONTAINERS: dict[str, ContainerResources] = {
    "nginx": ContainerResources("10m", "16Mi", "1", "128Mi", "1Mi", "64Mi"),
    "check": ContainerResources("10m", "64Mi", "500m", "192Mi", "1Mi", "32Mi"),
}
# The runner's disk request: what an idle runner writes (its log); its limit is the preset's.
RUNNER_REQUEST_EPHEMERAL_STORAGE = "64Mi"
# What every pod of a student's node should be held to in process IDs (the kubelet's podPidsLimit): a
# fork bomb then stops at its own pod, far below a node's pid_max (32768 by default) at 110 pods. The
# real node runs with it, and `vwclass doctor` asks for it on every node.
POD_PIDS_LIMIT = 1024


def runner_resources(preset: Preset) -> ContainerResources:
    """The plugin runner's requests and limits under a preset (or a class's overrides of it)."""
    return ContainerResources(
        preset.runner_request_cpu,
        preset.runner_request_memory,
        preset.runner_limit_cpu,
        preset.runner_limit_memory,
        RUNNER_REQUEST_EPHEMERAL_STORAGE,
        preset.runner_limit_ephemeral_storage,
    )
