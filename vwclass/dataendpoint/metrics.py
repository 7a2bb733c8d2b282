"""The data endpoint's Prometheus metrics, kept and exposed by prometheus_client (text format 0.0.4).

Each Metrics has its own registry, so two endpoints in one process (the tests run several) never share
or collide on a metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# Text format 0.0.4: what every Prometheus and agent reads (our names need none of 1.0.0's UTF-8 quoting).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Metrics:
    """The data endpoint's metrics, all prefixed vwclass_dataendpoint_."""

    def __init__(self) -> None:
        p = "vwclass_dataendpoint_"
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(p + "messages_received_total", "Messages delivered from the queue.", registry=registry)
        self.stored = Counter(
            p + "records_stored_total", "Records committed to the store (redeliveries included).", registry=registry
        )
        self.rejected = Counter(
            p + "messages_rejected_total", "Messages set aside as invalid, by reason.", ["reason"], registry=registry
        )
        self.published = Counter(
            p + "messages_published_total", "Messages republished to data.topic (validator mode).", registry=registry
        )
        self.queue_messages = Gauge(
            p + "queue_messages", "Messages waiting in the consumed queue (the ingest lag).", registry=registry
        )
        self.last_commit = Gauge(
            p + "last_commit_timestamp_seconds", "Unix time of the last committed batch.", registry=registry
        )
        self.store_bytes = Gauge(
            p + "store_bytes", "Bytes counted against the size budget (database in use + files).", registry=registry
        )
        self.retention_deleted = Counter(
            p + "retention_deleted_records_total", "Records deleted by age or size retention.", registry=registry
        )
        self.consuming = Gauge(p + "consuming", "1 while consuming from RabbitMQ.", registry=registry)
        self.queries = Counter(p + "queries_total", "Query requests by HTTP status code.", ["code"], registry=registry)
        self.query_seconds = Histogram(
            p + "query_duration_seconds",
            "Time to answer a query, until the last byte.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )

    def render(self) -> str:
        """The exposition of every metric, as /metrics serves it."""
        return generate_latest(self.registry).decode()
