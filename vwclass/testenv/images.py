"""Container images for the real node, built here without a registry or Docker, cached by their inputs.

A root filesystem (from mmdebstrap, or one static binary) becomes an OCI image archive (one
uncompressed layer, a config, a manifest and an index naming the full reference), which
`ctr images import` loads under that exact reference.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from vwclass.testenv import TestenvError, build

PAUSE_REFERENCE = "vwclass.local/testenv/pause:v1"


@dataclass(frozen=True)
class DebianImage:
    """An image made of Debian packages: what goes in decides its cache key."""

    reference: str
    packages: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ("/bin/sh",)
    suite: str = "bookworm"
    variant: str = "essential"
    customize: tuple[str, ...] = ()  # mmdebstrap customize hooks: shell run with the root as $1
    env: tuple[str, ...] = ()

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:16]


# The minimal image the real-node tests run: a shell, coreutils and getent for DNS.
TEST_IMAGE = DebianImage("vwclass.local/testenv/debian:bookworm")
# Stand-in for the official RabbitMQ image, under its reference, keeping its contract: user rabbitmq
# with uid 100 and gid 101 (Debian gives uid 100 to epmd, so the two swap), config in /etc/rabbitmq,
# data and the Erlang cookie in /var/lib/rabbitmq, rabbitmq-diagnostics on PATH.
RABBITMQ_IMAGE = DebianImage(
    "docker.io/library/rabbitmq:4.1.4-management-alpine",
    packages=("rabbitmq-server",),
    command=("rabbitmq-server",),
    customize=(
        'chroot "$1" sh -ec \''
        'u=$(getent passwd 100 | cut -d: -f1); [ -z "$u" ] || [ "$u" = rabbitmq ] || usermod -u 999 "$u"; '
        'g=$(getent group 101 | cut -d: -f1); [ -z "$g" ] || [ "$g" = rabbitmq ] || groupmod -g 998 "$g"; '
        "groupmod -g 101 rabbitmq; usermod -u 100 -g 101 -d /var/lib/rabbitmq rabbitmq; "
        "chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq'",
    ),
    env=("HOME=/var/lib/rabbitmq", "RABBITMQ_LOGS=-"),
)


def images_dir() -> Path:
    return build._cache_root() / "images"


def _say(message: str) -> None:
    build._say(message)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_oci_archive(
    archive: Path,
    layer: Path,
    reference: str,
    entrypoint: tuple[str, ...],
    command: tuple[str, ...],
    env: tuple[str, ...] = (),
) -> None:
    """Writes an OCI image layout as a tar: one uncompressed layer, its config, manifest and index."""
    layer_digest = _sha256_file(layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": list(entrypoint) or None,
            "Cmd": list(command) or None,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "vwclass.testenv.images"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _descriptor("application/vnd.oci.image.config.v1+json", config_bytes),
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": f"sha256:{layer_digest}",
                "size": layer.stat().st_size,
            }
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    manifest_descriptor = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest_bytes)
    manifest_descriptor["platform"] = {"architecture": "amd64", "os": "linux"}
    # containerd names the image from either annotation; both carry the full reference.
    manifest_descriptor["annotations"] = {
        "org.opencontainers.image.ref.name": reference,
        "io.containerd.image.name": reference,
    }
    index = {"schemaVersion": 2, "manifests": [manifest_descriptor]}
    partial = archive.with_suffix(".partial")
    with tarfile.open(partial, "w") as out:
        _add_bytes(out, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add_bytes(out, "index.json", json.dumps(index).encode())
        _add_bytes(out, f"blobs/sha256/{hashlib.sha256(config_bytes).hexdigest()}", config_bytes)
        _add_bytes(out, f"blobs/sha256/{hashlib.sha256(manifest_bytes).hexdigest()}", manifest_bytes)
        out.add(str(layer), arcname=f"blobs/sha256/{layer_digest}")
    os.replace(partial, archive)


def _descriptor(media_type: str, content: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": f"sha256:{hashlib.sha256(content).hexdigest()}", "size": len(content)}


def _add_bytes(out: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(content))


def _run_logged(command: list[str], log: Path, what: str) -> None:
    with log.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise TestenvError(f"building {what} failed (exit {result.returncode}); see {log}")


def debian_image(image: DebianImage) -> Path:
    """The OCI archive of a Debian image, built once per set of inputs with mmdebstrap."""
    directory = images_dir() / f"{image.reference.rsplit('/', 1)[-1].replace(':', '-')}-{image.key()}"
    archive = directory / "image.tar"
    if archive.exists():
        return archive
    if not shutil.which("mmdebstrap"):
        raise TestenvError("mmdebstrap is not installed (apt-get install mmdebstrap): real-node images need it")
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "build.log"
    rootfs = directory / "rootfs.tar"
    command = ["mmdebstrap", "--quiet", f"--variant={image.variant}", "--mode=root", "--format=tar"]
    if image.packages:
        command.append("--include=" + ",".join(image.packages))
    # Trim what a container never needs (docs, man pages, apt lists) so images stay small.
    command += ["--dpkgopt=path-exclude=/usr/share/{doc,man,info,locale}/*", "--aptopt=Acquire::Languages none"]
    command += [f"--customize-hook={hook}" for hook in image.customize]
    command += [image.suite, str(rootfs)]
    _say(f"building image {image.reference} (log: {log}) ...")
    started = time.monotonic()
    _run_logged(command, log, f"image {image.reference}")
    write_oci_archive(archive, rootfs, image.reference, image.entrypoint, image.command, image.env)
    rootfs.unlink()
    _say(f"built image {image.reference} in {time.monotonic() - started:.0f}s")
    return archive


def pause_image() -> Path:
    """The pod sandbox image: Kubernetes' own pause.c built static (the upstream image is not pullable)."""
    source = _kubernetes_module_dir() / "build" / "pause" / "linux" / "pause.c"
    if not source.exists():
        raise TestenvError(f"{source} is missing: build the control plane first (make testenv)")
    key = hashlib.sha256(source.read_bytes() + PAUSE_REFERENCE.encode()).hexdigest()[:16]
    directory = images_dir() / f"pause-{key}"
    archive = directory / "image.tar"
    if archive.exists():
        return archive
    if not shutil.which("gcc"):
        raise TestenvError("gcc is not installed (apt-get install gcc libc6-dev): the pause image is built from C")
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "pause"
    _run_logged(
        ["gcc", "-Os", "-static", "-Wall", "-Werror", "-o", str(binary), str(source)],
        directory / "build.log",
        "the pause image",
    )
    return binary_image(binary, PAUSE_REFERENCE, directory)


