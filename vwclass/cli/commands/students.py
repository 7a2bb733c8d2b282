"""`vwclass reset`, `vwclass roster` and `vwclass resume --student`: a class one student at a time.

A reset deletes what makes one student's node theirs (the node, its broker credentials, and unless
--keep-data its claim) and lets the operator make it again from the spec, as for a new student; the
other students' objects are never touched. The roster commands merge-patch spec.roster. A wake marks
the student's namespace (the teacher may edit it, the student may not), which the operator reads as
activity of that student (spec.idleTimeout).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import classopts, durations, output, session
from vwclass.cli.commands.change import YesOption, confirm
from vwclass.cli.errors import CliError, Exit, abort

if TYPE_CHECKING:
    from vwclass.core.spec import ClassSpec, Student
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
StudentOption = Annotated[
    str, typer.Option("--student", metavar="ID", help="The student, e.g. student-007 or alice.", show_default=False)
]


def _node(kube: Kube, namespace: str) -> Obj | None:
    from vwclass.core import names
    from vwclass.kube.resources import BY_KIND

    return kube.get(BY_KIND[("apps/v1", "StatefulSet")], names.NODE_WORKLOAD, namespace)


def _wait_node_ready(kube: Kube, namespace: str, timeout: float, replacing: str = "") -> None:
    """Until the student's node runs, ready (with replacing, a node other than the one of that uid)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = _node(kube, namespace)
        fresh = node is not None and node["metadata"]["uid"] != replacing
        if fresh and node is not None and int(node.get("status", {}).get("readyReplicas") or 0) >= 1:
            return
        time.sleep(1.0)
    raise CliError(f"{namespace}: the node is not ready after {timeout:.0f}s (see `vwclass status`)", Exit.FAILED)


def _class_and_student(kube: Kube, name: str, student: str) -> tuple[ClassSpec, Student]:
    """The class and one of its students; exit 2 naming them when the class has no such student."""
    from vwclass.core.spec import parse_class

    cls = parse_class(session.get_class(kube, name))
    chosen = cls.student(student)
    if chosen is None:
        abort(f"class {name!r} has no student {student!r}", Exit.BAD_INPUT)
    return cls, chosen


def wake(ctx: typer.Context, name: str, student: str, wait: bool, timeout: str) -> None:
    """`vwclass resume CLASS --student ID`: the student's namespace says the teacher woke their node now,
    which is activity: the operator runs the node again until it is idle for the class's idleTimeout."""
    import datetime as dt

    from vwclass.core import names
    from vwclass.kube.resources import NAMESPACE

    limit = durations.parse(timeout, "--timeout")
    kube = session.connect(ctx)
    cls, chosen = _class_and_student(kube, name, student)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"metadata": {"annotations": {names.WOKEN_ANNOTATION: now}}}
    if kube.merge_patch(NAMESPACE, chosen.namespace, None, patch) is None:
        abort(f"student {student!r} of class {name!r} has no namespace yet ({chosen.namespace})", Exit.FAILED)
    if cls.idle_timeout is None:
        output.note(f"class {name} has no idleTimeout: its nodes are never suspended one at a time")
    print(f"woke {student}'s node in {chosen.namespace}")
    if wait:
        _wait_node_ready(kube, chosen.namespace, limit)


def reset(
    ctx: typer.Context,
    name: session.ClassArgument,
    student: StudentOption,
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep the student's records, uploads and files (their claim).")
    ] = False,
    yes: YesOption = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the student's new node is ready.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", metavar="DURATION", help="How long --wait waits.")] = "10m",
) -> None:
    """Give one student a fresh node: new broker credentials, and a new claim unless --keep-data.

    The other students are untouched; the student's kubeconfig still works, their notes (broker
    password) do not: hand them new ones with `vwclass credentials CLASS --student ID`.
    """
    from vwclass.core import names
    from vwclass.kube.resources import BY_KIND

    limit = durations.parse(timeout, "--timeout")
    kube = session.connect(ctx)
    _cls, chosen = _class_and_student(kube, name, student)
    namespace = chosen.namespace
    node = _node(kube, namespace)
    claims = (
        [] if keep_data else kube.list(BY_KIND[("v1", "PersistentVolumeClaim")], names.class_selector(name), namespace)
    )
    if not yes:
        loses = "its records, uploads and files are kept" if keep_data else "its records, uploads and files are deleted"
        confirm(
            f"Reset {student}'s node in class {name} (new broker credentials; {loses})?",
            f"{student} not reset (answer y, or pass --yes)",
        )
    # The credentials first: a node the operator makes again meanwhile then gets the new ones.
    kube.delete(BY_KIND[("v1", "Secret")], names.CREDENTIALS_SECRET, namespace)
    for claim in claims:  # released once the node's pod is gone
        kube.delete(BY_KIND[("v1", "PersistentVolumeClaim")], claim["metadata"]["name"], namespace)
    if node is not None:  # its pod goes with it
        kube.delete(BY_KIND[("apps/v1", "StatefulSet")], names.NODE_WORKLOAD, namespace, uid=node["metadata"]["uid"])
    kept = "data kept" if keep_data else f"{len(claims)} claim{'s' if len(claims) != 1 else ''} deleted"
    print(f"{student} of class {name} reset: node and broker credentials deleted, {kept}; the operator makes new ones")
    output.note(f"hand out new notes: vwclass credentials {name} --student {student} --out DIR")
    if wait:
        _wait_node_ready(kube, namespace, limit, node["metadata"]["uid"] if node else "")
        print(f"{student}'s new node is ready")


