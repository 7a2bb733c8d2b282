"""Malformed messages and malformed queries are counted and answered; the endpoint carries on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pika
import pytest

from tests.dataendpoint.endpoint import Endpoint, wait_for
from tests.support.rabbitmq import RabbitMQ

pytestmark = pytest.mark.rabbitmq


def good(ts: int, value: int = 1) -> bytes:
    return json.dumps({"name": "env.ok", "ts": ts, "meta": {}, "val": value}).encode()


def test_poison_messages_are_set_aside_and_never_block_the_queue(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ
) -> None:
    node = endpoint_factory("validator").start()
    now = time.time_ns()
    as_plugin = pika.BasicProperties(delivery_mode=2, user_id="plugin")
    poison = [
        ("all", b"\x00garbage", as_plugin, "decode"),
        ("all", b'{"name": "Bad-Name", "ts": 1700000000000000000, "val": 1}', as_plugin, "name"),
        ("all", b'{"name": "env.flag", "ts": 1700000000000000000, "val": true}', as_plugin, "value"),
        ("all", b'{"name": "env.blob", "ts": 1700000000000000000, "val": "aGk=", "enc": "b64"}', as_plugin, "value"),
        ("all", b'{"name": "env.t", "ts": "yesterday", "val": 1}', as_plugin, "timestamp"),
        ("all", b'{"name": "env.t", "ts": 1700000000000000000, "val": 1, "meta": {"a": 1}}', as_plugin, "meta"),
        ("somewhere", good(now), as_plugin, "scope"),
        ("all", good(now), pika.BasicProperties(delivery_mode=2), "user_id"),
        (
            "all",
            json.dumps(
                {"name": "upload", "ts": now, "val": f"{now}-{'0' * 40}", "meta": {"filename": "x.jpg"}}
            ).encode(),
            as_plugin,
            "upload",
        ),
    ]
    with rabbitmq.channel("plugin") as channel:
        channel.basic_publish("to-validator", "all", good(now - 1, 1), as_plugin)
        for routing_key, body, properties, _ in poison:
            channel.basic_publish("to-validator", routing_key, body, properties)
        channel.basic_publish("to-validator", "all", good(now, 2), as_plugin)

    wait_for(lambda: node.metric("vwclass_dataendpoint_messages_received_total") == 11, 20, "all 11 deliveries")
    assert [r["value"] for r in node.query({"start": "-1h"})] == [1, 2]
    expected: dict[str, int] = {}
    for *_, reason in poison:
        expected[reason] = expected.get(reason, 0) + 1
    for reason, count in expected.items():
        assert node.metric("vwclass_dataendpoint_messages_rejected_total", reason=reason) == count, reason
    status, _, body = node.get("/api/v1/rejected?limit=50")
    assert status == 200
    rejected = json.loads(body)["rejected"]
    assert sorted(r["reason"] for r in rejected) == sorted(reason for *_, reason in poison)
    assert all(r["detail"] for r in rejected)
    assert any(r["body"].endswith("garbage") for r in rejected)
    assert node.get("/healthz")[0] == 200
    assert node.get("/readyz")[0] == 200

    # Everything was acknowledged: after a restart nothing comes back, nothing is set aside twice.
    assert node.terminate() == 0
    assert rabbitmq.queue_depth("to-validator") == 0
    node.start()
    status, _, body = node.get("/api/v1/rejected")
    assert len(json.loads(body)["rejected"]) == len(poison)


MALFORMED = [
    (b"", "no query provided"),
    (b"not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b"{}", "missing start field"),
    (b'{"start": "-1h", "tail": 1, "head": 1}', "head and tail cannot both be specified"),
    (b'{"start": "-1h", "tail": -5}', "tail must be a non-negative integer"),
    (b'{"start": "last week"}', "is not a time"),
    (b'{"start": "-1h", "end": "-2h"}', "must be before end"),
    (b'{"start": "-1h", "filter": {"name": "env.(x)"}}', "invalid filter field pattern"),
    (b'{"start": "-1h", "filter": {"bad-key": "x"}}', "invalid filter key"),
    (b'{"start": "-1h", "filter": {"name": "*"}}', "invalid filter pattern"),
    (b'{"start": "-1h", "limit": 5}', "unknown field 'limit'"),
    (b'{"start": "-1h", "experimental_func": "mean"}', "not supported"),
    (b'{"start": "-1h"}' + b" " * 5000, "query is too large"),
]


def test_malformed_queries_get_400_with_a_json_reason(endpoint_factory: Callable[..., Endpoint]) -> None:
    node = endpoint_factory("beehive").start()
    for body, reason in MALFORMED:
        status, headers, answer = node.request("POST", "/api/v1/query", body)
        assert status == 400, body
        assert headers["Content-Type"] == "application/json"
        assert reason in json.loads(answer)["error"], (body, answer)
    assert node.metric("vwclass_dataendpoint_queries_total", code="400") == len(MALFORMED)

    status, _, answer = node.request("GET", "/api/v1/query")
    assert status == 405
    assert "POST" in json.loads(answer)["error"]
    status, _, answer = node.request("GET", "/api/v1/nothing")
    assert status == 404
    assert "error" in json.loads(answer)
    status, _, answer = node.request("GET", "/api/v1/files/../../etc/passwd")
    assert status == 404
    status, _, answer = node.request("GET", f"/api/v1/files/1700000000000000000-{'a' * 40}/x.jpg")
    assert status == 404
    assert "never stored" in json.loads(answer)["error"]

    # Still answering, with the real API's headers.
    status, headers, answer = node.request("POST", "/api/v1/query", b'{"start": "-1h"}')
    assert status == 200
    assert answer == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Disposition"].startswith('attachment; filename="sage-download-')
    assert node.get("/healthz")[0] == 200


def test_readiness_reports_a_missing_broker_and_recovers(
    endpoint_factory: Callable[..., Endpoint], rabbitmq: RabbitMQ
) -> None:
    node = endpoint_factory("beehive")
    node.env["VWCLASS_DATA_RABBITMQ_PASSWORD"] = "wrong"
    node.start(ready=False)
    wait_for(lambda: node.get("/healthz")[0] == 200, 20, "the process to be alive")
    status, _, body = node.get("/readyz")
    assert status == 503
    assert b"not consuming" in body
    wait_for(lambda: b"login refused" in node.get("/readyz")[2], 20, "the login failure to be reported")
    node.kill()
    node.env["VWCLASS_DATA_RABBITMQ_PASSWORD"] = rabbitmq.credentials.service
    node.start()
    assert node.get("/readyz")[0] == 200
