"""Consumes the node's queue with pika and acknowledges each batch only after its commit.

Deliveries are gathered into a batch (up to VWCLASS_DATA_BATCH, or whatever arrived when the queue
pauses for 50 ms, or 200 ms after the batch's first message), written in one transaction, then in
validator mode republished to data.topic, then acknowledged with one `multiple` ack. A crash at any
point leaves unacknowledged messages in RabbitMQ, which redelivers them; the store's idempotent
writes make the redelivery harmless. If the store cannot be written the connection is dropped, so
RabbitMQ requeues the batch, and the consumer retries with backoff.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import suppress

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from vwclass.dataendpoint.config import Config
from vwclass.dataendpoint.ingest import Accepted, Delivery, Processor
from vwclass.dataendpoint.metrics import Metrics
from vwclass.dataendpoint.retention import Retention
from vwclass.dataendpoint.store import Rejection, StoreError, Writer

INACTIVITY_S = 0.05
MAX_BATCH_DELAY_S = 0.2
HOUSEKEEPING_S = 5.0
RETENTION_S = 60.0
REJECTION_LOG_S = 5.0
NODE_EXCHANGE = "data.topic"
log = logging.getLogger(__name__)


class State:
    """What /readyz reports: written by the consumer thread, read by request threads."""

    STALE_S = 30.0

    def __init__(self) -> None:
        self.consuming = False
        self.store_ok = False
        self.problem = "starting"
        self._beat = 0.0

    def beat(self) -> None:
        self._beat = time.monotonic()

    def ready(self) -> tuple[bool, str]:
        if not self.consuming:
            return False, f"not consuming: {self.problem}"
        if time.monotonic() - self._beat > self.STALE_S:
            return False, f"consumer loop stalled for over {self.STALE_S:.0f}s"
        if not self.store_ok:
            return False, f"store not writable: {self.problem}"
        return True, "ok"


class Consumer:
    def __init__(
        self,
        config: Config,
        processor: Processor,
        writer: Writer,
        retention: Retention,
        metrics: Metrics,
        state: State,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.processor = processor
        self.writer = writer
        self.retention = retention
        self.metrics = metrics
        self.state = state
        self.stop = stop
        self._next_housekeeping = 0.0
        self._next_retention = 0.0
        self._queue_depth = -1
        self._rejection_log: dict[str, tuple[float, int]] = {}

    def run(self) -> None:
        """Consumes until `stop` is set, reconnecting with backoff after any failure."""
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self._session()
                backoff = 1.0
            except (pika.exceptions.AMQPError, OSError) as error:
                self._trouble(
                    f"RabbitMQ at {self.config.rabbitmq_host}:{self.config.rabbitmq_port}: {_describe(error)}"
                )
            except (sqlite3.Error, StoreError) as error:
                self.state.store_ok = False
                self._trouble(f"store {self.config.db_path}: {error}")
            except Exception as error:  # a bug: say so loudly, then keep the service alive
                log.exception("consumer failed")
                self._trouble(f"internal error: {error!r}")
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def _trouble(self, problem: str) -> None:
        self.state.consuming = False
        self.metrics.consuming.set(0)
        self.state.problem = problem
        log.warning("%s; retrying", problem)

    def _session(self) -> None:
        cfg = self.config
        params = pika.ConnectionParameters(
            host=cfg.rabbitmq_host,
            port=cfg.rabbitmq_port,
            credentials=pika.PlainCredentials(cfg.rabbitmq_username, cfg.rabbitmq_password),
            heartbeat=30,
            blocked_connection_timeout=60,
            connection_attempts=1,
            socket_timeout=5,
            client_properties={"connection_name": "vwclass-dataendpoint"},
        )
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=2 * cfg.batch)
            self._queue_depth = channel.queue_declare(cfg.queue, passive=True).method.message_count
            self.writer.heartbeat()
            self.state.store_ok = True
            log.info(
                "consuming %s at %s:%d as %s (%s mode)",
                cfg.queue,
                cfg.rabbitmq_host,
                cfg.rabbitmq_port,
                cfg.rabbitmq_username,
                cfg.mode,
            )
            pending: list[tuple[int, Delivery]] = []
            first_at = 0.0
            for method, properties, body in channel.consume(cfg.queue, inactivity_timeout=INACTIVITY_S):
                if not self.state.consuming:
                    self.state.consuming = True
                    self.metrics.consuming.set(1)
                self.state.beat()
                if method is not None:
                    if not pending:
                        first_at = time.monotonic()
                    pending.append(
                        (
                            method.delivery_tag,
                            Delivery(body, method.routing_key or "", properties.user_id, properties.app_id),
                        )
                    )
                if pending and (
                    method is None or len(pending) >= cfg.batch or time.monotonic() - first_at >= MAX_BATCH_DELAY_S
                ):
                    self._flush(channel, pending)
                    pending = []
                if self.stop.is_set():
                    break
                if method is None or time.monotonic() >= self._next_housekeeping:
                    self._housekeeping(channel)
            if pending:
                self._flush(channel, pending)
            with suppress(Exception):
                channel.cancel()
        finally:
            self.state.consuming = False
            self.metrics.consuming.set(0)
            with suppress(Exception):
                connection.close()

    def _flush(self, channel: BlockingChannel, pending: list[tuple[int, Delivery]]) -> None:
        results: list[Accepted | Rejection] = []
        for _, delivery in pending:
            try:
                results.append(self.processor.process(delivery))
            except Exception as error:  # a bug must not turn one message into a blocked queue
                log.exception("cannot process a message; setting it aside")
                results.append(
                    Rejection(
                        "internal", repr(error), delivery.body, delivery.routing_key, delivery.user_id, delivery.app_id
                    )
                )
        accepted = [r for r in results if isinstance(r, Accepted)]
        rejections = [r for r in results if isinstance(r, Rejection)]
        to_store = [a for a in accepted if a.store]
        refused = set(self.writer.write([a.record for a in to_store], rejections))
        self.state.store_ok = True

        refused_ids = {id(to_store[i]) for i in refused}
        for item in accepted:
            if item.publish and id(item) not in refused_ids:
                channel.basic_publish(
                    NODE_EXCHANGE,
                    item.record.message.name,
                    self.processor.republished(item),
                    pika.BasicProperties(delivery_mode=pika.DeliveryMode.Transient),
                )
                self.metrics.published.inc()
        channel.basic_ack(pending[-1][0], multiple=True)

        self.metrics.received.inc(len(pending))
        self.metrics.stored.inc(len(to_store) - len(refused))
        for rejection in rejections:
            self.metrics.rejected.labels(reason=rejection.reason).inc()
            self._log_rejection(rejection)
        if refused:
            self.metrics.rejected.labels(reason="series_limit").inc(len(refused))
            log.warning("rejected %d messages: series limit %d reached", len(refused), self.writer.max_series)
        self.metrics.last_commit.set(time.time())

    def _log_rejection(self, rejection: Rejection) -> None:
        # One line per reason every few seconds: a plugin looping on a bad message must not flood
        # the log (the rejected table and the metric keep the full count).
        now = time.monotonic()
        last, suppressed = self._rejection_log.get(rejection.reason, (0.0, 0))
        if now - last < REJECTION_LOG_S:
            self._rejection_log[rejection.reason] = (last, suppressed + 1)
            return
        more = f" ({suppressed} more like it not logged)" if suppressed else ""
        log.warning("rejected message (%s): %s%s", rejection.reason, rejection.detail, more)
        self._rejection_log[rejection.reason] = (now, 0)

    def _housekeeping(self, channel: BlockingChannel) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + HOUSEKEEPING_S
        self._queue_depth = channel.queue_declare(self.config.queue, passive=True).method.message_count
        self.metrics.queue_messages.set(self._queue_depth)
        self.writer.heartbeat()
        self.state.store_ok = True
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_S
            report = self.retention.run(sweep_uploads=self._queue_depth == 0)
            self.metrics.retention_deleted.inc(report.records)
            self.metrics.store_bytes.set(self.retention.used_bytes())


def _describe(error: BaseException) -> str:
    if isinstance(error, pika.exceptions.ProbableAuthenticationError | pika.exceptions.AuthenticationError):
        return "login refused (check VWCLASS_DATA_RABBITMQ_USERNAME / _PASSWORD)"
    if isinstance(error, pika.exceptions.ChannelClosedByBroker):
        return f"channel closed: {error.reply_code} {error.reply_text}"
    return repr(error) if not str(error) else f"{type(error).__name__}: {error}"
