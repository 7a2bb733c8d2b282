"""Starts, recognises and stops the test environment's local processes, and finds free ports for them.

The control plane (cluster.py) and the real node (realnode.py) both run their components as detached
processes known by pid in a state file; a pid alone is not enough to stop one, since the machine may
have given it to somebody else's process since, so each is also checked by its command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from vwclass.testenv import TestenvError


def alive(pid: int, binary: str, module: str | None = None) -> bool:
    """True when pid is running and is `binary` (by its executable's name), or with `module`, a Python
    process running that module (`python -m module`): a reused pid is somebody else's process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    if module is not None:
        return module in argv
    return Path(argv[0]).name == binary


def start(
    component: str,
    argv: list[str],
    log: Path,
    record: Callable[[int], None],
    cwd: Path | None = None,
    settle: float = 0.2,
) -> None:
    """Starts argv in a session of its own (it outlives its caller and a Ctrl-C in the caller's terminal),
    output appended to log; record(pid) is called at once, so that whoever stops the component later finds
    it, then a component that exits within `settle` seconds is an error naming its log."""
    with log.open("a") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd
        )
    record(process.pid)
    time.sleep(settle)
    if process.poll() is not None:
        raise TestenvError(f"{component} exited at once (code {process.returncode}); see {log}")


def wait_until(
    ready: Callable[[], bool],
    component: str,
    running: Callable[[], bool],
    log: Path,
    timeout: float,
    interval: float,
    what: str = "",
    why_not: Callable[[], str] = lambda: "",
) -> None:
    """Polls ready() every `interval` seconds until it holds. Fails at once, naming log, when running()
    says the component has stopped (it never will be ready), else after timeout seconds; `what` names
    what is awaited (default: the component), why_not() the last reason it was not."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not running():
            raise TestenvError(f"{component} stopped while starting; see {log}")
        if time.monotonic() > deadline:
            reason = why_not()
            raise TestenvError(
                f"{what or component} not ready after {timeout:.0f}s{f' ({reason})' if reason else ''}; see {log}"
            )
        time.sleep(interval)


def stop(pid: int, binary: str, timeout: float, module: str | None = None) -> None:
    """Stops pid if it still is `binary` (see alive): SIGTERM, then SIGKILL after timeout seconds."""
    if not alive(pid, binary, module):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, binary, module) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid, binary, module):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our child


def read_state(path: Path) -> dict[str, object]:
    """The JSON state file at path, where the pids are kept; {} when there is none (nothing started)."""
    try:
        loaded: dict[str, object] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
