"""Validator mode: a student's pywaggle plugin publishes, sage-data-client reads back exactly."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sage_data_client
from waggle.plugin import Plugin

from tests.dataendpoint.endpoint import Endpoint, wait_for
from vwclass.dataendpoint.times import NS, format_timestamp

pytestmark = pytest.mark.rabbitmq

NODE = "000048b02d15bc7c"
VSN = "V017"
PLUGIN = "student/demo:0.1"


def rows(df: pd.DataFrame) -> set[tuple[str, int, Any, tuple[tuple[str, str], ...]]]:
    """(name, ns timestamp, value, meta) of every row, meta rebuilt from the meta.* columns."""
    result = set()
    for _, row in df.iterrows():
        meta = tuple(
            sorted(
                (column[5:], value)
                for column, value in row.items()
                if column.startswith("meta.") and isinstance(value, str)
            )
        )
        result.add((row["name"], row["timestamp"].value, row["value"], meta))
    return result


@pytest.fixture
def node(endpoint_factory: Callable[..., Endpoint]) -> Endpoint:
    endpoint = endpoint_factory("validator", WAGGLE_NODE_ID=NODE, WAGGLE_NODE_VSN=VSN, VWCLASS_DATA_PLUGIN=PLUGIN)
    endpoint.env["VWCLASS_DATA_LOCAL_URL"] = endpoint.url
    return endpoint.start()


def test_published_values_timestamps_and_meta_round_trip(
    node: Endpoint, plugin_env: Callable[..., None], tmp_path: Path
) -> None:
    plugin_env(node.upload_dir)
    base = time.time_ns() - 120 * NS
    tagged = {"node": NODE, "vsn": VSN, "plugin": PLUGIN}
    stored = [
        ("env.temperature", 21.5, {"sensor": "bme680"}, base + 1, "all"),
        ("env.temperature", 22.0, {"sensor": "bme680"}, base + 1_000_000_007, "all"),
        ("env.temperature", -0.1, {"sensor": "bme280"}, base + 2_000_000_000, "all"),
        ("env.count", 7, {}, base + 3 * NS + 999_999_999, "all"),
        ("env.count", -(2**62), {}, base + 4 * NS, "all"),
        ("sys.note", 'héllo, "world"\n', {"k": "v w"}, base + 5 * NS + 5, "all"),
        ("env.cloud_only", 2, {}, base + 6 * NS, "beehive"),
    ]
    local_only: tuple[str, Any, dict[str, str], int, str] = ("env.local_only", 1, {}, base + 7 * NS, "node")
    image = tmp_path / "frame.jpg"
    image.write_bytes(bytes(range(256)) * 40)

    with Plugin() as subscriber:
        subscriber.subscribe("#")
        time.sleep(0.5)  # the subscription is bound by a background thread
        with Plugin() as plugin:
            for name, value, meta, ts, scope in [*stored, local_only]:
                plugin.publish(name, value, meta=meta, timestamp=ts, scope=scope)
            plugin.upload_file(image, meta={"camera": "top"}, timestamp=base + 8 * NS, keep=True)
        republished = []
        while True:
            try:
                republished.append(subscriber.get(timeout=3))
            except TimeoutError:
                break

    wait_for(lambda: node.metric("vwclass_dataendpoint_messages_received_total") >= 9, 20, "all deliveries")
    assert node.metric("vwclass_dataendpoint_records_stored_total") == 8
    assert node.metric("vwclass_dataendpoint_messages_rejected_total") == 0

    df = sage_data_client.query(start=format_timestamp(base - NS), endpoint=node.url + "/api/v1/query")
    uploads = df[df["name"] == "upload"]
    measurements = df[df["name"] != "upload"]
    expected = {(n, ts, v, tuple(sorted({**m, **tagged}.items()))) for n, v, m, ts, _ in stored}
    assert rows(measurements) == expected
    by_ts = {row["timestamp"].value: row["value"] for _, row in measurements.iterrows()}
    assert type(by_ts[base + 1_000_000_007]) is float
    assert type(by_ts[base + 4 * NS]) is int

    # The upload: listed as a URL on this endpoint, downloadable, with the plugin's meta.
    assert len(uploads) == 1
    upload = uploads.iloc[0]
    assert upload["timestamp"].value == base + 8 * NS
    assert upload["meta.filename"] == "frame.jpg"
    assert upload["meta.camera"] == "top"
    assert upload["value"].startswith(node.url + "/api/v1/files/")
    with urllib.request.urlopen(upload["value"]) as response:
        assert response.read() == image.read_bytes()

    # Local subscribers got scope all and node, tagged, and the upload as its URL; not beehive-only.
    names = sorted(m.name for m in republished)
    assert names == sorted([n for n, *_, s in stored if s != "beehive"] + ["env.local_only", "upload"])
    assert all(m.meta["node"] == NODE and m.meta["vsn"] == VSN for m in republished)
    assert next(m for m in republished if m.name == "upload").value == upload["value"]


def test_filters_head_tail_and_time_ranges(node: Endpoint, plugin_env: Callable[..., None]) -> None:
    plugin_env(node.upload_dir)
    base = time.time_ns() - 600 * NS
    with Plugin() as plugin:
        for i in range(5):
            for sensor in ("bme680", "bme280"):
                plugin.publish("env.temperature", 20.0 + i, meta={"sensor": sensor}, timestamp=base + i * NS)
            plugin.publish("env.humidity", 40 + i, meta={"sensor": "bme680"}, timestamp=base + i * NS)
            plugin.publish("sys.uptime", i, timestamp=base + i * NS)
    wait_for(lambda: node.stored_count() == 20, 20, "20 records")
    url = node.url + "/api/v1/query"
    start = format_timestamp(base)

    def q(**kwargs: Any) -> pd.DataFrame:
        return sage_data_client.query(start=kwargs.pop("start", start), endpoint=url, **kwargs)

    assert set(q(filter={"name": "env.*"})["name"]) == {"env.temperature", "env.humidity"}
    assert len(q(filter={"name": "env.humidity|sys.uptime"})) == 10
    assert len(q(filter={"sensor": "bme680"})) == 10
    assert len(q(filter={"name": "env.temperature", "sensor": "bme2.*"})) == 5
    assert len(q(filter={"vsn": VSN, "node": NODE, "plugin": "student/.*"})) == 20
    assert len(q(filter={"plugin": "someone-else"})) == 0
    assert len(q(filter={"vsn": "V01*"})) == 0  # a regular expression, as on the real API: V0, V01, V011...

    tail = q(tail=2, filter={"name": "env.temperature"})
    assert sorted(zip(tail["meta.sensor"], tail["value"], strict=True)) == [
        ("bme280", 23.0),
        ("bme280", 24.0),
        ("bme680", 23.0),
        ("bme680", 24.0),
    ]
    head = q(head=1)
    assert len(head) == 4
    assert set(head["timestamp"]) == {pd.Timestamp(base, unit="ns", tz="UTC")}

    window = q(start=format_timestamp(base + NS), end=format_timestamp(base + 3 * NS))
    assert sorted(set(t.value for t in window["timestamp"])) == [base + NS, base + 2 * NS]
    assert len(q(start="-1h")) == 20
    assert len(q(start="-5m")) == 0  # everything was published ten minutes in the past
    assert len(q(start="-1h", end="-9m")) == 20
    # The raw answer: one series after another in series-key order, times ascending within each.
    raw = node.query({"start": "-1h", "filter": {"name": "env.temperature"}})
    assert [r["meta"]["sensor"] for r in raw] == ["bme280"] * 5 + ["bme680"] * 5
    assert [r["value"] for r in raw[:5]] == [20.0, 21.0, 22.0, 23.0, 24.0]


def test_app_id_is_recorded(node: Endpoint, plugin_env: Callable[..., None]) -> None:
    # The plugin runner sets WAGGLE_APP_ID to its pod's UID, as the Waggle scheduler does.
    plugin_env(node.upload_dir, app_id="3f8e0c1a-uid-of-the-runner-pod")
    with Plugin() as plugin:
        plugin.publish("env.pressure", 1013.25)
    wait_for(lambda: node.stored_count() == 1, 20, "one record")
    (record,) = node.query({"start": "-1h"})
    assert record["meta"] == {"node": NODE, "vsn": VSN, "plugin": PLUGIN, "app_id": "3f8e0c1a-uid-of-the-runner-pod"}
    assert record["value"] == 1013.25
