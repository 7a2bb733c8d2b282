"""Wires the data endpoint together: store, HTTP server thread, consumer loop, signals, shutdown."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from vwclass.dataendpoint.config import Config
from vwclass.dataendpoint.consumer import Consumer, State
from vwclass.dataendpoint.ingest import Processor
from vwclass.dataendpoint.metrics import Metrics
from vwclass.dataendpoint.retention import Retention
from vwclass.dataendpoint.server import MAX_CONCURRENT_QUERIES, App, DataServer
from vwclass.dataendpoint.store import StoreError, Writer
from vwclass.dataendpoint.uploads import UploadDirectory

log = logging.getLogger("vwclass.dataendpoint")


class StartupError(RuntimeError):
    """The endpoint cannot start (store unusable, port taken); the message is one line."""


def run(config: Config, stop: threading.Event | None = None) -> None:
    """Serves until SIGTERM/SIGINT (or `stop` is set); raises StartupError when it cannot begin."""
    stop = stop or threading.Event()
    try:
        writer = Writer(config.db_path, max_series=config.max_series)
    except (StoreError, OSError) as error:
        raise StartupError(str(error)) from None
    uploads = UploadDirectory(config.upload_dir)
    metrics = Metrics()
    state = State()
    retention = Retention(writer, uploads, max_age_s=config.retention_age_s, max_bytes=config.max_bytes)
    processor = Processor(
        config.mode,
        uploads,
        node=config.node,
        vsn=config.vsn,
        plugin=config.plugin,
        local_url=config.local_url,
    )
    app = App(
        db_path=config.db_path,
        uploads=uploads,
        metrics=metrics,
        state=state,
        public_url=config.public_url,
        queries=threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES),
    )
    try:
        server = DataServer((config.listen_host, config.listen_port), app)
    except OSError as error:
        writer.close()
        raise StartupError(
            f"cannot listen on {config.listen_host}:{config.listen_port}: {error.strerror or error}"
        ) from None
    http = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    http.start()
    log.info(
        "data API listening on %s:%d; store %s; uploads %s",
        config.listen_host,
        config.listen_port,
        config.db_path,
        config.upload_dir,
    )
    if not config.upload_dir.is_dir():
        log.warning(
            "upload directory %s does not exist (yet): upload messages will be rejected until "
            "the plugin runner's upload volume is mounted there",
            config.upload_dir,
        )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; finishing the current batch", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    try:
        Consumer(config, processor, writer, retention, metrics, state, stop).run()
    finally:
        server.shutdown()
        server.server_close()
        writer.close()
        log.info("stopped")
