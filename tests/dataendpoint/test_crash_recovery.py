"""SIGKILL mid-stream, restart: every record is there exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pika
import pytest

from tests.dataendpoint.endpoint import Endpoint, wait_for
from tests.support.rabbitmq import RabbitMQ
from vwclass.dataendpoint.times import NS

pytestmark = pytest.mark.rabbitmq

TOTAL = 30000


def publish_stream(rabbitmq: RabbitMQ, mode: str, base: int, done: threading.Event) -> None:
    """What a plugin (validator mode) or the data-sharing service (beehive mode) sends, in order."""
    user = "plugin" if mode == "validator" else "service"
    with rabbitmq.channel(user) as channel:
        for i in range(TOTAL):
            body = json.dumps({"name": "test.seq", "ts": base + i, "meta": {"run": "crash"}, "val": i})
            if mode == "validator":
                channel.basic_publish(
                    "to-validator", "all", body, pika.BasicProperties(delivery_mode=2, user_id="plugin")
                )
            else:
                channel.basic_publish("to-beehive", "test.seq", body, pika.BasicProperties(delivery_mode=2))
            if i % 2000 == 0:
                time.sleep(0.05)  # a stream, not one burst: kills land while messages keep coming
    done.set()


@pytest.mark.parametrize("mode", ["beehive", "validator"])
def test_sigkill_mid_stream_loses_and_doubles_nothing(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ, mode: str
) -> None:
    node = endpoint_factory(mode, VWCLASS_DATA_BATCH="200").start()
    base = time.time_ns() - 3600 * NS
    published = threading.Event()
    publisher = threading.Thread(target=publish_stream, args=(rabbitmq, mode, base, published), daemon=True)
    publisher.start()

    counts_at_kill = []
    for fraction in (0.1, 0.25, 0.4, 0.55, 0.7):
        target = TOTAL * fraction

        def stored_enough(target: float = target) -> bool:
            return node.stored_count() >= target

        wait_for(stored_enough, 60, f"{fraction:.0%} stored")
        node.kill()
        counts_at_kill.append(node.stored_count())
        node.start()
    publisher.join(timeout=120)
    assert published.is_set()
    assert all(count < TOTAL for count in counts_at_kill), counts_at_kill

    queue = "to-validator" if mode == "validator" else "to-beehive"
    wait_for(
        lambda: node.stored_count() >= TOTAL and rabbitmq.queue_depth(queue) == 0,
        120,
        f"the queue drained and at least {TOTAL} records stored",
    )
    time.sleep(1.0)  # anything still unacknowledged would be committed by now
    assert node.stored_count() == TOTAL, "records were stored twice"
    records = node.query({"start": "-2h", "filter": {"name": "test.seq"}})
    assert len(records) == TOTAL
    assert sorted(r["value"] for r in records) == list(range(TOTAL))
    # Each value at its own timestamp: a redelivered message rewrote its point, it did not add one.
    assert len({r["timestamp"] for r in records}) == TOTAL
    assert node.metric("vwclass_dataendpoint_messages_rejected_total") == 0


def test_sigterm_finishes_the_batch_and_exits_cleanly(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ
) -> None:
    node = endpoint_factory("beehive").start()
    with rabbitmq.channel("service") as channel:
        for i in range(500):
            body = json.dumps({"name": "test.term", "ts": time.time_ns(), "val": i})
            channel.basic_publish("to-beehive", "test.term", body, pika.BasicProperties(delivery_mode=2))
    wait_for(lambda: node.stored_count() > 0, 20, "some records")
    assert node.terminate() == 0
    assert "stopped" in node.log()
    stored = node.stored_count()
    # Whatever was not stored is still in the queue: graceful shutdown acknowledged only commits.
    assert stored + rabbitmq.queue_depth("to-beehive") == 500


@pytest.mark.parametrize("mode", ["beehive", "validator"])
def test_a_message_delivered_again_is_stored_once(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ, mode: str
) -> None:
    """What RabbitMQ redelivers after a crash between commit and ack is, to the endpoint, the same
    message arriving again; sending it again makes that case deterministic."""
    node = endpoint_factory(mode).start()
    base = time.time_ns() - 60 * NS
    user = "plugin" if mode == "validator" else "service"

    def send() -> None:
        with rabbitmq.channel(user) as channel:
            for i in range(100):
                body = json.dumps({"name": "test.again", "ts": base + i, "meta": {}, "val": i})
                if mode == "validator":
                    channel.basic_publish("to-validator", "all", body, pika.BasicProperties(user_id="plugin"))
                else:
                    channel.basic_publish("to-beehive", "test.again", body)

    send()
    wait_for(lambda: node.metric("vwclass_dataendpoint_records_stored_total") == 100, 20, "first delivery")
    send()
    wait_for(lambda: node.metric("vwclass_dataendpoint_records_stored_total") == 200, 20, "second delivery")
    assert node.stored_count() == 100
    assert [r["value"] for r in node.query({"start": "-1h"})] == list(range(100))
