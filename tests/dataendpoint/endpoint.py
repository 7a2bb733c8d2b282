"""Runs `python -m vwclass.dataendpoint` as a subprocess, as its container would, and talks to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.rabbitmq import RabbitMQ

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, sqlite3.Error) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Endpoint:
    """One data endpoint process; `start()` again after `kill()` to restart on the same store."""

    def __init__(self, rabbitmq: RabbitMQ, workdir: Path, mode: str, **settings: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.db_path = workdir / "store" / "records.sqlite3"
        self.upload_dir = workdir / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "endpoint.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO),
            "VWCLASS_DATA_MODE": mode,
            "VWCLASS_DATA_RABBITMQ_HOST": rabbitmq.host,
            "VWCLASS_DATA_RABBITMQ_PORT": str(rabbitmq.amqp_port),
            "VWCLASS_DATA_RABBITMQ_USERNAME": "service",
            "VWCLASS_DATA_RABBITMQ_PASSWORD": rabbitmq.credentials.service,
            "VWCLASS_DATA_DB_PATH": str(self.db_path),
            "VWCLASS_DATA_UPLOAD_DIR": str(self.upload_dir),
            "VWCLASS_DATA_LISTEN_HOST": "127.0.0.1",
            "VWCLASS_DATA_LISTEN_PORT": str(self.port),
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, ready: bool = True) -> Endpoint:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vwclass.dataendpoint"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"endpoint exited with {self.process.returncode}:\n{self.log()}")
            return self.get("/readyz")[0] == 200

        wait_for(ready, timeout, f"the endpoint to be ready (log {self.log_path})")

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or close anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def query(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        """Raw NDJSON records of a query (to check exact JSON types and text)."""
        status, _, body = self.request("POST", "/api/v1/query", json.dumps(document).encode())
        assert status == 200, body
        return [json.loads(line) for line in body.decode().splitlines()]

    def metric(self, name: str, **labels: str) -> float:
        _, _, body = self.get("/metrics")
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in body.decode().splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0

    # --- the store, read directly -------------------------------------------------------------

    def stored_count(self) -> int:
        if not self.db_path.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        finally:
            conn.close()
