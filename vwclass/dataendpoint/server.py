"""The HTTP side: the data API query, upload downloads, rejected messages, health and metrics.

The standard library's threading server is enough here: every request's work is a blocking SQLite
read, so an asyncio server (aiohttp) would only hand it to threads anyway, at the cost of a larger
dependency and a few more megabytes resident. Answers stream with chunked encoding, so a query over
millions of records never sits in memory.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from vwclass.dataendpoint.consumer import State
from vwclass.dataendpoint.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from vwclass.dataendpoint.metrics import Metrics
from vwclass.dataendpoint.queries import MAX_QUERY_BYTES, Query, QueryError, parse_query
from vwclass.dataendpoint.reader import open_reader, recent_rejections, run_query, upload_filename
from vwclass.dataendpoint.store import StoreError
from vwclass.dataendpoint.uploads import FILES_PREFIX, UploadDirectory

MAX_CONCURRENT_QUERIES = 4
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, TimeoutError)
FILE_CHUNK = 65536
log = logging.getLogger(__name__)


@dataclass
class App:
    """What request handlers share."""

    db_path: Path
    uploads: UploadDirectory
    metrics: Metrics
    state: State
    public_url: str
    queries: threading.BoundedSemaphore


class DataServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, Handler)
        self.app = app


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vwclass-dataendpoint"
    timeout = 60  # a client that stops sending does not hold a thread forever
    server: DataServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        routes = {
            "/api/v1/query": ("POST", self._query),
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._metrics),
            "/api/v1/rejected": ("GET", self._rejected),
            "/": ("GET", self._index),
        }
        try:
            if path.startswith(FILES_PREFIX):
                allowed, handler = "GET", self._file
            elif path in routes:
                allowed, handler = routes[path]
            else:
                raise _HTTPError(404, f"no such endpoint {path!r}; see /")
            if method != allowed and not (method == "HEAD" and allowed == "GET"):
                self.close_connection = True
                raise _HTTPError(405, f"{path} accepts {allowed} only")
            handler()
        except _HTTPError as error:
            self._send_json(error.status, {"error": error.message})
        except _CLIENT_GONE:
            self.close_connection = True
        except Exception as error:  # a bug answers 500 and is logged; the server carries on
            log.exception("%s %s failed", method, path)
            self.close_connection = True
            self._send_json(500, {"error": f"internal error: {error!r}"})

    # --- the data API -------------------------------------------------------------------------

    def _query(self) -> None:
        app = self.server.app
        started = time.monotonic()
        status = 500
        try:
            body = self._read_body()
            try:
                query = parse_query(body, time.time_ns())
            except QueryError as error:
                status = 400
                self._send_json(400, {"error": f"failed to parse query: {error}"})
                return
            if not app.queries.acquire(timeout=30):
                status = 503
                self._send_json(503, {"error": "too many queries at once; retry shortly"})
                return
            try:
                status = self._stream_query(query)
            finally:
                app.queries.release()
        except _HTTPError as error:
            status = error.status
            raise
        finally:
            app.metrics.queries.labels(code=str(status)).inc()
            app.metrics.query_seconds.observe(time.monotonic() - started)

    def _stream_query(self, query: Query) -> int:
        app = self.server.app
        try:
            conn = open_reader(app.db_path)
        except StoreError as error:
            self._send_json(503, {"error": f"store unavailable: {error}"})
            return 503
        chunks = run_query(conn, query, app.public_url or self._own_base())
        try:
            try:
                first = next(chunks, b"")
            except Exception as error:
                log.exception("query failed")
                self._send_json(500, {"error": f"failed to query the store: {error}"})
                return 500
            filename = time.strftime("sage-download-%Y%m%d%H%M%S.ndjson")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Disposition", f'attachment; filename="{filename}"')
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self._write_chunks(first, chunks)
            except _CLIENT_GONE:
                raise
            except Exception:
                # Headers are out: cutting the connection short is the only honest error left.
                log.exception("query failed while streaming")
                self.close_connection = True
            return 200
        finally:
            chunks.close()  # ends the read transaction before the connection goes
            conn.close()

    def _write_chunks(self, first: bytes, rest: Iterator[bytes]) -> None:
        if first:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
        for chunk in rest:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_text = self.headers.get("Content-Length", "0")
        if not length_text.isdigit():
            self.close_connection = True
            raise _HTTPError(400, "invalid Content-Length")
        length = int(length_text)
        if length > MAX_QUERY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise _HTTPError(400, f"failed to parse query: query is too large - must be <{MAX_QUERY_BYTES} bytes")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self.rfile.readline(64).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                raise _HTTPError(400, "malformed chunked body") from None
            if size == 0:
                self.rfile.readline(64)
                return body
            if len(body) + size > MAX_QUERY_BYTES:
                self.close_connection = True
                raise _HTTPError(400, f"failed to parse query: query is too large - must be <{MAX_QUERY_BYTES} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(64)

    def _own_base(self) -> str:
        host = self.headers.get("Host")
        if not host:
            address, port = self.server.server_address[:2]
            host = f"{address!s}:{port}"
        return f"http://{host}"

    # --- uploads, rejected messages -----------------------------------------------------------

    def _file(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path).path[len(FILES_PREFIX) :].split("/")
        if len(parts) != 2:
            raise _HTTPError(404, "file URLs look like /api/v1/files/<ts>-<sha1>/<filename>")
        directory, filename = parts[0], unquote(parts[1])
        path = app.uploads.data_path(directory)
        if path is None:
            raise _HTTPError(404, f"no upload {directory!r}")
        conn = open_reader(app.db_path)
        try:
            stored = upload_filename(conn, directory)
        finally:
            conn.close()
        if stored is None or stored != filename:
            raise _HTTPError(404, f"no upload {directory}/{filename} (never stored, or expired)")
        try:
            handle = path.open("rb")
        except OSError:
            raise _HTTPError(404, f"upload {directory}/{filename} is no longer on disk") from None
        with handle:
            size = path.stat().st_size
            self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(filename)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(filename, safe='')}")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            if self.command == "HEAD":
                return
            while chunk := handle.read(FILE_CHUNK):
                self.wfile.write(chunk)

    def _rejected(self) -> None:
        values = parse_qs(urlsplit(self.path).query).get("limit", ["100"])
        if not values[0].isdigit():
            raise _HTTPError(400, "limit must be a positive integer")
        conn = open_reader(self.server.app.db_path)
        try:
            rows = recent_rejections(conn, min(int(values[0]), 1000))
        finally:
            conn.close()
        self._send_json(200, {"rejected": rows})

    # --- health, metrics, index ---------------------------------------------------------------

    def _healthz(self) -> None:
        self._send_text(200, "ok\n")

    def _readyz(self) -> None:
        ready, reason = self.server.app.state.ready()
        self._send_text(200 if ready else 503, reason + "\n")

    def _metrics(self) -> None:
        self._send_text(200, self.server.app.metrics.render(), METRICS_CONTENT_TYPE)

    def _index(self) -> None:
        self._send_json(
            200,
            {
                "query": 'POST /api/v1/query {"start": "-1h", "filter": {"name": "env.*"}}',
                "files": "GET /api/v1/files/<ts>-<sha1>/<filename> (the value of an upload record)",
                "rejected": "GET /api/v1/rejected?limit=100 (messages set aside, and why)",
                "health": ["/healthz", "/readyz", "/metrics"],
            },
        )

    def _send_text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        self._send_bytes(status, text.encode(), content_type)

    def _send_json(self, status: int, document: dict[str, Any]) -> None:
        self._send_bytes(status, (json.dumps(document) + "\n").encode(), "application/json")

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
