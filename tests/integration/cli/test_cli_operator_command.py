"""`vwclass operator` as the container runs it: a real subprocess that reconciles classes until stopped.

No embedded operator runs in this module: the subprocess is the only one.
"""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.classes import class_namespaces
from tests.support.cli import VWCLASS, Cli, one_line, run_vwclass
from tests.support.kube import eventually, free_port, unique
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND

pytestmark = pytest.mark.cluster


def test_the_operator_command_reconciles_and_stops_on_sigterm(
    cli: Cli, cli_kube: Kube, kubeconfig: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "operator.log").open("w")
    process = subprocess.Popen(
        [
            str(VWCLASS),
            "--kubeconfig",
            str(kubeconfig),
            "operator",
            "--liveness",
            f"http://127.0.0.1:{port}/healthz",
            "--resync-seconds",
            "30",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    name = unique("opcmd")
    try:

        def healthy() -> bool:
            assert process.poll() is None, (tmp_path / "operator.log").read_text()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return bool(response.status == 200)

        eventually(healthy, timeout=60, what="the operator's liveness endpoint")
        created = cli("create", name, "--students", "1", "--wait", "--timeout", "90s")
        assert created.exit_code == 0, created.output
        assert class_namespaces(cli_kube, name) == {f"{name}-student-001"}
    finally:
        cli("delete", name, "--yes")
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    log_text = (tmp_path / "operator.log").read_text()
    assert code in (0, -signal.SIGTERM), log_text
    # An in-cluster operator (test_cli_install leaves one, Available on kwok) doing the same work is pointed out.
    deployment = cli_kube.get(BY_KIND[("apps/v1", "Deployment")], "vwclass-operator", "vwclass-system")
    in_cluster = bool(deployment and deployment.get("status", {}).get("readyReplicas"))
    assert (
        "warning: the in-cluster operator (vwclass-system/vwclass-operator) is running too" in log_text
    ) is in_cluster


def test_the_operator_command_without_a_cluster_is_one_line(tmp_path: Path) -> None:
    result = run_vwclass("--kubeconfig", str(tmp_path / "missing"), "operator", timeout=60)
    assert result.returncode == 3
    assert one_line(result.stderr) == f"error: kubeconfig {tmp_path / 'missing'} does not exist\n"