def _roster_of(kube: Kube, name: str) -> tuple[Obj, list[Obj]]:
    body = session.get_class(kube, name)
    if "roster" not in body["spec"]:
        abort(
            f"class {name!r} has numbered students (spec.students), not a roster: "
            f"change their number with `vwclass scale {name} --students N`",
            Exit.BAD_INPUT,
        )
    return body, list(body["spec"]["roster"])


def _entries(ids: list[str], csv_file: Path | None) -> list[Obj]:
    entries = [{"id": student} for student in ids]
    if csv_file is not None:
        entries += classopts.read_roster(csv_file).entries
    if not entries:
        abort("name the students: IDs, or --csv FILE", Exit.BAD_INPUT)
    return entries


IdsArgument = Annotated[list[str] | None, typer.Argument(metavar="[ID]...", help="Student ids.", show_default=False)]
CsvOption = Annotated[
    Path | None,
    typer.Option(
        "--csv", metavar="FILE", dir_okay=False, help="A roster CSV (`id[,name]` columns).", show_default=False
    ),
]
roster_app = typer.Typer(help="Add or remove named students of a class (one with a roster).", no_args_is_help=True)


@roster_app.command("add")
def roster_add(ctx: typer.Context, name: session.ClassArgument, ids: IdsArgument = None, csv: CsvOption = None) -> None:
    """Add students to a class's roster (their nodes are made; the others are untouched)."""
    from vwclass.cli.commands.change import apply_change

    kube = session.connect(ctx)
    _body, roster = _roster_of(kube, name)
    known = {entry["id"] for entry in roster}
    new = [entry for entry in _entries(ids or [], csv) if entry["id"] not in known]
    if not new:
        print(f"class {name}: every one of them is on the roster already; nothing to change")
        return
    added = ", ".join(entry["id"] for entry in new)
    apply_change(
        ctx, name, {"roster": roster + new}, False, "10m", f"has {len(roster) + len(new)} students: added {added}"
    )


@roster_app.command("remove")
def roster_remove(
    ctx: typer.Context,
    name: session.ClassArgument,
    ids: IdsArgument = None,
    csv: CsvOption = None,
    yes: YesOption = False,
) -> None:
    """Remove students from a class's roster: their namespaces and data go, after you confirm."""
    from vwclass.cli.commands.change import apply_change

    kube = session.connect(ctx)
    _body, roster = _roster_of(kube, name)
    gone = {entry["id"] for entry in _entries(ids or [], csv)}
    unknown = sorted(gone - {entry["id"] for entry in roster})
    if unknown:
        abort(f"class {name!r} has no student {', '.join(map(repr, unknown))}", Exit.BAD_INPUT)
    kept = [entry for entry in roster if entry["id"] not in gone]
    if not kept:
        abort(f"class {name!r} would have no student left: delete it with `vwclass delete {name}`", Exit.BAD_INPUT)
    listed = ", ".join(sorted(gone))
    if not yes:
        confirm(
            f"Remove {listed} from class {name}, deleting {'their namespaces' if len(gone) > 1 else 'its namespace'} "
            "with all data?",
            f"nobody removed from class {name} (answer y, or pass --yes)",
        )
    apply_change(ctx, name, {"roster": kept}, False, "10m", f"has {len(kept)} students: removed {listed}")
