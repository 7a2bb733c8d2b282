"""`vwclass report`: per student, how their node's message path is doing and whether they are stuck.

Pure: each student's node pod, the Prometheus texts of their RabbitMQ, data endpoint and data-sharing
service, and the time of their last stored message come in (or why one could not be read); one row
per student comes out. The CLI fetches those through the API server's proxy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from vwclass.core import plugins

# Where each is read, in the student's node pod (vwclass/core/templates/node.yaml.j2's container ports).
RABBITMQ_PROMETHEUS_PORT = 15692
# Per queue, whatever rabbitmq.conf says of aggregation (the plain /metrics sums every queue).
RABBITMQ_METRICS_PATH = "/metrics/per-object"
DATA_SHARING_METRICS_PORT = 8081
DATA_SHARING_CONTAINER = "data-sharing-service"
ENDPOINT_METRICS_PATH = "/metrics"
# Queues a Waggle node declares; server-named subscriber queues (amq.gen-*) are summed apart.
NODE_QUEUES = ("to-validator", "to-beehive")
_ENDPOINT = "vwclass_dataendpoint_"
_SHARING = "wes_data_sharing_service_"
NS = 1_000_000_000
# The last message's time when the store could not be asked (None: the store holds no message).
UNREAD = -1


@dataclass(frozen=True)
class NodeState:
    """Whether a student's node pod runs, with the plugin runner ready, and if not why."""

    ready: bool
    runner_ready: bool
    why: str = ""


