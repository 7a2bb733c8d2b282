"""Fixtures for operator tests: the operator running embedded (the API is installed by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import VirtualClock
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube


@pytest.fixture
def operator(kubeconfig: Path, kube: Kube) -> Iterator[EmbeddedOperator]:
    with EmbeddedOperator(str(kubeconfig), resync_seconds=10.0) as running:
        yield running


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def clocked_operator(kubeconfig: Path, kube: Kube, clock: VirtualClock) -> Iterator[EmbeddedOperator]:
    """The operator on a virtual clock the test moves (schedules, expiries, idle students)."""
    with EmbeddedOperator(str(kubeconfig), resync_seconds=10.0, clock=clock) as running:
        yield running
