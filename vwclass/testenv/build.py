"""Builds the control-plane binaries from the Go wrapper modules in testenv/gomod into a cache.

The cache is keyed by the wrapper modules' go.mod and go.sum, so a second run (and CI's fresh clone
on the same machine) builds nothing; VWCLASS_TESTENV_BIN points at a ready-made bin directory instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vwclass.testenv import TestenvError

GOMOD_DIR = Path(__file__).resolve().parents[2] / "testenv" / "gomod"
MIN_GO = (1, 26)


@dataclass(frozen=True)
class GoModule:
    """One wrapper module and the commands it builds."""

    directory: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]


# kubelet and kube-proxy come from the same module as the API server, so the real node reports the
# same version (the version ldflags below) as the control plane.
KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
MODULES = (
    GoModule("etcd", ("go.etcd.io/etcd/server/v3",), ("etcd",)),
    GoModule(
        "kubernetes",
        tuple(f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS),
        KUBERNETES_COMMANDS,
    ),
    GoModule("kwok", ("sigs.k8s.io/kwok/cmd/kwok",), ("kwok",)),
)

# The real node's network tools, built only by `up --real-node`: each keyed by its own module
# (tool_dir), so they never invalidate the control plane's cache.
KUBE_ROUTER = GoModule("kube-router", ("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",), ("kube-router",))
COREDNS = GoModule("coredns", ("github.com/coredns/coredns",), ("coredns",))


def required_version(module: str, dependency: str) -> str:
    """The version a wrapper module's go.mod requires of a dependency, e.g. 'v1.36.3'."""
    text = (GOMOD_DIR / module / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(dependency)}\s+(v\S+)", text, re.M)
    if not found:
        raise TestenvError(f"testenv/gomod/{module}/go.mod does not require {dependency}")
    return found.group(1)


def kubernetes_version() -> str:
    return required_version("kubernetes", "k8s.io/kubernetes")


def cache_key() -> str:
    """Names the versions and hashes the wrapper modules, so any change to them rebuilds."""
    digest = hashlib.sha256()
    for module in MODULES:
        for name in ("go.mod", "go.sum"):
            digest.update((GOMOD_DIR / module.directory / name).read_bytes())
    versions = "_".join(
        (
            "k8s-" + kubernetes_version(),
            "etcd-" + required_version("etcd", "go.etcd.io/etcd/server/v3"),
            "kwok-" + required_version("kwok", "sigs.k8s.io/kwok"),
        )
    )
    return f"{versions}_{digest.hexdigest()[:12]}"


def bin_dir() -> Path:
    """Where the binaries are (VWCLASS_TESTENV_BIN) or will be built (the user's cache)."""
    override = os.environ.get("VWCLASS_TESTENV_BIN")
    if override:
        return Path(override).expanduser()
    return _cache_root() / cache_key() / "bin"


def _check_go() -> str:
    go = shutil.which("go")
    if not go:
        raise TestenvError(
            "Go is not installed (or not on PATH): the local control plane is built from Go "
            f"modules and needs Go >= {MIN_GO[0]}.{MIN_GO[1]}"
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", out)
    if not found or (int(found.group(1)), int(found.group(2))) < MIN_GO:
        raise TestenvError(
            f"Go {out or 'of unknown version'} is too old: the control plane's modules need "
            f"Go >= {MIN_GO[0]}.{MIN_GO[1]}"
        )
    return go


def _version_ldflags(version: str) -> str:
    """Stamps the version as Kubernetes' hack/lib/version.sh does, so clients don't see v0.0.0."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _say(message: str) -> None:
    print(f"testenv: {message}", file=sys.stderr, flush=True)


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vwclass" / "testenv"


def ensure_binaries() -> Path:
    """Builds whatever control-plane binary is missing from the cache; returns the bin directory."""
    target = bin_dir()
    missing = [m for m in MODULES if not all((target / b).exists() for b in m.binaries)]
    if not missing:
        return target
    if os.environ.get("VWCLASS_TESTENV_BIN"):
        names = ", ".join(b for m in missing for b in m.binaries if not (target / b).exists())
        raise TestenvError(f"VWCLASS_TESTENV_BIN={target} lacks {names}")
    for module in missing:
        _build(module, target)
    return target


def tool_dir(module: GoModule) -> Path:
    """Where a tool's binaries live: keyed by its own go.mod and go.sum only, so adding or changing a
    tool never invalidates the control plane's cache (nor another tool's)."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((GOMOD_DIR / module.directory / name).read_bytes())
    return _cache_root() / "tools" / f"{module.directory}_{digest.hexdigest()[:12]}" / "bin"


def ensure_tool(module: GoModule) -> Path:
    """Builds (once) a Go tool beside the control plane (one wrapper module of testenv/gomod that is
    not part of the control plane); returns its bin directory."""
    target = tool_dir(module)
    if not all((target / b).exists() for b in module.binaries):
        _build(module, target)
    return target


def _build(module: GoModule, target: Path) -> None:
    """Builds one wrapper module's commands into target, all or nothing."""
    go = _check_go()
    target.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # The wrapper modules' go.sum is committed: a build must never rewrite it (readonly), and a Go
    # older than the modules need must fail with our message rather than fetch another toolchain.
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=readonly").strip()
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    log = target.parent / f"build-{module.directory}.log"
    staging = target.parent / f"staging-{module.directory}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    ldflags = _version_ldflags(kubernetes_version()) if module.directory == "kubernetes" else "-s -w"
    # One package: name the output, since Go would call go.etcd.io/etcd/server/v3 "server".
    output = staging / module.binaries[0] if len(module.packages) == 1 else str(staging) + "/"
    command = [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(output)]
    _say(f"building {', '.join(module.binaries)} (log: {log}) ...")
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            command + list(module.packages),
            cwd=GOMOD_DIR / module.directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise TestenvError(f"building {module.directory} failed (exit {result.returncode}); see {log}")
    # Move into place only when the whole module built, so a killed build never leaves half a set.
    for binary in module.binaries:
        os.replace(staging / binary, target / binary)
    shutil.rmtree(staging, ignore_errors=True)
    _say(f"built {module.directory} in {time.monotonic() - started:.0f}s")
