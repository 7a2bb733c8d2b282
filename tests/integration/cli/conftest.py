"""Fixtures for CLI tests: the CRD installed, the operator running embedded, and `vwclass` to invoke.

`vwclass` runs in-process (tests.support.cli.Cli) or as the real installed script in a subprocess
(tests.support.cli.run_vwclass). Fixtures here are visible only under this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Cli
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube


@pytest.fixture(scope="session")
def cli_kube(kube: Kube) -> Kube:
    """The session's client (the API installed), under the name these tests use."""
    return kube


@pytest.fixture(scope="session")
def cli(kubeconfig: Path, cli_kube: Kube) -> Cli:
    return Cli(kubeconfig)


@pytest.fixture(scope="module")
def operator(kubeconfig: Path, cli_kube: Kube) -> Iterator[EmbeddedOperator]:
    with EmbeddedOperator(str(kubeconfig), resync_seconds=10.0) as running:
        yield running
