"""`python -m vwclass.dataendpoint`: --help, and one clear line for bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dataendpoint.endpoint import REPO, free_port


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VWCLASS_DATA_", "WAGGLE_NODE_"))}
    return subprocess.run(
        [sys.executable, "-m", "vwclass.dataendpoint", *args],
        env={**clean, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_documents_every_variable() -> None:
    result = run({}, "--help")
    assert result.returncode == 0
    for name in (
        "VWCLASS_DATA_MODE",
        "VWCLASS_DATA_RABBITMQ_PASSWORD",
        "VWCLASS_DATA_DB_PATH",
        "VWCLASS_DATA_UPLOAD_DIR",
        "VWCLASS_DATA_LISTEN_PORT",
        "VWCLASS_DATA_RETENTION_AGE",
        "VWCLASS_DATA_MAX_BYTES",
        "WAGGLE_NODE_ID",
        "(default: 8080)",
    ):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("env", "args", "code", "fragment"),
    [
        ({}, (), 2, "VWCLASS_DATA_RABBITMQ_PASSWORD is required"),
        ({"VWCLASS_DATA_RABBITMQ_PASSWORD": "x", "VWCLASS_DATA_MODE": "edge"}, (), 2, "VWCLASS_DATA_MODE='edge'"),
        ({"VWCLASS_DATA_RABBITMQ_PASSWORD": "x", "VWCLASS_DATA_MAX_BYTES": "big"}, (), 2, "VWCLASS_DATA_MAX_BYTES"),
        ({}, ("--port", "80"), 2, "unrecognized arguments: --port 80"),
        (
            {"VWCLASS_DATA_RABBITMQ_PASSWORD": "x", "VWCLASS_DATA_DB_PATH": "/proc/no/such/dir/db"},
            (),
            1,
            "cannot start: cannot create the store's directory /proc/no/such/dir",
        ),
    ],
)
def test_bad_configuration_is_one_line_and_a_nonzero_exit(
    env: dict[str, str], args: tuple[str, ...], code: int, fragment: str
) -> None:
    result = run(env, *args)
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            {
                "VWCLASS_DATA_RABBITMQ_PASSWORD": "x",
                "VWCLASS_DATA_DB_PATH": str(tmp_path / "db.sqlite3"),
                "VWCLASS_DATA_LISTEN_HOST": "127.0.0.1",
                "VWCLASS_DATA_LISTEN_PORT": str(port),
            }
        )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in result.stderr
