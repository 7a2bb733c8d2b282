"""TEST DOUBLE of waggle/wes-data-sharing-service 0.14.0, for the real node of vwclass's test environment.

Not the upstream service (which is not on PyPI and cannot be installed here): a small stand-in that
keeps its documented contract, so a student's node runs unchanged on the real node. It reads the same
environment variables, consumes SRC_QUEUE (to-validator), and for each message:
- rejects it (no requeue) when it has neither app_id nor user_id, when its body is not a Waggle
  message (JSON with name, val, ts and a meta map of strings), or when the sender is not one of
  SYSTEM_USERS and the app-meta cache has no `app-meta.<app_id>` key;
- otherwise merges the app meta (a JSON map of strings) and the node's `node`/`vsn` into the meta;
- publishes scope (the routing key) node|all to DST_EXCHANGE_NODE (data.topic, routing key = name)
  and beehive|all to DST_EXCHANGE_BEEHIVE (to-beehive, persistent).
Like upstream, it serves Prometheus metrics on METRICS_HOST:METRICS_PORT only once connected; its
rejections are counted by `reason` (no_ids, not_waggle, no_app_meta), which `vwclass report` shows.
Not done: rewriting `upload` values to storage URLs (the data endpoint serves uploads here).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pika
import redis

SCOPES_NODE = ("node", "all")
SCOPES_BEEHIVE = ("beehive", "all")
counters = {
    "messages_total": 0,
    "messages_published_node_total": 0,
    "messages_published_beehive_total": 0,
}
# Rejections by reason (a label), so a teacher's `vwclass report` can say why a student's messages go.
rejected: dict[str, int] = {}
connected = threading.Event()


class Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/metrics" or not connected.is_set():
            self.send_response(404 if self.path != "/metrics" else 503)
            self.end_headers()
            return
        lines = [f"wes_data_sharing_service_{name} {value}\n" for name, value in counters.items()]
        lines += [
            f'wes_data_sharing_service_messages_rejected_total{{reason="{reason}"}} {count}\n'
            for reason, count in sorted(rejected.items())
        ]
        body = "".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # probes every few seconds: keep the log for messages
        pass


def waggle_message(body: bytes) -> dict[str, object] | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or not {"name", "val", "ts"} <= message.keys():
        return None
    meta = message.setdefault("meta", {})
    if not isinstance(message["name"], str) or not isinstance(message["ts"], int) or not isinstance(meta, dict):
        return None
    if not all(isinstance(v, str) for v in meta.values()):
        return None
    return message


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # PID 1 of its container: without a handler SIGTERM would be ignored until the grace period ends.
    # Unacknowledged messages go back to the queue.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = os.environ.get
    system_users = set(filter(None, env("SYSTEM_USERS", "").split()))
    node, vsn = env("WAGGLE_NODE_ID", ""), env("WAGGLE_NODE_VSN", "")
    src, dst_node = env("SRC_QUEUE", "to-validator"), env("DST_EXCHANGE_NODE", "data.topic")
    dst_beehive = env("DST_EXCHANGE_BEEHIVE", "to-beehive")
    cache = redis.Redis(host=env("APP_META_CACHE_HOST", "localhost"), port=int(env("APP_META_CACHE_PORT", "6379")))
    server = ThreadingHTTPServer((env("METRICS_HOST", "0.0.0.0"), int(env("METRICS_PORT", "8080"))), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    params = pika.ConnectionParameters(
        host=env("RABBITMQ_HOST", "rabbitmq"),
        port=int(env("RABBITMQ_PORT", "5672")),
        credentials=pika.PlainCredentials(env("RABBITMQ_USERNAME", "service"), env("RABBITMQ_PASSWORD", "service")),
        connection_attempts=60,
        retry_delay=2,
    )
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.queue_declare(src, durable=True, passive=True)

    def handle(ch, method, properties, body: bytes) -> None:  # type: ignore[no-untyped-def]
        counters["messages_total"] += 1
        app_id, user_id = properties.app_id, properties.user_id
        message = waggle_message(body)
        app_meta: dict[str, str] | None = {}
        if not app_id and not user_id:
            code, reason = "no_ids", "no app_id and no user_id"
        elif message is None:
            code, reason = "not_waggle", "not a Waggle message"
        elif user_id in system_users:
            code, reason = "", ""
        else:
            raw = cache.get(f"app-meta.{app_id}") if app_id else None
            app_meta = json.loads(raw) if raw else None
            code, reason = ("", "") if app_meta is not None else ("no_app_meta", f"no app-meta.{app_id} in the cache")
        if reason or message is None or app_meta is None:
            rejected[code] = rejected.get(code, 0) + 1
            logging.info("rejected a message from app_id=%r user_id=%r: %s", app_id, user_id, reason)
            ch.basic_reject(method.delivery_tag, requeue=False)
            return
        meta = message["meta"]
        assert isinstance(meta, dict)
        meta.update(app_meta)
        meta.update({"node": node, "vsn": vsn})
        out = json.dumps(message, separators=(",", ":")).encode()
        scope = method.routing_key or "all"
        if scope in SCOPES_NODE:
            ch.basic_publish(dst_node, str(message["name"]), out)
            counters["messages_published_node_total"] += 1
        if scope in SCOPES_BEEHIVE:
            ch.basic_publish(dst_beehive, str(message["name"]), out, pika.BasicProperties(delivery_mode=2))
            counters["messages_published_beehive_total"] += 1
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(src, handle)
    connected.set()
    logging.info("consuming %s as a stand-in of wes-data-sharing-service (node %s, vsn %s)", src, node, vsn)
    channel.start_consuming()


if __name__ == "__main__":
    main()