def binary_image(binary: Path, reference: str, directory: Path | None = None) -> Path:
    """An image holding one static binary as its entrypoint (pause, CoreDNS), cached by its content."""
    if directory is None:
        key = hashlib.sha256(binary.read_bytes() + reference.encode()).hexdigest()[:16]
        directory = images_dir() / f"{binary.name}-{key}"
    archive = directory / "image.tar"
    if archive.exists():
        return archive
    directory.mkdir(parents=True, exist_ok=True)
    layer = directory / "layer.tar"
    with tarfile.open(layer, "w") as out:
        info = out.gettarinfo(str(binary), arcname=binary.name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755
        with binary.open("rb") as stream:
            out.addfile(info, stream)
    write_oci_archive(archive, layer, reference, (f"/{binary.name}",), ())
    layer.unlink()
    return archive


def _kubernetes_module_dir() -> Path:
    gomodcache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True).stdout.strip()
    return Path(gomodcache) / "k8s.io" / f"kubernetes@{build.kubernetes_version()}"


def import_image(ctr: list[str], archive: Path, log: Path) -> None:
    """Loads an OCI archive into containerd's CRI namespace (unpacked for its default snapshotter)."""
    with log.open("a") as out:
        result = subprocess.run([*ctr, "images", "import", str(archive)], stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise TestenvError(f"importing {archive} into containerd failed; see {log}")
