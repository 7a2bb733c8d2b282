"""The operator's Prometheus metrics (prometheus_client): reconcile duration, passes by kind, queue depth,
writes by resource, students ready per class; served on their own port, apart from kopf's health endpoint."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vwclass.kube.api import Kube

DEFAULT_ADDRESS = "0.0.0.0:9090"


class _Writes(Collector):
    """The API client's own count of writes, read at each scrape (no second count to keep in step)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vwclass_operator_writes",
            "Write requests the operator sent, by verb and resource.",
            labels=["verb", "resource"],
        )
        for (verb, resource), count in sorted(self.kube.writes_by_resource.items()):
            family.add_metric([verb, resource], count)
        yield family


class OperatorMetrics:
    """One operator's metrics, in their own registry (an embedded operator in tests has its own)."""

    def __init__(self, kube: Kube, queue_depth: Callable[[], float] = lambda: 0.0) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.reconcile_seconds = Histogram(
            "vwclass_operator_reconcile_duration_seconds",
            "Time one reconcile of a class took, by result (ok or error).",
            ["result"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
            registry=registry,
        )
        self.queue_depth = Gauge(
            "vwclass_operator_queue_depth", "Classes waiting for a reconcile or being reconciled.", registry=registry
        )
        self.queue_depth.set_function(queue_depth)
        self.students_ready = Gauge(
            "vwclass_operator_students_ready",
            "Students whose node is ready, per class.",
            ["class_name"],
            registry=registry,
        )
        self.students_desired = Gauge(
            "vwclass_operator_students_desired",
            "Students a class asks for, per class.",
            ["class_name"],
            registry=registry,
        )
        self.passes = Counter(
            "vwclass_operator_passes",
            "Reconciles by kind: full (every object compared) or state (pods and nodes read, nothing compared).",
            ["kind"],
            registry=registry,
        )
        registry.register(_Writes(kube))

    @contextmanager
    def timing_reconcile(self) -> Iterator[None]:
        started = time.monotonic()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self.reconcile_seconds.labels(result=result).observe(time.monotonic() - started)

    def passed(self, compared: bool) -> None:
        self.passes.labels(kind="full" if compared else "state").inc()

    def class_students(self, name: str, ready: int | None, desired: int | None) -> None:
        """The class's students, as its last reconcile found them (None: the class is gone)."""
        if ready is None or desired is None:
            for gauge in (self.students_ready, self.students_desired):
                with contextlib.suppress(KeyError):  # never reported, or already removed
                    gauge.remove(name)
            return
        self.students_ready.labels(class_name=name).set(ready)
        self.students_desired.labels(class_name=name).set(desired)

    def render(self) -> str:
        return generate_latest(self.registry).decode()

    def serve(self, address: str = DEFAULT_ADDRESS) -> None:
        """Serves /metrics (any path, as prometheus_client does) on host:port, in a daemon thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)
