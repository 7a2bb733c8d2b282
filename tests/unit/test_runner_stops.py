"""The runner's idle command stops at SIGTERM as PID 1 of its container, as a pod's deletion asks.

PID 1 of a PID namespace ignores every signal it has no handler for: a bare `sleep infinity` there holds
each deletion or restart of the student's node for the whole grace period, then RabbitMQ, stopped last,
is killed instead of stopped. The command is taken from the rendered pod and run here as PID 1 of a new
PID namespace (root's `unshare`, as in CI), with Debian's dash as the plugin-base image's /bin/sh.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.classes import class_body
from vwclass.core import names, render
from vwclass.core.spec import parse_class


def _pid_one(unshare: subprocess.Popen[bytes]) -> int:
    """The pid (seen from here) of the process that is PID 1 in unshare's new namespace."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("unshare started no child")


def test_the_runners_idle_command_exits_at_once_on_sigterm_as_pid_one() -> None:
    cls = parse_class(class_body("stops", students=1, components={"workspace": False}))
    [node] = [o for o in render.student_objects(cls, cls.students[0]) if o["metadata"]["name"] == names.NODE_WORKLOAD]
    [runner] = [c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "plugin-runner"]
    command = [*runner["command"], *runner.get("args", [])]
    unshare = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", *command])
    try:
        pid_one = _pid_one(unshare)
        time.sleep(0.5)  # the trap set and `wait` reached, as in a container that has run a while
        os.kill(pid_one, signal.SIGTERM)
        # A command that ignores SIGTERM would still be running when this wait gives up.
        assert unshare.wait(timeout=10) == 0
    finally:
        unshare.kill()
        unshare.wait()
