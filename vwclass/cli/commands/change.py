"""`vwclass scale`, `suspend`, `resume` and `delete`: changes to an existing class.

Each change is a JSON merge patch of the fields it is about, checked first against the CRD's schema
on the class as it would be, so nothing another tool (kubectl, GitOps) set is dropped.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import typer

from vwclass.cli import durations, output, session, waiting
from vwclass.cli.errors import CliError, Exit, abort

Obj = dict[str, Any]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _checked(body: Obj, spec_change: Obj) -> None:
    """Validates the class with spec_change merged in (None removes a field, as in a merge patch), as the
    API server and then the operator would; exit 2 if invalid."""
    from vwclass.core import schema
    from vwclass.core.spec import parse_class

    changed = copy.deepcopy(body)
    changed.pop("status", None)
    changed["metadata"] = {"name": body["metadata"]["name"]}
    for key, value in spec_change.items():
        if value is None:
            changed["spec"].pop(key, None)
        else:
            changed["spec"][key] = value
    try:
        parse_class(changed)
    except schema.InvalidClass as invalid:
        raise CliError(f"invalid change to class {body['metadata']['name']!r}: {invalid}", Exit.BAD_INPUT) from None


def confirm(question: str, refusal: str) -> None:
    """Asks on stderr (default no); exits 1 with refusal unless the answer is yes."""
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # no terminal to answer from (end of input)
        confirmed = False
    if not confirmed:
        abort(refusal, Exit.FAILED)


def apply_change(
    ctx: typer.Context, name: str, spec_change: Obj, wait: bool, timeout: str, done: str, yes: bool = True
) -> Obj:
    """Checks and merge-patches spec_change into the class, says `class NAME <done>`; the class as it was."""
    limit = durations.parse(timeout, "--timeout")
    kube = session.connect(ctx)
    body = session.get_class(kube, name)
    if "roster" in body["spec"] and "students" in spec_change:
        abort(
            f"class {name!r} lists its students by name (a roster), so --students cannot resize it: "
            f"edit its roster with `kubectl edit vwc {name}`, or apply a new `vwclass render {name} --roster FILE`",
            Exit.BAD_INPUT,
        )
    _checked(body, spec_change)
    removed = int(body["spec"].get("students", 0)) - int(spec_change.get("students", body["spec"].get("students", 0)))
    if removed > 0 and not yes:
        confirm(
            f"Scale class {name} down by {removed} student{'s' if removed != 1 else ''}, deleting "
            f"{'their namespaces' if removed != 1 else 'its namespace'} with all data?",
            f"class {name} not scaled (answer y, or pass --yes)",
        )
    if all(body["spec"].get(k) == v for k, v in spec_change.items()):
        print(f"class {name} {done} already; nothing to change")
    else:
        session.patch_class(kube, name, {"spec": spec_change})
        print(f"class {name} {done}")
    if wait:
        ready = waiting.wait_ready(kube, name, limit)
        print(f"class {name} is {ready['status'].get('phase', 'Ready')}")
    return body


def scale(
    ctx: typer.Context,
    name: session.ClassArgument,
    students: Annotated[
        int,
        typer.Option(
            "--students",
            "-n",
            metavar="N",
            help="The new number of students.",
            show_default=False,
        ),
    ],
    yes: YesOption = False,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Change the number of students of a class.

    Students beyond the new number lose their namespace and its data: scaling down asks first, unless --yes.
    """
    from vwclass.core import render, schema

    try:  # the number is checked before any request is sent
        schema.validate(render.class_manifest(name, {"students": students}))
    except schema.InvalidClass as invalid:
        problems = [p for p in invalid.problems if p.field == "spec.students"]
        if problems:  # (a bad NAME only means there is no such class, which the cluster will say)
            raise CliError(f"--students {students}: {'; '.join(map(str, problems))}", Exit.BAD_INPUT) from None
    apply_change(ctx, name, {"students": students}, wait, timeout, f"scaled to {students} students", yes)


def suspend(
    ctx: typer.Context,
    name: session.ClassArgument,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Scale a class to zero, keeping its data.

    Every workload stops; namespaces, volumes and credentials stay.
    """
    apply_change(ctx, name, {"suspended": True}, wait, timeout, "suspended")


def resume(
    ctx: typer.Context,
    name: session.ClassArgument,
    student: Annotated[
        str | None,
        typer.Option(
            "--student",
            metavar="ID",
            help="Wake one student's node, suspended for being idle (spec.idleTimeout), and nothing else.",
            show_default=False,
        ),
    ] = None,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Start a suspended class again, or (--student) one student's idle node."""
    if student is not None:
        from vwclass.cli.commands.students import wake

        wake(ctx, name, student, wait, timeout)
        return
    body = apply_change(ctx, name, {"suspended": False}, wait, timeout, "resumed")
    held = (body.get("status") or {}).get("suspendedBy")  # as it was: the clock holds it still
    if held == "OutsideLectureHours":
        next_lecture = body["status"].get("nextLecture", "its next lecture")
        output.note(
            f"class {name} stays suspended outside its lecture hours, until {next_lecture}: "
            f"`vwclass schedule {name} --none` runs it now"
        )
    elif held == "Expired":
        output.note(
            f"class {name} has expired and stays suspended: `vwclass renew {name} --expires DATE` brings it back"
        )


def delete(
    ctx: typer.Context,
    name: session.ClassArgument,
    yes: YesOption = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait, with progress, until every student namespace is gone.",
        ),
    ] = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Delete a class and its student namespaces.

    All the students' data goes with them. Asks first, unless --yes.
    """
    limit = durations.parse(timeout, "--timeout")
    kube = session.connect(ctx)
    body = session.get_class(kube, name)
    from vwclass.core import names
    from vwclass.kube.resources import CLASS, NAMESPACE

    selector = names.class_selector(name)
    count = len(kube.list(NAMESPACE, selector))
    if not yes:
        confirm(
            f"Delete class {name} and its {count} student namespace{'s' if count != 1 else ''}, with all their data?",
            f"class {name} not deleted (answer y, or pass --yes)",
        )
    kube.delete(CLASS, name, uid=body["metadata"]["uid"])
    print(f"class {name} deleted; its {count} student namespace{'s are' if count != 1 else ' is'} being removed")
    if wait:

        def remaining() -> int:
            left = len(kube.list(NAMESPACE, selector))
            return left or int(kube.get(CLASS, name) is not None)

        waiting.wait_gone(f"{name}: namespaces removed", remaining, count, limit)
        output.note(f"class {name} and its namespaces are gone")
