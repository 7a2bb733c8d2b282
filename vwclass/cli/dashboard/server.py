"""The dashboard's HTTP side: the page at `/` and the latest snapshot at `/api/snapshot`, nothing else.

The standard library's threading server, as the data endpoint's (vwclass.dataendpoint.server): each
request only copies bytes already in memory (the page, and the snapshot the background reads keep),
so there is nothing for an asyncio server to gain. It listens on 127.0.0.1 unless told otherwise, and
answers only requests addressed to the name it listens on, so a web page elsewhere cannot read the
class through the browser by pointing a name of its own at 127.0.0.1 (DNS rebinding). The page's
one inline script and style are allowed by their hashes in its Content-Security-Policy, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
PAGE = "page.html"
SNAPSHOT_PATH = "/api/snapshot"
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def page() -> bytes:
    """The page, as the package ships it."""
    return resources.files("vwclass.cli.dashboard").joinpath(PAGE).read_bytes()


def _hashes(html: bytes, tag: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in re.findall(rb"<" + tag.encode() + rb"[^>]*>(.*?)</" + tag.encode() + rb">", html, re.DOTALL)
    ]


def content_security_policy(html: bytes) -> str:
    """Only the page's own inline script and style run; it may fetch from its own origin and nothing else."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src " + " ".join(_hashes(html, "script")),
            "style-src " + " ".join(_hashes(html, "style")),
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


class DashboardServer(ThreadingHTTPServer):
    """Serves html at `/` and snapshot() at SNAPSHOT_PATH."""

    daemon_threads = True
    # A second dashboard on the same port must fail to start, not share the port (newer Pythons' HTTPServer
    # sets SO_REUSEPORT).
    allow_reuse_port = False

    def __init__(self, address: tuple[str, int], snapshot: Callable[[], bytes], html: bytes | None = None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.snapshot = snapshot
        self.html = page() if html is None else html
        self.policy = content_security_policy(self.html)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """Where a browser on this machine opens the page."""
        host = str(self.server_address[0])
        if host in _WILDCARDS:
            host = "127.0.0.1" if self.address_family == socket.AF_INET else "::1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def serves_host(self, header: str | None) -> bool:
        """Whether a request's Host names this server (any name, when it listens on every address)."""
        bound = str(self.server_address[0])
        if bound in _WILDCARDS:
            return True
        if not header:
            return False
        try:
            parts = urlsplit(f"//{header}")
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return False
        if port not in (None, self.port) or (port is None and self.port != 80):
            return False
        return host in _LOCAL_NAMES or _same_address(host, bound)


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vwclass-dashboard"
    timeout = 60  # a client that stops sending does not hold a thread forever
    server: DashboardServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._route(send_body=True)

    def do_HEAD(self) -> None:
        self._route(send_body=False)

    def _route(self, send_body: bool) -> None:
        if not self.server.serves_host(self.headers.get("Host")):
            self._send(421, b"this server answers only to the address it listens on\n", "text/plain", send_body)
            return
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, self.server.html, "text/html; charset=utf-8", send_body)
        elif path == SNAPSHOT_PATH:
            self._send(200, self.server.snapshot(), "application/json", send_body)
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain", send_body)
        else:
            self._send(404, b"not found\n", "text/plain", send_body)

    def _send(self, status: int, body: bytes, content_type: str, send_body: bool) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy", self.server.policy)
            self.end_headers()
            if send_body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
