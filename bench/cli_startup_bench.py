"""Start-up time of the `vwclass` command: how long a teacher waits before anything happens.

Prints the median wall time of several runs of `vwclass --help`, `vwclass --version` and
`vwclass render x --students 3` (no cluster needed), with `python -c "import kubernetes"` beside them
for comparison: the commands that do not talk to a cluster should not pay for the kubernetes client.
With --kubeconfig, `vwclass list` against that cluster is timed too. No assertions.

    .venv/bin/python bench/cli_startup_bench.py [--runs 7] [--kubeconfig FILE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _vwclass() -> list[str]:
    script = Path(sys.executable).parent / "vwclass"
    if script.exists():
        return [str(script)]
    found = shutil.which("vwclass")
    return [found] if found else [sys.executable, "-c", "from vwclass.cli.app import main; main()"]


def timed(argv: list[str], runs: int) -> tuple[float, float, int]:
    """(median, min) seconds of runs, and the last exit code; one warm-up run first (page cache)."""
    subprocess.run(argv, capture_output=True, cwd=REPO, check=False)
    samples = []
    code = 0
    for _ in range(runs):
        started = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, cwd=REPO, check=False).returncode
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), min(samples), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (default: %(default)s)")
    parser.add_argument("--kubeconfig", help="also time `vwclass list` against this cluster")
    args = parser.parse_args()
    vwclass = _vwclass()
    cases = [
        ("vwclass --help", [*vwclass, "--help"]),
        ("vwclass --version", [*vwclass, "--version"]),
        ("vwclass render x --students 3", [*vwclass, "render", "x", "--students", "3"]),
        ('python -c "import kubernetes"', [sys.executable, "-c", "import kubernetes"]),
        ('python -c "pass"', [sys.executable, "-c", "pass"]),
    ]
    if args.kubeconfig:
        cases.append(("vwclass list (a live cluster)", [*vwclass, "--kubeconfig", args.kubeconfig, "list"]))
    print(f"{'command':34} {'median':>8} {'min':>8}  exit   ({args.runs} runs each)")
    for label, argv in cases:
        median, fastest, code = timed(argv, args.runs)
        print(f"{label:34} {median * 1000:7.0f}ms {fastest * 1000:7.0f}ms  {code}")


if __name__ == "__main__":
    main()
