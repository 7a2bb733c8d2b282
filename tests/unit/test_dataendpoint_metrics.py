"""The data endpoint's /metrics text: valid Prometheus exposition, with the values the code counted."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from vwclass.dataendpoint.metrics import CONTENT_TYPE, Metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_gauges_and_the_histogram_read_back_as_counted() -> None:
    metrics = Metrics()
    metrics.received.inc(11)
    metrics.rejected.labels(reason='bad json\n"quoted"').inc(2)
    metrics.queries.labels(code="400").inc()
    metrics.consuming.set(1)
    metrics.query_seconds.observe(0.02)
    metrics.query_seconds.observe(3.0)
    text = metrics.render()
    found = samples(text)
    assert found[("vwclass_dataendpoint_messages_received_total", ())] == 11
    assert found[("vwclass_dataendpoint_messages_rejected_total", (("reason", 'bad json\n"quoted"'),))] == 2
    assert found[("vwclass_dataendpoint_queries_total", (("code", "400"),))] == 1
    assert found[("vwclass_dataendpoint_consuming", ())] == 1
    assert found[("vwclass_dataendpoint_query_duration_seconds_bucket", (("le", "0.025"),))] == 1
    assert found[("vwclass_dataendpoint_query_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert found[("vwclass_dataendpoint_query_duration_seconds_count", ())] == 2
    assert "# TYPE vwclass_dataendpoint_query_duration_seconds histogram" in text
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_two_endpoints_in_one_process_keep_their_own_counts() -> None:
    first, second = Metrics(), Metrics()
    first.received.inc(3)
    assert samples(second.render())[("vwclass_dataendpoint_messages_received_total", ())] == 0
