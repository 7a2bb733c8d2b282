"""The README's first set-up command works: the demo brings up its classes and leaves them running.

Its 30-student class (3 here) runs on simulated nodes; its lab class puts a student on the real node and
shows a live round trip, from a runner's pywaggle to the data API and back.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from vwclass.testenv.cluster import Cluster

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.cluster, pytest.mark.realnode, pytest.mark.realnode_alone]


def test_make_demo_creates_a_ready_class_and_make_demo_down_stops_it() -> None:
    env = dict(os.environ, STUDENTS="3", REAL_STUDENTS="1")
    cluster = Cluster("pytest-demo")
    try:
        demo = subprocess.run(
            ["make", "-s", "demo", "DEMO_CLUSTER=pytest-demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "class physics101 Ready" in demo.stdout
        assert "3/3" in demo.stdout
        assert "physics101-student-003" in demo.stdout  # vwclass status, one row per student
        assert "class physics101-lab Ready on the real node" in demo.stdout
        # The round trip's two ends: the value published from the runner is the one read back.
        published = re.search(r"published demo.temperature=(\S+) from the runner", demo.stdout)
        assert published, demo.stdout
        assert re.search(rf"demo.temperature = {re.escape(published.group(1))}\s+\(task plugin-runner", demo.stdout)
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
