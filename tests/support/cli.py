"""`vwclass` and `kubectl` as tests run them: in-process through typer's CliRunner, or as real programs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from vwclass.cli.app import app
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


def kubectl_binary() -> str:
    """The kubectl built with the local control plane, else the one on PATH."""
    built = build.bin_dir() / "kubectl"
    return str(built) if built.exists() else shutil.which("kubectl") or "kubectl"


def kubectl(kubeconfig: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=120
    )


def one_line(text: str) -> str:
    """The single line text holds (an error must be exactly one line, never a traceback)."""
    assert "Traceback" not in text
    assert text.endswith("\n"), f"expected one line, got {text!r}"
    assert text.count("\n") == 1, f"expected one line, got {text!r}"
    return text
