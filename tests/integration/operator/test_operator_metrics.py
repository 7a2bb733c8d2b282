"""The operator's /metrics, scraped over HTTP while it brings a class up on the real control plane."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.kube.api import Kube


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_show_reconciles_writes_queue_and_students_ready(kubeconfig: Path, kube: Kube) -> None:
    port = free_port()
    operator = EmbeddedOperator(str(kubeconfig), resync_seconds=10.0)
    operator.memo.metrics_address = f"127.0.0.1:{port}"
    with operator:
        kube.apply(class_body("metered", students=2))
        try:
            wait_ready(kube, "metered", 2)
            found = eventually(
                lambda: (
                    lambda m: (
                        m if m.get(("vwclass_operator_students_ready", (("class_name", "metered"),))) == 2 else None
                    )
                )(scrape(port)),
                timeout=30,
                what="students_ready of class metered at 2",
            )
            assert found[("vwclass_operator_students_desired", (("class_name", "metered"),))] == 2
            assert found[("vwclass_operator_reconcile_duration_seconds_count", (("result", "ok"),))] >= 1
            assert ("vwclass_operator_queue_depth", ()) in found
            assert found[("vwclass_operator_writes_total", (("resource", "namespaces"), ("verb", "POST")))] >= 2
            assert found[("vwclass_operator_writes_total", (("resource", "statefulsets"), ("verb", "PATCH")))] >= 2
            status_patches = (
                "vwclass_operator_writes_total",
                (("resource", "virtualwaggleclasses/status"), ("verb", "PATCH")),
            )
            assert found[status_patches] >= 1
        finally:
            delete_class(kube, "metered")
        # A class gone: its per-class series go at its next reconcile.
        operator.request("metered")
        eventually(
            lambda: ("vwclass_operator_students_ready", (("class_name", "metered"),)) not in scrape(port),
            timeout=30,
            what="the deleted class's series removed",
        )
