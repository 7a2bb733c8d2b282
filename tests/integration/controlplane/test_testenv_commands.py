"""`python -m vwclass.testenv`: up, status, down, up again; clear one-line errors for bad set-ups."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vwclass.testenv import build, processes
from vwclass.testenv.cluster import COMPONENTS, Cluster

pytestmark = pytest.mark.cluster


def run_testenv(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vwclass.testenv", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env


def test_up_status_down_and_up_again_leave_no_process_behind(tmp_path: Path, testenv_cluster: Cluster | None) -> None:
    env = _env(VWCLASS_TESTENV_DIR=str(tmp_path))
    for _ in range(2):
        up = run_testenv("up", "--name", "second", env=env)
        assert up.returncode == 0, up.stderr
        kubeconfig = tmp_path / "second" / "kubeconfig"
        assert up.stdout.strip() == f"export KUBECONFIG={kubeconfig}"
        kubectl = build.bin_dir() / "kubectl"
        nodes = subprocess.run(
            [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        items = json.loads(nodes.stdout)["items"]
        assert len(items) >= 3
        for node in items:
            ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
            assert ready
            assert ready[0]["status"] == "True"
        state = json.loads((tmp_path / "second" / "state.json").read_text())
        if testenv_cluster is not None:  # two clusters at once: no shared port
            assert set(state["ports"].values()).isdisjoint(testenv_cluster.ports().values())
        assert run_testenv("status", "--name", "second", env=env).returncode == 0

        down = run_testenv("down", "--name", "second", env=env)
        assert down.returncode == 0, down.stderr
        for component in COMPONENTS:
            assert not processes.alive(state["pids"][component], component), f"{component} still running"
    assert run_testenv("status", "--name", "second", env=env).returncode == 1


def _fake_go(directory: Path, version: str, build_exit: int) -> str:
    directory.mkdir()
    script = directory / "go"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = env ]; then echo {version}; exit 0; fi\n'
        'echo "pretend compiler error" >&2\n'
        f"exit {build_exit}\n"
    )
    script.chmod(0o755)
    return f"{directory}:/usr/bin:/bin"


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("testenv: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_go_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(XDG_CACHE_HOME=str(tmp_path / "cache"), PATH="/usr/bin:/bin", VWCLASS_TESTENV_DIR=str(tmp_path))
    env.pop("VWCLASS_TESTENV_BIN", None)
    assert "Go is not installed" in _one_clear_line(run_testenv("up", env=env))


def test_too_old_go_is_one_clear_line(tmp_path: Path) -> None:
    path = _fake_go(tmp_path / "fakego", "go1.21.5", 0)
    env = _env(XDG_CACHE_HOME=str(tmp_path / "cache"), PATH=path, VWCLASS_TESTENV_DIR=str(tmp_path))
    env.pop("VWCLASS_TESTENV_BIN", None)
    line = _one_clear_line(run_testenv("build", env=env))
    assert "go1.21.5 is too old" in line
    assert ">= 1.26" in line


def test_a_failed_build_points_at_its_log(tmp_path: Path) -> None:
    path = _fake_go(tmp_path / "fakego", "go1.26.8", 2)
    env = _env(XDG_CACHE_HOME=str(tmp_path / "cache"), PATH=path, VWCLASS_TESTENV_DIR=str(tmp_path))
    env.pop("VWCLASS_TESTENV_BIN", None)
    line = _one_clear_line(run_testenv("build", env=env))
    assert "building etcd failed" in line
    log = Path(line.rsplit("see ", 1)[1])
    assert "pretend compiler error" in log.read_text()


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(VWCLASS_TESTENV_DIR=str(tmp_path), VWCLASS_TESTENV_APISERVER_PORT=str(port))
        line = _one_clear_line(run_testenv("up", "--name", "ports", env=env))
    assert f"port {port} (for apiserver) is already taken" in line
