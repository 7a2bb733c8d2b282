"""`vwclass credentials`: writes each student a kubeconfig with a short-lived token, and a note on reaching their node.

Tokens come from the TokenRequest API for the student's own ServiceAccount, so they expire on their
own and no long-lived token Secret ever exists. Files are written 0600 in a 0700 directory; nothing
secret is printed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import access, durations, output, session, workspace_links
from vwclass.cli.errors import CliError, Exit, abort

if TYPE_CHECKING:
    from vwclass.core.spec import ClassSpec, Student
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
MIN_SECONDS = 600  # the API server's floor for expirationSeconds
MAX_SECONDS = 7 * 86400  # longer-lived tokens defeat the point: hand out fresh ones instead


def _cluster(kube: Kube, server: str | None) -> access.Cluster:
    """The teacher's API server and CA, as the students will trust it."""
    cfg = kube.api_client.configuration
    ca_pem = None
    if cfg.ssl_ca_cert:
        try:
            ca_pem = Path(cfg.ssl_ca_cert).read_bytes()
        except OSError as error:
            abort(f"cannot read the cluster's CA certificate {cfg.ssl_ca_cert}: {error.strerror}", Exit.UNREACHABLE)
    return access.Cluster(
        server=server or str(cfg.host),
        ca_pem=ca_pem,
        insecure=not cfg.verify_ssl,
        tls_server_name=getattr(cfg, "tls_server_name", None) or None,
    )


def _write_private(path: Path, text: str) -> None:
    # Created 0600 from the start (never readable by others, not even briefly), and re-tightened
    # when the file existed before with a looser mode.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _private_directory(out: Path) -> None:
    """out, created 0700; an existing directory others may read is tightened only if it holds nothing else."""
    try:
        if not out.exists():
            out.mkdir(mode=0o700, parents=True)
            out.chmod(0o700)  # mkdir's mode is filtered by the umask
        elif stat.S_IMODE(out.stat().st_mode) & 0o077:
            # Never tighten a shared directory (a home, /tmp) under its users' feet.
            if any(p.suffix not in (".kubeconfig", ".txt") for p in out.iterdir()):
                abort(
                    f"{out} is open to other users and holds other files: give a new directory "
                    "(it is created with mode 0700)",
                    Exit.BAD_INPUT,
                )
            out.chmod(0o700)
    except OSError as error:
        abort(f"cannot use {out} for credentials: {error.strerror}", Exit.BAD_INPUT)


def _token(kube: Kube, namespace: str, seconds: int) -> tuple[str, str] | None:
    """(token, expirationTimestamp) for the student's ServiceAccount; None when it does not exist yet."""
    from vwclass.core import names
    from vwclass.kube.api import ApiError

    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{names.STUDENT_SERVICE_ACCOUNT}/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}
    try:
        issued = kube.request("POST", path, body=body)
    except ApiError as error:
        if error.status == 404:
            return None
        raise
    return str(issued["status"]["token"]), str(issued["status"].get("expirationTimestamp", ""))


def _secret_values(kube: Kube, namespace: str) -> dict[str, str] | None:
    import base64

    from vwclass.core import names
    from vwclass.kube.resources import BY_KIND

    secret = kube.get(BY_KIND[("v1", "Secret")], names.CREDENTIALS_SECRET, namespace)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def _chosen(cls: ClassSpec, wanted: list[str]) -> list[Student]:
    if not wanted:
        return list(cls.students)
    unknown = [w for w in wanted if cls.student(w) is None]
    if unknown:
        known = ", ".join(s.id for s in cls.students[:5]) + (", ..." if len(cls.students) > 5 else "")
        abort(
            f"class {cls.name!r} has no student {', '.join(map(repr, unknown))} (its students: {known})", Exit.BAD_INPUT
        )
    return [s for s in cls.students if s.id in wanted]


def credentials(
    ctx: typer.Context,
    name: session.ClassArgument,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Directory to write into (created with mode 0700).",
            file_okay=False,
            show_default=False,
        ),
    ],
    student: Annotated[
        list[str] | None,
        typer.Option(
            "--student",
            metavar="ID",
            help="Only this student (repeatable; default: every student).",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option("--duration", metavar="DURATION", help="How long the kubeconfigs work: 10m to 7d.")
    ] = "8h",
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="API server URL as students reach it (default: the one in your kubeconfig).",
            show_default=False,
        ),
    ] = None,
    gateway_url: Annotated[
        str | None,
        typer.Option(
            "--gateway-url",
            metavar="URL",
            help="The class gateway's address as students' browsers reach it (default: spec.gateway.url, "
            "else a node's address and the gateway's node port).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write students' kubeconfigs and node notes.

    For each student: STUDENT.kubeconfig, a short-lived token for their own namespace (TokenRequest),
    STUDENT.txt, their RabbitMQ plugin credentials and how to reach their node, and with workspaces
    STUDENT.link, their browser workspace's login link (the same token: it expires with the
    kubeconfig). Mode 0600.
    """
    seconds = durations.parse(duration, "--duration")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        abort(f"--duration {duration}: must be between 10m (the API server's minimum) and 7d", Exit.BAD_INPUT)
    kube = session.connect(ctx)
    body = session.get_class(kube, name)
    from vwclass.core.spec import parse_class

    cls = parse_class(body)
    chosen = _chosen(cls, student or [])
    cluster = _cluster(kube, server)
    base = workspace_links.gateway_base(kube, cls, gateway_url) if cls.components.workspace else None
    _private_directory(out)
    rows: list[tuple[str, str, str, str, str]] = []
    pending: list[str] = []
    for each in chosen:
        values = _secret_values(kube, each.namespace)
        issued = _token(kube, each.namespace, int(seconds)) if values is not None else None
        if values is None or issued is None or "plugin-password" not in values:
            pending.append(each.id)
            continue
        token, expires = issued
        config_file, notes_file = f"{each.id}.kubeconfig", f"{each.id}.txt"
        config = access.kubeconfig(cluster, cls.name, each.id, each.namespace, token)
        _write_private(out / config_file, output.dump_yaml([config]))
        link = None
        if base is not None:
            link = workspace_links.login_link(base, each.id, token)
            _write_private(out / f"{each.id}.link", link + "\n")
        _write_private(
            out / notes_file,
            access.notes(
                cls.name,
                each.id,
                each.display_name,
                each.namespace,
                config_file,
                expires,
                values["plugin-password"],
                link,
            ),
        )
        rows.append((each.id, each.namespace, str(out / config_file), str(out / notes_file), expires))
    if rows:
        output.print_table(output.table(("STUDENT", "NAMESPACE", "KUBECONFIG", "NOTES", "EXPIRES"), rows))
        output.note(
            f"Hand each student their two files (mode 0600 in {out}); the kubeconfigs stop working after "
            f"{durations.show(seconds)}: run this again for fresh ones."
        )
    if pending:
        raise CliError(
            f"not provisioned yet (no ServiceAccount or credentials Secret): {', '.join(pending)}; "
            f"wait with `vwclass status {name}` and run this again",
            Exit.FAILED,
        )
