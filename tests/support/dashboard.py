"""`vwclass dashboard` run as a teacher's shell runs it (the installed script), for tests to read."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.cli import VWCLASS


class Dashboard:
    """`vwclass dashboard` as a teacher's shell runs it, with its first line of output read."""

    def __init__(self, kubeconfig: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(VWCLASS), "--kubeconfig", str(kubeconfig), "dashboard", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        try:
            self.line = lines.get(timeout=60)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no URL printed; stderr: {self.process.communicate()[1]}") from None
        self.url = next(word for word in self.line.split() if word.startswith("http://"))

    def get(self, path: str) -> tuple[int, str, str]:
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read().decode()

    def snapshot(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.get("/api/snapshot")[2])
        return document

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: its exit code and stderr."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr
