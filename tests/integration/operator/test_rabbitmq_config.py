"""The RabbitMQ configuration the operator generates works in a real RabbitMQ with real pywaggle."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.rabbitmq import publish_and_round_trip, running_rabbitmq
from vwclass.core import names
from vwclass.core.rabbitmq import NodeCredentials, definitions_json
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND

pytestmark = [pytest.mark.cluster, pytest.mark.rabbitmq]
SECRET = BY_KIND[("v1", "Secret")]


def _secret(kube: Kube, namespace: str, name: str) -> dict[str, str]:
    secret = kube.get(SECRET, name, namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_a_students_plugin_publishes_with_its_own_credentials_and_not_with_anothers(
    kube: Kube, operator: EmbeddedOperator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.apply(class_body("bus", students=2))
    wait_ready(kube, "bus", 2)
    mine = _secret(kube, "bus-student-001", names.CREDENTIALS_SECRET)
    theirs = _secret(kube, "bus-student-002", names.CREDENTIALS_SECRET)
    credentials = NodeCredentials(mine["admin-password"], mine["service-password"], mine["plugin-password"])
    # What the operator mounted at /etc/rabbitmq is what this server loads.
    generated = _secret(kube, "bus-student-001", "rabbitmq-config")
    assert generated["definitions.json"] == definitions_json(credentials)
    assert "load_definitions = /etc/rabbitmq/definitions.json" in generated["rabbitmq.conf"]

    with running_rabbitmq(credentials, tmp_path / "rabbitmq") as rabbitmq:
        monkeypatch.setenv("WAGGLE_PLUGIN_HOST", rabbitmq.host)
        monkeypatch.setenv("WAGGLE_PLUGIN_PORT", str(rabbitmq.amqp_port))
        monkeypatch.setenv("WAGGLE_PLUGIN_USERNAME", "plugin")
        monkeypatch.setenv("WAGGLE_PLUGIN_PASSWORD", mine["plugin-password"])
        monkeypatch.setenv("WAGGLE_APP_ID", "3f8e0c1a-uid-of-the-runner-pod")
        from waggle.plugin import Plugin

        with Plugin() as plugin:
            plugin.publish("env.temperature", 21.5, meta={"sensor": "bme680"}, timestamp=1_700_000_000_000_000_000)

        with rabbitmq.channel("admin") as channel:
            method, properties, body = channel.basic_get("to-validator", auto_ack=True)
        assert method is not None, "nothing reached to-validator"
        assert properties.user_id == "plugin"
        assert properties.app_id == "3f8e0c1a-uid-of-the-runner-pod"
        message = json.loads(body)
        assert message["name"] == "env.temperature"
        assert message["val"] == 21.5
        assert message["meta"] == {"sensor": "bme680"}
        assert message["ts"] == 1_700_000_000_000_000_000

        for user, password in (("plugin", theirs["plugin-password"]), ("plugin", "plugin"), ("guest", "guest")):
            with pytest.raises(pika.exceptions.ProbableAuthenticationError):
                pika.BlockingConnection(
                    pika.ConnectionParameters(
                        rabbitmq.host,
                        rabbitmq.amqp_port,
                        credentials=pika.PlainCredentials(user, password),
                        connection_attempts=1,
                    )
                )
        # The plugin user may publish to to-validator only: not straight to the data or beehive paths.
        connection = pika.BlockingConnection(rabbitmq.parameters("plugin"))
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as denied:
            publish_and_round_trip(channel, "to-beehive")
        assert denied.value.reply_code == 403
        connection.close()
    delete_class(kube, "bus")


def test_a_full_queue_refuses_messages_instead_of_growing_on_the_nodes_disk(tmp_path: Path) -> None:
    cap = 64 * 1024
    with running_rabbitmq(workdir=tmp_path / "rabbitmq", queue_max_bytes=cap) as rabbitmq:
        with rabbitmq.channel("admin") as channel:
            channel.confirm_delivery()
            accepted = refused = 0
            for _ in range(200):  # 200 KiB offered, nothing consuming
                try:
                    channel.basic_publish("to-validator", "", b"x" * 1024)
                    accepted += 1
                except pika.exceptions.NackError:
                    refused += 1
        assert 0 < accepted <= cap // 1024, accepted
        assert refused == 200 - accepted
        assert rabbitmq.queue_depth("to-validator") == accepted
