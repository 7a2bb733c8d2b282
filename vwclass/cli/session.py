"""The cluster a command talks to (the global --kubeconfig/--context) and the class look-ups they share.

The API layer (and with it the kubernetes client) is imported only when a command connects, so
`vwclass --help` and the commands that need no cluster never pay for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli.errors import NOT_INSTALLED, Exit, abort

if TYPE_CHECKING:
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
# Our own field manager on classes, distinct from the operator's on what it renders.
FIELD_MANAGER = "vwclass-cli"

_last_server = ""


@dataclass(frozen=True)
class Target:
    """Where the global options point: a kubeconfig file and context, or the defaults."""

    kubeconfig: str | None = None
    context: str | None = None


def target(ctx: typer.Context) -> Target:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Target) else Target()


def last_server() -> str:
    """The API server of the last connection, to name it when it cannot be reached."""
    return _last_server


def connect(ctx: typer.Context) -> Kube:
    """A Kube for the global options' cluster; a missing kubeconfig is exit code 3."""
    global _last_server
    where = target(ctx)
    if where.kubeconfig:
        # Like $KUBECONFIG, the option may list several files; kubectl merges those that exist.
        files = [Path(part).expanduser() for part in where.kubeconfig.split(os.pathsep) if part]
        if not any(file.is_file() for file in files):
            abort(f"kubeconfig {where.kubeconfig} does not exist", Exit.UNREACHABLE)
    from vwclass.kube.connect import connect as kube_connect

    kube = kube_connect(where.kubeconfig, where.context)
    kube.field_manager = FIELD_MANAGER
    _last_server = str(kube.api_client.configuration.host)
    return kube


def complete_class(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a class name, from the cluster of the command line's --kubeconfig/--context."""
    params = ctx.find_root().params
    try:
        from vwclass.kube.connect import connect as kube_connect

        kube = kube_connect(params.get("kubeconfig"), params.get("context"))
        return [str(c["metadata"]["name"]) for c in list_classes(kube) if c["metadata"]["name"].startswith(incomplete)]
    except Exception:  # completion must never print an error into the user's shell
        return []


ClassArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The class.", show_default=False, autocompletion=complete_class)
]


def api_served(kube: Kube, path: str) -> bool:
    """Whether the cluster serves the API group version at path (its discovery document is public)."""
    from vwclass.kube.api import ApiError

    try:
        kube.request("GET", path)
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def api_installed(kube: Kube) -> bool:
    """Whether the cluster serves the VirtualWaggleClass API."""
    from vwclass.core import names

    return api_served(kube, f"/apis/{names.API_VERSION}")


def get_class(kube: Kube, name: str) -> Obj:
    """The class named name; exit code 2 when there is none, 3 when vwclass is not installed."""
    from vwclass.kube.resources import CLASS

    body = kube.get(CLASS, name)
    if body is None:
        if not api_installed(kube):
            abort(NOT_INSTALLED, Exit.UNREACHABLE)
        abort(f"there is no class {name!r} (see `vwclass list`)", Exit.BAD_INPUT)
    return body


def list_classes(kube: Kube) -> list[Obj]:
    from vwclass.kube.resources import CLASS

    return sorted(kube.list(CLASS), key=lambda c: str(c["metadata"]["name"]))


def patch_class(kube: Kube, name: str, patch: Obj) -> Obj:
    """A JSON merge patch of the class: changes only the fields named, whoever set the others."""
    from vwclass.kube.resources import CLASS

    return kube.request(
        "PATCH",
        CLASS.path(None, name),
        body=patch,
        query=[("fieldManager", FIELD_MANAGER)],
        content_type="application/merge-patch+json",
    )
