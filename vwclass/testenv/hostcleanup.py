"""Undoing what a real node leaves on the machine: container processes, cgroups, shims, mounts and
iptables chains (realnode.down calls these in order)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


def kubepods() -> list[Path]:
    return sorted(Path("/sys/fs/cgroup").glob("*/kubepods")) + sorted(Path("/sys/fs/cgroup").glob("*/*/kubepods"))


def _cgroup_pids() -> set[int]:
    """The processes in the kubelet's cgroups. Pods' cgroups vanish while they are read (the kubelet
    and runc remove them as their containers end): a cgroup gone is one with no process left."""
    pids: set[int] = set()
    for root in kubepods():
        for directory, _subdirectories, files in os.walk(root):  # errors (a directory gone) are skipped
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in (Path(directory) / "cgroup.procs").read_text().split())
    return pids


def kill_cgroup_processes(timeout: float = 15.0) -> None:
    """SIGKILLs every process in the kubelet's cgroups: every container of every pod."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _cgroup_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def remove_cgroups() -> None:
    for root in kubepods():
        # Deepest first; a directory already gone is skipped, as in _cgroup_pids.
        for directory, _subdirectories, _files in os.walk(root, topdown=False):
            with contextlib.suppress(OSError):
                Path(directory).rmdir()


def shims(socket: Path) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            found.append(int(proc.name))
    return found


def unmount_under(roots: list[Path]) -> None:
    """Detaches every mount below roots, deepest first (pod volumes, rootfs overlays, the kubelet's own)."""
    prefixes = [str(r.resolve()) for r in roots]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            points.append(point)
    for point in sorted(set(points), key=lambda p: -p.count("/")):
        _run("umount", "-l", point)


def remove_iptables_chains() -> None:
    """Removes every KUBE-* and CNI-* chain and every rule jumping to one, in every table, v4 and v6."""
    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        dump = _run(save).stdout
        if "KUBE-" not in dump and "CNI-" not in dump:
            continue
        kept = [line for line in dump.splitlines() if not ours(line)]
        subprocess.run([restore], input="\n".join(kept) + "\n", text=True, capture_output=True)


def ours(line: str) -> bool:
    words = line.split()
    if line.startswith(":"):
        return line[1:].startswith(("KUBE-", "CNI-"))
    if line.startswith("-A"):
        targets = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g", "-A")]
        return any(t.startswith(("KUBE-", "CNI-")) for t in targets)
    return False
