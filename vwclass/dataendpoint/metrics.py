"""A minimal thread-safe Prometheus registry: counters, gauges and one histogram, text format 0.0.4.

A dozen metrics do not earn prometheus-client a place in the image; this is the whole text format.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

_Labels = tuple[tuple[str, str], ...]


def _format_labels(labels: _Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self._lock = threading.Lock()

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> str:
        header = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return header + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str) -> None:
        super().__init__(name, help)
        self._values: dict[_Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items()) or [((), 0.0)]
        return [f"{self.name}{_format_labels(k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A gauge set by the code, or read from `source` at each scrape."""

    kind = "gauge"

    def __init__(self, name: str, help: str, source: Callable[[], float] | None = None) -> None:
        super().__init__(name, help)
        self._value = 0.0
        self._source = source

    def set(self, value: float) -> None:
        with self._lock:
            self._value = float(value)

    def value(self) -> float:
        if self._source is not None:
            return float(self._source())
        with self._lock:
            return self._value

    def samples(self) -> list[str]:
        return [f"{self.name} {_number(self.value())}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: tuple[float, ...]) -> None:
        super().__init__(name, help)
        self._bounds = (*sorted(buckets), math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            self._count += 1
            for index, bound in enumerate(self._bounds):
                if value <= bound:
                    self._counts[index] += 1
                    break

    def samples(self) -> list[str]:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        lines, cumulative = [], 0
        for bound, n in zip(self._bounds, counts, strict=True):
            cumulative += n
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}')
        lines.append(f"{self.name}_sum {_number(total)}")
        lines.append(f"{self.name}_count {count}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        self._metrics.append(metric)

    def render(self) -> str:
        return "".join(m.render() for m in self._metrics)


class Metrics:
    """The data endpoint's metrics, all prefixed vwclass_dataendpoint_."""

    def __init__(self) -> None:
        p = "vwclass_dataendpoint_"
        self.registry = Registry()
        self.received = Counter(p + "messages_received_total", "Messages delivered from the queue.")
        self.stored = Counter(p + "records_stored_total", "Records committed to the store (redeliveries included).")
        self.rejected = Counter(p + "messages_rejected_total", "Messages set aside as invalid, by reason.")
        self.published = Counter(p + "messages_published_total", "Messages republished to data.topic (validator mode).")
        self.queue_messages = Gauge(p + "queue_messages", "Messages waiting in the consumed queue (the ingest lag).")
        self.last_commit = Gauge(p + "last_commit_timestamp_seconds", "Unix time of the last committed batch.")
        self.store_bytes = Gauge(p + "store_bytes", "Bytes counted against the size budget (database in use + files).")
        self.retention_deleted = Counter(
            p + "retention_deleted_records_total", "Records deleted by age or size retention."
        )
        self.consuming = Gauge(p + "consuming", "1 while consuming from RabbitMQ.")
        self.queries = Counter(p + "queries_total", "Query requests by HTTP status code.")
        self.query_seconds = Histogram(
            p + "query_duration_seconds",
            "Time to answer a query, until the last byte.",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        for metric in (
            self.received,
            self.stored,
            self.rejected,
            self.published,
            self.queue_messages,
            self.last_commit,
            self.store_bytes,
            self.retention_deleted,
            self.consuming,
            self.queries,
            self.query_seconds,
        ):
            self.registry.add(metric)
