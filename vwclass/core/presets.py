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


# The node's own volumes take 3.5Gi (RabbitMQ 1Gi, workspace 1Gi, data 1Gi, uploads 512Mi); the rest
# is the student's, and headroom too: a request aborted mid-way (an operator killed) can leave the quota
# over-charged until Kubernetes recounts it, which must not block a node's own volumes.
# Quantities are written in the API server's canonical form ("500m", "1Gi"), so what we apply reads
# back unchanged and a resync sees no difference.
PRESETS: dict[str, Preset] = {
    "small": Preset("1", "2Gi", "4", "4Gi", "10Gi", 20, "100m", "256Mi", "1", "1Gi"),
    "medium": Preset("2", "4Gi", "8", "8Gi", "20Gi", 30, "250m", "512Mi", "2", "2Gi"),
    "large": Preset("4", "8Gi", "16", "16Gi", "40Gi", 50, "500m", "1Gi", "4", "4Gi"),
}


@dataclass(frozen=True)
class ContainerResources:
    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str


# What a container a student runs gets when it names nothing: the LimitRange's defaults, and what every
# plugin pod asks for (so a plugin costs the same whether `vwclass plugin` or kubectl made it).
CONTAINER_DEFAULTS = ContainerResources("50m", "64Mi", "500m", "512Mi")
# The init container that registers a pod's app meta: a redis-cli call.
REGISTER_APP_META = ContainerResources("10m", "16Mi", "100m", "32Mi")
