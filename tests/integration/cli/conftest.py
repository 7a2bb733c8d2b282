"""Fixtures for CLI tests: the CRD installed, the operator running embedded, and `vwclass` to invoke.

`vwclass` runs in-process through typer's CliRunner (output and exit code checked), or as the real
installed script in a subprocess (`run_vwclass`). Fixtures here are visible only under this folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.support.embedded_operator import EmbeddedOperator
from vwclass.cli.app import app
from vwclass.kube.api import Kube
from vwclass.testenv import build

VWCLASS = Path(sys.executable).parent / "vwclass"


@dataclass(frozen=True)
class Cli:
    """`vwclass --kubeconfig K ...` in-process, with stdout and stderr apart."""

    kubeconfig: Path

    def __call__(self, *args: str, input: str | None = None, kubeconfig: Path | str | None = None) -> Result:
        where = str(kubeconfig or self.kubeconfig)
        return CliRunner().invoke(app, ["--kubeconfig", where, *args], input=input, prog_name="vwclass")


def invoke(*args: str, input: str | None = None) -> Result:
    """`vwclass ...` in-process without a kubeconfig of ours (for commands that need no cluster)."""
    return CliRunner().invoke(app, list(args), input=input, prog_name="vwclass")


def run_vwclass(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed `vwclass` script in a subprocess, as a teacher's shell runs it."""
    return subprocess.run([str(VWCLASS), *args], capture_output=True, text=True, timeout=timeout)


def kubectl(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    built = build.bin_dir() / "kubectl"
    binary = str(built) if built.exists() else shutil.which("kubectl") or "kubectl"
    return subprocess.run([binary, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=120)


def one_line(text: str) -> str:
    """The single line text holds (an error must be exactly one line, never a traceback)."""
    assert "Traceback" not in text
    assert text.endswith("\n") and text.count("\n") == 1, f"expected one line, got {text!r}"
    return text


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
