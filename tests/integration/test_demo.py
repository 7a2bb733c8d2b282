"""The README's first set-up command works: the demo brings up a class and leaves it running."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from vwclass.testenv.cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


def test_make_demo_creates_a_ready_class_and_make_demo_down_stops_it() -> None:
    env = dict(os.environ, STUDENTS="3")
    cluster = Cluster("pytest-demo")
    try:
        demo = subprocess.run(
            ["make", "-s", "demo", "DEMO_CLUSTER=pytest-demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "class physics101 Ready" in demo.stdout
        assert "3/3" in demo.stdout
        assert "physics101-student-003" in demo.stdout  # vwclass status, one row per student
        assert f"export KUBECONFIG={cluster.kubeconfig}" in demo.stdout
        assert cluster.is_up()
    finally:
        down = subprocess.run(
            ["make", "-s", "demo-down", "DEMO_CLUSTER=pytest-demo"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert down.returncode == 0, down.stderr
    assert not cluster.running()