def node_state(pod: Mapping[str, Any] | None) -> NodeState:
    """The node as its pod says: ready (every container), its runner ready, or why not in a few words."""
    if pod is None:
        return NodeState(False, False, "no node pod (suspended, or not created yet)")
    status = pod.get("status", {})
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return NodeState(False, False, "node pod terminating")
    containers = status.get("containerStatuses", []) + status.get("initContainerStatuses", [])
    runner = next((c for c in containers if c.get("name") == plugins.RUNNER), None)
    runner_ready = bool(runner and runner.get("ready"))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions", [])}
    if conditions.get("Ready") == "True":
        return NodeState(True, runner_ready)
    for container in containers:
        if container.get("ready"):
            continue
        state = container.get("state", {})
        reason = state.get("waiting", {}).get("reason") or state.get("terminated", {}).get("reason")
        if reason or container.get("name") != "register-app-meta":
            return NodeState(False, runner_ready, f"{container.get('name')} {reason or 'not ready'}")
    return NodeState(False, runner_ready, f"node pod {status.get('phase', 'Pending')}")


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text exposition as (name, labels, value); none when it does not parse."""
    try:
        return [
            (s.name, dict(s.labels), float(s.value)) for f in text_string_to_metric_families(text) for s in f.samples
        ]
    except ValueError:
        return []


def queue_depths(rabbitmq_metrics: str) -> dict[str, int]:
    """Messages waiting (ready + unacknowledged) per queue of vhost `/`; subscriber queues as `amq.gen-*`."""
    depths: Counter[str] = Counter()
    for name, labels, value in samples(rabbitmq_metrics):
        if name not in ("rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked"):
            continue
        if labels.get("vhost", "/") != "/" or "queue" not in labels:
            continue
        queue = labels["queue"]
        depths["amq.gen-*" if queue.startswith("amq.gen-") else queue] += int(value)
    return dict(depths)


@dataclass(frozen=True)
class EndpointCounts:
    """What the data endpoint's (and the data-sharing service's) metrics count since they started."""

    stored: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    consuming: bool = False


def endpoint_counts(endpoint_metrics: str, sharing_metrics: str = "") -> EndpointCounts:
    """Records stored; messages rejected by reason, by the data endpoint and the data-sharing service."""
    stored, consuming = 0, False
    rejected: Counter[str] = Counter()
    for name, labels, value in samples(endpoint_metrics):
        if name == _ENDPOINT + "records_stored_total":
            stored = int(value)
        elif name == _ENDPOINT + "messages_rejected_total" and value:
            rejected[labels.get("reason", "unknown")] += int(value)
        elif name == _ENDPOINT + "consuming":
            consuming = value >= 1
    for name, labels, value in samples(sharing_metrics):
        if name == _SHARING + "messages_rejected_total" and value:
            rejected[labels.get("reason", "unknown")] += int(value)
    return EndpointCounts(stored, dict(rejected), consuming)


@dataclass(frozen=True)
class StudentReport:
    """One row of `vwclass report`."""

    student: str
    namespace: str
    node: str  # "ready", or why not
    queues: Mapping[str, int]
    stored: int | None  # None: not read
    rejected: Mapping[str, int]
    last_message_ns: int | None
    state: str  # "ok", "STUCK: ...", "NODE NOT READY", "UNREACHABLE: ..."
    problems: tuple[str, ...] = ()

    @property
    def stuck(self) -> bool:
        return self.state != "ok"

    def as_dict(self, last_message: str) -> dict[str, Any]:
        return {
            "student": self.student,
            "namespace": self.namespace,
            "node": self.node,
            "queues": dict(self.queues),
            "stored": self.stored,
            "rejected": dict(self.rejected),
            "lastMessage": last_message or None,
            "state": self.state,
            **({"problems": list(self.problems)} if self.problems else {}),
        }


def student_report(
    student: str,
    namespace: str,
    pod: Mapping[str, Any] | None,
    *,
    rabbitmq_metrics: str | None,
    endpoint_metrics: str | None,
    sharing_metrics: str | None,
    last_message_ns: int | None,
    now_ns: int,
    window: str,
    window_start_ns: int,
    problems: Sequence[str] = (),
) -> StudentReport:
    """A student's row. A metrics text of None, or a last message of UNREAD, could not be read (problems
    say why); the state names the first thing the teacher should look at."""
    node = node_state(pod)
    queues = queue_depths(rabbitmq_metrics) if rabbitmq_metrics is not None else {}
    counts = endpoint_counts(endpoint_metrics or "", sharing_metrics or "")
    stored = counts.stored if endpoint_metrics is not None else None
    if not node.ready:
        state = f"NODE NOT READY: {node.why}"
    elif endpoint_metrics is None or last_message_ns == UNREAD:
        # Never STUCK on a read that failed: that says nothing of the student.
        state = "UNREACHABLE: " + (problems[0] if problems else "the data endpoint did not answer")
        last_message_ns = None
    elif last_message_ns is None or last_message_ns < window_start_ns:
        rejected = sum(counts.rejected.values())
        why = f" ({rejected} rejected)" if rejected else ""
        state = f"STUCK: no message stored since {window}{why}"
        if not node.runner_ready:
            state = f"STUCK: plugin runner not ready, no message since {window}"
    else:
        state = "ok"
    return StudentReport(
        student,
        namespace,
        "ready" if node.ready else node.why,
        queues,
        stored,
        counts.rejected,
        last_message_ns,
        state,
        tuple(problems),
    )


def last_message_ns(timestamps_ns: Sequence[int]) -> int | None:
    return max(timestamps_ns) if timestamps_ns else None


def queues_cell(queues: Mapping[str, int]) -> str:
    """The node's queues first (always shown), then any other that holds messages."""
    if not queues:
        return "-"
    shown = [f"{q}={queues.get(q, 0)}" for q in NODE_QUEUES]
    shown += [f"{q}={n}" for q, n in sorted(queues.items()) if q not in NODE_QUEUES and n]
    return " ".join(shown)


def rejected_cell(rejected: Mapping[str, int]) -> str:
    if not rejected:
        return "0"
    total = sum(rejected.values())
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(rejected.items(), key=lambda x: (-x[1], x[0])))
    return f"{total} ({reasons})"
