"""The gateway's check as an HTTP service beside nginx: /check for nginx's auth_request, /_login/<student>
for a student's login link, /healthz.

Each answer of the API server is kept a short while (a token's review, a node's Jupyter token, a
workspace's address), so a page's hundred requests cost at most one review; a token revoked or a
student removed stops working within REVIEW_TTL seconds. The standard library's threading server is
enough: nginx asks on loopback, one short request per proxied request, and the work is small.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from vwclass.core import names
from vwclass.gateway import check
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import BY_KIND

log = logging.getLogger("vwclass.gateway")
REVIEW_TTL = 30.0  # seconds a token's review stands (valid or not)
WORKSPACE_TTL = 60.0  # seconds a node's Jupyter token and workspace address stand
T = TypeVar("T")
REFUSED = "This link is not valid (expired, or not this student's): ask your teacher for a new one.\n"


class Expiring(Generic[T]):
    """Values by key, each for ttl seconds after it was read (thread-safe; a miss reads it again)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._values: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, read: Callable[[], T]) -> T:
        """key's value, read (and kept) when there is none or it has expired."""
        now = self._clock()
        with self._lock:
            kept = self._values.get(key)
            if kept is not None and kept[0] > now:
                return kept[1]
        value = read()
        with self._lock:
            if len(self._values) > 10_000:  # a flood of made-up tokens must not grow it without end
                self._values = {k: v for k, v in self._values.items() if v[0] > now}
            self._values[key] = (now + self._ttl, value)
        return value


class Check:
    """Reviews tokens and finds workspaces with the gateway's own account."""

    def __init__(self, kube: Kube, cls: check.Class) -> None:
        self.kube, self.cls = kube, cls
        # Kept by the token's digest: the tokens themselves stay in no memory longer than a request.
        self._reviews: Expiring[str | None] = Expiring(REVIEW_TTL)
        self._workspaces: Expiring[tuple[str, str]] = Expiring(WORKSPACE_TTL)

    def user_of(self, token: str) -> str | None:
        """Whose valid token this is (None: not valid), by the API server's TokenReview."""
        return self._reviews.get(hashlib.sha256(token.encode()).hexdigest(), lambda: self._review(token))

    def _review(self, token: str) -> str | None:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        reviewed = self.kube.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=body)
        status = reviewed.get("status") or {}
        return str(status["user"]["username"]) if status.get("authenticated") else None

    def workspace(self, student: str) -> tuple[str, str]:
        """(host:port, Jupyter token) of the student's workspace."""
        return self._workspaces.get(student, lambda: self._workspace(student))

    def _workspace(self, student: str) -> tuple[str, str]:
        namespace = self.cls.namespace(student)
        secret = self.kube.get(BY_KIND[("v1", "Secret")], names.CREDENTIALS_SECRET, namespace)
        if secret is None or "jupyter-token" not in (secret.get("data") or {}):
            raise LookupError(f"no workspace credentials in namespace {namespace}")
        token = base64.b64decode(secret["data"]["jupyter-token"]).decode()
        # By address: nginx then needs no resolver of its own (the pod's resolv.conf finds the Service).
        host = f"{names.WORKSPACE_SERVICE}.{namespace}.svc"
        address = str(socket.getaddrinfo(host, names.WORKSPACE_PORT, type=socket.SOCK_STREAM)[0][4][0])
        upstream = f"[{address}]" if ":" in address else address
        return f"{upstream}:{names.WORKSPACE_PORT}", token


def _handler(decide: Check) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "vwclass-gateway"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line may hold a token: never logged

        def _answer(self, status: int, headers: dict[str, str] | None = None, text: str = "") -> None:
            body = text.encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            try:
                if path == "/healthz":
                    self._answer(200, text="ok\n")
                elif path == "/check":
                    self._check()
                elif path.startswith("/_login/"):
                    self._login()
                else:
                    self._answer(404)
            except (ApiError, OSError, LookupError) as error:
                log.warning("cannot check a request: %s", error)
                self._answer(503, text="The gateway cannot reach the cluster: try again in a moment.\n")

        def _check(self) -> None:
            student = check.student_of(self.headers.get("X-Original-URI", ""))
            token = check.token_in_cookies(self.headers.get("Cookie", ""), student) if student else ""
            if student is None or not token or not check.allowed(decide.cls, student, decide.user_of(token)):
                self._answer(401)
                return
            upstream, workspace_token = decide.workspace(student)
            self._answer(200, {"X-Workspace": upstream, "X-Workspace-Token": workspace_token})

        def _login(self) -> None:
            student = check.student_of(self.path)
            token = (parse_qs(urlsplit(self.path).query).get("token") or [""])[0]
            if student is None or not token or not check.allowed(decide.cls, student, decide.user_of(token)):
                log.info("login refused for %s", student or "an unknown path")
                self._answer(401, text=REFUSED)
                return
            secure = self.headers.get("X-Forwarded-Proto", "") == "https"
            cookie = check.login_cookie(student, token, secure)
            log.info("%s logged in", student)
            self._answer(302, {"Location": f"{names.workspace_path(student)}lab", "Set-Cookie": cookie})

    return Handler


def serve(decide: Check, port: int, address: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The check's server, bound (not yet serving: call serve_forever)."""
    server = ThreadingHTTPServer((address, port), _handler(decide))
    server.daemon_threads = True
    return server
