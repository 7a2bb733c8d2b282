"""The RabbitMQ harness runs a node exactly as configured by vwclass.core.rabbitmq, and cleans up."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

from tests.support.rabbitmq import (
    RabbitMQ,
    RabbitMQStartError,
    publish_and_round_trip,
    random_credentials,
    start_rabbitmq,
)
from vwclass.core.rabbitmq import EXCHANGES, QUEUES, NodeCredentials

pytestmark = pytest.mark.rabbitmq


def management(rabbitmq: RabbitMQ, path: str) -> Any:
    request = urllib.request.Request(f"http://{rabbitmq.host}:{rabbitmq.management_port}/api/{path}")
    token = base64.b64encode(f"admin:{rabbitmq.credentials.admin}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_definitions_with_plaintext_passwords_are_imported(rabbitmq: RabbitMQ) -> None:
    for user in ("admin", "service", "plugin"):
        pika.BlockingConnection(rabbitmq.parameters(user)).close()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(
            pika.ConnectionParameters(
                rabbitmq.host, rabbitmq.amqp_port, credentials=pika.PlainCredentials("plugin", "wrong")
            )
        )
    exchanges = {e["name"]: e["type"] for e in management(rabbitmq, "exchanges/%2F")}
    assert all(exchanges.get(name) == kind for name, kind in EXCHANGES)
    queues = {q["name"] for q in management(rabbitmq, "queues/%2F")}
    assert set(QUEUES) <= queues


def test_plugin_user_is_narrowed_to_what_pywaggle_does(rabbitmq: RabbitMQ) -> None:
    with rabbitmq.channel("plugin") as channel:
        channel.basic_publish("to-validator", "all", b"{}", pika.BasicProperties(user_id="plugin"))
        channel.queue_declare("", exclusive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as denied, rabbitmq.channel("plugin") as channel:
        publish_and_round_trip(channel, "to-beehive")
    assert denied.value.reply_code == 403
    rabbitmq.purge()


def test_queue_helpers(rabbitmq: RabbitMQ) -> None:
    rabbitmq.purge()
    with rabbitmq.channel("service") as channel:
        for _ in range(3):
            channel.basic_publish("to-beehive", "x", b"{}", pika.BasicProperties(delivery_mode=2))
    assert rabbitmq.queue_depth("to-beehive") == 3
    rabbitmq.purge("to-beehive")
    assert rabbitmq.queue_depth("to-beehive") == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_a_second_server_runs_beside_the_first_and_stops_completely(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    credentials = NodeCredentials(admin="a-pw", service="s-pw", plugin="p-pw")
    second = start_rabbitmq(credentials, tmp_path / "second")
    try:
        assert second.amqp_port != rabbitmq.amqp_port
        assert second.epmd_port != rabbitmq.epmd_port
        assert second.node_name != rabbitmq.node_name
        pika.BlockingConnection(second.parameters("plugin")).close()
        assert second.log_path.exists()
        assert "Server startup complete" in second.log_path.read_text()
        pids = [second._server.pid, second._epmd.pid]
    finally:
        second.stop()
    assert not any(_alive(pid) for pid in pids)
    second.stop()  # idempotent
    # The first server never noticed.
    pika.BlockingConnection(rabbitmq.parameters("service")).close()


def test_start_failures_point_at_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import rabbitmq as harness

    monkeypatch.setattr(harness, "rabbitmq_conf", lambda *a: "this is = not [valid\n")
    with pytest.raises(RabbitMQStartError) as caught:
        start_rabbitmq(random_credentials(), tmp_path / "broken", timeout=60)
    assert str(tmp_path / "broken" / "rabbitmq.log") in str(caught.value)
