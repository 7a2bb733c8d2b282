"""The operator as a real separate process (`python -m vwclass.operator`), to kill and restart in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.kube import free_port


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log_path: Path, resync_seconds: float = 10.0) -> None:
        self.kubeconfig, self.log_path, self.resync_seconds = kubeconfig, log_path, resync_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vwclass.operator",
                "--kubeconfig",
                str(self.kubeconfig),
                "--liveness",
                f"http://127.0.0.1:{free_port()}/healthz",
                "--resync-seconds",
                str(self.resync_seconds),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as an OOM kill or a node loss."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
