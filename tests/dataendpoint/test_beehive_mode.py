"""Beehive mode: what the node's data-sharing service forwards to `to-beehive` is stored and served."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pika
import pytest
import sage_data_client
import wagglemsg
from waggle.plugin import Uploader

from tests.dataendpoint.endpoint import Endpoint, wait_for
from tests.support.rabbitmq import RabbitMQ
from vwclass.dataendpoint.times import NS, format_timestamp

pytestmark = pytest.mark.rabbitmq

SYSTEM_META = {"node": "0000000000000001", "vsn": "W001"}
APP_META = {"job": "sage", "task": "weather", "host": "0001.ws-nxcore", "plugin": "waggle/plugin-weather:1.2.3"}


def forward(rabbitmq: RabbitMQ, messages: list[wagglemsg.Message]) -> None:
    """Publishes as the data-sharing service does: to-beehive, routing key = name, persistent."""
    with rabbitmq.channel("service") as channel:
        for message in messages:
            channel.basic_publish(
                "to-beehive",
                message.name,
                wagglemsg.dump(message),
                pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
            )


def test_forwarded_messages_and_uploads_round_trip(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ, tmp_path: Path
) -> None:
    node = endpoint_factory("beehive").start()
    base = time.time_ns() - 60 * NS
    meta = {**APP_META, **SYSTEM_META}
    messages = [
        wagglemsg.Message("env.temperature", 21.25, base + 123, {"sensor": "bme680", **meta}),
        wagglemsg.Message("env.temperature", 21, base + NS + 456, {"sensor": "bme680", **meta}),
        wagglemsg.Message("env.raingauge.event_acc", 0.0, base + 2 * NS, meta),
        wagglemsg.Message("sys.hostname", "ws-nxcore-000048B02D15BC7C", base + 3 * NS, SYSTEM_META),
    ]
    # The plugin's upload lands in the shared upload directory; the service forwards a storage URL.
    photo = tmp_path / "sample.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + bytes(1000))
    upload_ts = base + 4 * NS
    Uploader(node.upload_dir).upload_file(photo, meta={"camera": "left"}, timestamp=upload_ts, keep=True)
    storage_url = (
        f"https://storage.sagecontinuum.org/api/v1/data/sage/sage-weather-1.2.3/"
        f"{SYSTEM_META['node']}/{upload_ts}-sample.jpg"
    )
    messages.append(
        wagglemsg.Message("upload", storage_url, upload_ts, {"camera": "left", "filename": "sample.jpg", **meta})
    )
    forward(rabbitmq, messages)

    wait_for(lambda: node.stored_count() == 5, 20, "five records")
    df = sage_data_client.query(start=format_timestamp(base), endpoint=node.url + "/api/v1/query")
    got = {}
    for _, row in df.iterrows():
        row_meta = {c[5:]: v for c, v in row.items() if c.startswith("meta.") and isinstance(v, str)}
        got[row["timestamp"].value] = (row["name"], row["value"], row_meta)
    for message in messages[:-1]:
        assert got[message.timestamp] == (message.name, message.value, message.meta)
        assert type(got[message.timestamp][1]) is type(message.value)
    name, url, upload_meta = got[upload_ts]
    assert name == "upload"
    assert upload_meta == messages[-1].meta
    # Without VWCLASS_DATA_PUBLIC_URL the link uses the address the client asked.
    assert url.startswith(node.url + "/api/v1/files/")
    assert url.endswith("/sample.jpg")
    with urllib.request.urlopen(url) as response:
        assert response.read() == photo.read_bytes()
        assert response.headers["Content-Type"] == "image/jpeg"
    assert node.metric("vwclass_dataendpoint_messages_published_total") == 0


def test_filters_on_forwarded_meta(endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ) -> None:
    node = endpoint_factory("beehive").start()
    base = time.time_ns() - 60 * NS
    forward(
        rabbitmq,
        [
            wagglemsg.Message("env.temperature", float(i), base + i * NS, {**APP_META, **SYSTEM_META, "vsn": vsn})
            for i, vsn in enumerate(["W001", "W002", "W003", "W001"])
        ],
    )
    wait_for(lambda: node.stored_count() == 4, 20, "four records")
    url = node.url + "/api/v1/query"
    assert len(sage_data_client.query(start="-1h", filter={"vsn": "W001|W003"}, endpoint=url)) == 3
    assert len(sage_data_client.query(start="-1h", filter={"plugin": "waggle/plugin-weather:1.*"}, endpoint=url)) == 4
    assert len(sage_data_client.query(start="-1h", filter={"task": "weather", "vsn": "W002"}, endpoint=url)) == 1
    latest = sage_data_client.query(start="-1h", tail=1, filter={"vsn": "W001"}, endpoint=url)
    assert list(latest["value"]) == [3.0]
