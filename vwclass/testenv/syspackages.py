"""The Debian packages each make target needs: installed first (as root), or one `sudo apt-get` line.

Standard library only, and nothing from the rest of vwclass: the Makefile runs it with the machine's
python3 before `.venv/` exists, so a fresh machine stops (or installs) in its first seconds, never
after minutes of building. `.ci/run` calls it too, so the list lives here alone.

    python3 -m vwclass.testenv.syspackages demo|demo-kwok|test [--check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable

# Why each group is needed; a package's name as Debian 12 spells it.
GROUPS: dict[str, tuple[str, ...]] = {
    # The real node: its runtime, CNI plugins, the NetworkPolicy enforcer's tools, images from
    # Debian's packages, and the pause image built from C.
    "real-node": (
        "containerd",
        "runc",
        "containernetworking-plugins",
        "iptables",
        "ipset",
        "iproute2",
        "mmdebstrap",
        "gcc",
        "libc6-dev",
    ),
    # The message-bus tests run Debian's RabbitMQ outside any cluster.
    "message-bus": ("rabbitmq-server",),
    # The browser tests drive a student's workspace (JupyterLab) and the teacher's dashboard in headless
    # Chromium, through Debian's chromedriver of the same version (selenium never downloads a driver).
    "browser": ("chromium", "chromium-driver"),
}
TARGETS: dict[str, tuple[str, ...]] = {
    "demo": ("real-node",),
    "demo-kwok": (),  # make demo REAL_STUDENTS=0: simulated nodes only
    "test": ("real-node", "message-bus", "browser"),
}


def packages_for(target: str) -> list[str]:
    """Every package target needs, in a stable order."""
    return sorted({package for group in TARGETS[target] for package in GROUPS[group]})


def missing(packages: Iterable[str]) -> list[str]:
    """The packages dpkg does not have installed (all of them where there is no dpkg)."""
    if not shutil.which("dpkg-query"):
        return list(packages)
    absent = []
    for package in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True).stdout
        if "ok installed" not in status:
            absent.append(package)
    return absent


def install(packages: list[str]) -> int:
    """apt-get update once, then install; apt's own output shows, so a failure explains itself."""
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian packages: {' '.join(packages)}", flush=True)
    started = time.monotonic()
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(command, env=environment, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            print(f"{' '.join(command[:2])} failed (exit {result.returncode}); see its output above", file=sys.stderr)
            return 1
    print(f"installed Debian packages in {time.monotonic() - started:.0f}s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m vwclass.testenv.syspackages", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--check", action="store_true", help="only say what is missing (exit 1 if anything)")
    arguments = parser.parse_args(argv)
    absent = missing(packages_for(arguments.target))
    if "real-node" in TARGETS[arguments.target] and os.geteuid() != 0:
        # The real node runs containerd and a kubelet: without root it would fail after the build.
        fix = f"sudo make {arguments.target}" + (", or make demo REAL_STUDENTS=0" if arguments.target == "demo" else "")
        print(f"make {arguments.target} runs a real node and needs root: {fix}", file=sys.stderr)
        return 1
    if not absent:
        return 0
    line = f"sudo apt-get install -y --no-install-recommends {' '.join(absent)}"
    if arguments.check or os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"make {arguments.target} needs Debian packages that are missing: {line}", file=sys.stderr)
        return 1
    return install(absent)


if __name__ == "__main__":
    sys.exit(main())
