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
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from vwclass.testenv import TestenvError, build

PAUSE_REFERENCE = "vwclass.local/testenv/pause:v1"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# pip in a build's hooks: only the wheels downloaded for it (DebianImage.wheels), never the network.
# Debian bookworm's python3, which every image with Python runs.
DEBIAN_PYTHON = "3.11.2"
PIP_ENV = "PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1"


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
    user: str = ""  # the image config's User ("uid:gid"); empty: root
    # Host directories copied into the root before the hooks run (as mmdebstrap's copy-in: to /<name>).
    copy_in: tuple[str, ...] = ()
    # Python packages from PyPI: each entry is the arguments of one `pip download` run on the host (whose
    # pip knows the way to PyPI, proxy and CA included); the hooks install them from /wheels, offline.
    wheels: tuple[tuple[str, ...], ...] = ()

    def key(self) -> str:
        # Fields left at their empty default stay out, so adding a field keeps existing images' keys.
        inputs = {
            name: value for name, value in self.__dict__.items() if value or name not in ("user", "copy_in", "wheels")
        }
        if self.copy_in:  # by content, not by path: every clone and worktree shares the image
            inputs["copy_in"] = [f"{Path(path).name}:{_tree_digest(Path(path))}" for path in self.copy_in]
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _tree_digest(root: Path) -> str:
    """A digest of every file's relative path and content under root (what copy_in puts in an image)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# The minimal image the real-node tests run: a shell, coreutils and getent for DNS.
TEST_IMAGE = DebianImage("vwclass.local/testenv/debian:bookworm")
# Stand-in for the official RabbitMQ image, under its reference, keeping its contract: user rabbitmq
# with uid 100 and gid 101 (Debian gives uid 100 to epmd, so the two swap), config in /etc/rabbitmq,
# data and the Erlang cookie in /var/lib/rabbitmq, rabbitmq-diagnostics on PATH. RabbitMQ's own scripts
# come first on PATH, as in the upstream image: Debian's /usr/sbin/rabbitmq-server wrapper runs the
# broker without exec and has no trap, so as PID 1 it ignored SIGTERM and every node's stop ended in a
# SIGKILL of the broker; RabbitMQ's script stops the broker cleanly on SIGTERM.
RABBITMQ_IMAGE = DebianImage(
    "docker.io/library/rabbitmq:4.1.4-management-alpine",
    packages=("rabbitmq-server",),
    command=("rabbitmq-server",),
    customize=(
        'chroot "$1" sh -ec \''
        'u=$(getent passwd 100 | cut -d: -f1); [ -z "$u" ] || [ "$u" = rabbitmq ] || usermod -u 999 "$u"; '
        'g=$(getent group 101 | cut -d: -f1); [ -z "$g" ] || [ "$g" = rabbitmq ] || groupmod -g 998 "$g"; '
        "groupmod -g 101 rabbitmq; usermod -u 100 -g 101 -d /var/lib/rabbitmq rabbitmq; "
        "chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq; "
        # As the upstream management image does: the plugin enabled in /etc/rabbitmq/enabled_plugins.
        "rabbitmq-plugins enable --offline rabbitmq_management'",
    ),
    env=("HOME=/var/lib/rabbitmq", "RABBITMQ_LOGS=-", f"PATH=/usr/lib/rabbitmq/bin:{DEFAULT_PATH}"),
    user="100:101",
)
# Stand-in for waggle/app-meta-cache: Redis from Debian (the upstream image is Redis 7 plus a Go helper
# that the rendered node does not use; the node runs redis-server and redis-cli by name).
APP_META_CACHE_IMAGE = DebianImage(
    "docker.io/waggle/app-meta-cache:0.1.2",
    packages=("redis-server", "redis-tools"),
    # The official Redis image is compiled with protected mode off (it would refuse every client from
    # another pod when no password is set); Debian's is not, so redis-server on PATH turns it off.
    customize=(
        "printf '#!/bin/sh\\nexec /usr/bin/redis-server \"$@\" --protected-mode no\\n' "
        '> "$1"/usr/local/bin/redis-server && chmod 755 "$1"/usr/local/bin/redis-server',
    ),
    command=("redis-server",),
)
# Stand-in for waggle/plugin-base: python3 with pywaggle and sage-data-client from PyPI, at the versions
# requirements/test.lock pins (upstream: Ubuntu with python3 and pywaggle, root, no entrypoint).
PLUGIN_RUNNER_IMAGE = DebianImage(
    "docker.io/waggle/plugin-base:1.1.1-ml",
    # libstdc++6: numpy's wheel (under sage-data-client's pandas) links it; upstream's Ubuntu base has it.
    packages=("python3", "python3-pip", "ca-certificates", "libstdc++6"),
    customize=(
        f'chroot "$1" env {PIP_ENV} pip install --quiet --no-cache-dir --break-system-packages '
        "pywaggle==0.56.3 sage-data-client==0.9.1",
        # The build fails, rather than a student's first query, when what a plugin imports does not load.
        'chroot "$1" python3 -c "import waggle.plugin, sage_data_client"',
    ),
    command=("python3",),
    wheels=(("pywaggle==0.56.3", "sage-data-client==0.9.1"),),
)
STANDINS_DIR = Path(__file__).resolve().parents[2] / "testenv" / "standins"
# Stand-in for waggle/wes-data-sharing-service (a test double: testenv/standins/data-sharing-service).
DATA_SHARING_SERVICE_IMAGE = DebianImage(
    "docker.io/waggle/wes-data-sharing-service:0.14.0",
    packages=("python3", "python3-pika", "python3-redis"),
    copy_in=(str(STANDINS_DIR / "data-sharing-service"),),
    command=("python3", "/data-sharing-service/main.py"),
    env=("PYTHONUNBUFFERED=1",),
)

# Stand-in for nginxinc/nginx-unprivileged (a class's gateway): Debian's nginx, which the gateway runs by
# name with its own configuration, as the non-root user the pod sets (upstream's is uid 101).
GATEWAY_IMAGE = DebianImage(
    "docker.io/nginxinc/nginx-unprivileged:1.27",
    packages=("nginx",),
    command=("nginx", "-g", "daemon off;"),
    user="101:101",
)
# JupyterLab's defaults in the workspace (Dockerfile.workspace writes the same): no news fetched from the
# internet in a classroom, and the terminal's screen-reader mode (its text in the page, for students who
# use one, and what the browser tests read).
JUPYTERLAB_SETTINGS = "/usr/local/share/jupyter/lab/settings/overrides.json"
WORKSPACE_SETTINGS = (
    '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}, '
    '"@jupyterlab/terminal-extension:plugin": {"screenReaderMode": true}}'
)
# The workspace's Python packages, at the versions requirements/test.lock pins where it has them.
WORKSPACE_PACKAGES = ("pywaggle==0.56.3", "sage-data-client==0.9.1", "jupyterlab==4.4.10")

# What a class with default components runs, besides the project's own image and the workspace built
# on it (project_image(), workspace_image()).
CLASS_IMAGES = (RABBITMQ_IMAGE, APP_META_CACHE_IMAGE, PLUGIN_RUNNER_IMAGE, DATA_SHARING_SERVICE_IMAGE, GATEWAY_IMAGE)


def project_source() -> Path:
    """What the Dockerfile copies into its build stage, staged in one folder (copied in as /src)."""
    root = Path(__file__).resolve().parents[2]
    stage = images_dir() / "vwclass-source" / "src"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, stage / name)
    (stage / "requirements").mkdir()
    for name in ("image.lock", "build.lock"):
        shutil.copy2(root / "requirements" / name, stage / "requirements" / name)
    for name in ("vwclass", "crds", "manifests"):
        shutil.copytree(root / name, stage / name, ignore=shutil.ignore_patterns("__pycache__"))
    return stage


def project_image(stage: Path) -> DebianImage:
    """The project's image (operator and data endpoint) from the Dockerfile's steps, on Debian's python3."""
    return DebianImage(
        "ghcr.io/sagecontinuum/vwclass:0.1.0",
        # libstdc++6: google-re2's wheel (under cel-python) links it; python:*-slim has it because apt
        # needs it, and mmdebstrap's variant here has no apt.
        packages=("python3", "python3-venv", "passwd", "ca-certificates", "libstdc++6"),
        copy_in=(str(stage),),
        customize=(
            f'chroot "$1" env {PIP_ENV} sh -ec \''
            "python3 -m venv /opt/vwclass; "
            "/opt/vwclass/bin/pip install --quiet --no-cache-dir --no-compile --require-hashes "
            "-r /src/requirements/image.lock; "
            "python3 -m venv /tmp/build; "
            "/tmp/build/bin/pip install --quiet --no-cache-dir --require-hashes -r /src/requirements/build.lock; "
            "cd /src; /tmp/build/bin/pip wheel --quiet --no-cache-dir --no-deps --no-build-isolation "
            "--wheel-dir /tmp/dist .; "
            "/opt/vwclass/bin/pip install --quiet --no-cache-dir --no-compile --no-deps /tmp/dist/*.whl; "
            "rm -rf /src /tmp/build /tmp/dist; "
            "groupadd --system --gid 10001 vwclass; "
            "useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vwclass'",
        ),
        entrypoint=("vwclass",),
        command=("operator",),
        env=(f"PATH=/opt/vwclass/bin:{DEFAULT_PATH}", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"),
        user="10001:10001",
        wheels=(
            ("--require-hashes", "-r", str(stage / "requirements" / "image.lock")),
            ("--require-hashes", "-r", str(stage / "requirements" / "build.lock")),
        ),
    )


def workspace_image(stage: Path) -> DebianImage:
    """The students' workspace, as Dockerfile.workspace makes it: JupyterLab, pywaggle and sage-data-client
    on Debian's python3, and the vwclass CLI (in its own venv, on PATH), for user 1000 (the node's)."""
    project = project_image(stage)
    return DebianImage(
        "ghcr.io/sagecontinuum/vwclass-workspace:0.1.0",
        # bash: the terminal's shell (the slim image has it); libstdc++6: numpy's wheel links it.
        packages=("python3", "python3-pip", "python3-venv", "passwd", "ca-certificates", "libstdc++6", "bash"),
        copy_in=project.copy_in,
        customize=(
            f'chroot "$1" env {PIP_ENV} pip install --quiet --no-cache-dir --break-system-packages '
            + " ".join(WORKSPACE_PACKAGES),
            project.customize[0]
            .replace(
                "useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vwclass",
                "useradd --uid 1000 --gid 1000 --home-dir /home/student --no-create-home --shell /bin/bash student",
            )
            .replace("groupadd --system --gid 10001 vwclass", "groupadd --gid 1000 student"),
            'ln -s /opt/vwclass/bin/vwclass "$1"/usr/local/bin/vwclass',
            f'mkdir -p "$1"{JUPYTERLAB_SETTINGS.rsplit("/", 1)[0]} && '
            f"printf '%s' '{WORKSPACE_SETTINGS}' > \"$1\"{JUPYTERLAB_SETTINGS}",
            'chroot "$1" python3 -c "import waggle.plugin, sage_data_client, jupyterlab"',
        ),
        command=("jupyter", "lab"),
        env=("PYTHONUNBUFFERED=1", "SHELL=/bin/bash"),
        user="1000:1000",
        wheels=(WORKSPACE_PACKAGES, *project.wheels),
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
    user: str = "",
) -> None:
    """Writes an OCI image layout as a tar: one uncompressed layer, its config, manifest and index."""
    layer_digest = _sha256_file(layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": list(entrypoint) or None,
            "Cmd": list(command) or None,
            "Env": [
                *(() if any(e.startswith("PATH=") for e in env) else (f"PATH={DEFAULT_PATH}",)),
                *env,
            ],
            "WorkingDir": "/",
            **({"User": user} if user else {}),
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
    command += [f"--customize-hook=copy-in {path} /" for path in image.copy_in]
    if image.wheels:
        wheels = directory / "wheels"
        shutil.rmtree(wheels, ignore_errors=True)
        for arguments in image.wheels:
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(wheels)]
            # Wheels for the image's python3, not the host's: a newer host would take releases that
            # Debian's python refuses (e.g. soupsieve for >= 3.11.5).
            pip += [f"--python-version={DEBIAN_PYTHON}"]
            _run_logged([*pip, *arguments], directory / "pip-download.log", f"the wheels of {image.reference}")
        command.append(f"--customize-hook=copy-in {wheels} /")
    command += [f"--customize-hook={hook}" for hook in image.customize]
    if image.wheels:
        command.append('--customize-hook=rm -rf "$1"/wheels')
    command += [image.suite, str(rootfs)]
    _say(f"building image {image.reference} (log: {log}) ...")
    started = time.monotonic()
    _run_logged(command, log, f"image {image.reference}")
    write_oci_archive(archive, rootfs, image.reference, image.entrypoint, image.command, image.env, image.user)
    rootfs.unlink()
    shutil.rmtree(directory / "wheels", ignore_errors=True)
    _say(f"built image {image.reference} in {time.monotonic() - started:.0f}s")
    return archive


def class_images(workers: int = 2) -> list[Path]:
    """Every image a class with default components runs, built (or reused) two at a time: most of a
    build waits on downloads and dpkg, so two overlap well on two cores."""
    from concurrent.futures import ThreadPoolExecutor

    stage = project_source()
    wanted = [*CLASS_IMAGES, project_image(stage), workspace_image(stage)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(debian_image, wanted))


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
