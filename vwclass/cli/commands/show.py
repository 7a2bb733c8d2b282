"""`vwclass list` and `vwclass status`: the classes of the cluster, and the students of one class."""

from __future__ import annotations

from typing import Any

import typer

from vwclass.cli import output, session
from vwclass.cli.errors import NOT_INSTALLED, CliError, Exit, abort
from vwclass.cli.output import Format, OutputOption

Obj = dict[str, Any]
# Column headings of the components, short enough for a terminal of 100 columns.
HEADINGS = {
    "rabbitmq": "RABBITMQ",
    "data-endpoint": "ENDPOINT",
    "plugin-runner": "RUNNER",
    "app-meta-cache": "APP-META",
    "data-sharing-service": "SHARING",
    "playback-server": "PLAYBACK",
}


def class_summary(body: Obj) -> Obj:
    """The facts `list` shows of one class."""
    status = body.get("status", {})
    students = status.get("students", {})
    spec = body.get("spec", {})
    desired = students.get("desired")
    if desired is None:  # the operator has not reported yet: count from the spec
        desired = len(spec.get("roster", [])) or int(spec.get("students", 0))
    fresh = status.get("observedGeneration") == body["metadata"].get("generation")
    return {
        "name": body["metadata"]["name"],
        "ready": int(students.get("ready", 0)),
        "desired": int(desired),
        "phase": status.get("phase", "Pending") if status else "Pending",
        "upToDate": bool(fresh),
        "suspended": bool(spec.get("suspended", False)),
        # Why it is suspended (Teacher, OutsideLectureHours, Expired) and what the clock does next.
        "suspendedBy": status.get("suspendedBy"),
        "nextLecture": status.get("nextLecture"),
        "expires": status.get("expires"),
        "deletesAt": status.get("deletesAt"),
        "created": body["metadata"].get("creationTimestamp", ""),
    }


# A teacher's own suspend needs no word beside "Suspended".
_SUSPENDED_BY = {"OutsideLectureHours": "outside lecture hours", "Expired": "expired"}


def phase_words(summary: Obj) -> str:
    """The phase, with why the clock suspended a class and when it resumes.

    'Suspended (outside lecture hours, resumes in 2d)'."""
    words = str(summary["phase"])
    why = _SUSPENDED_BY.get(summary.get("suspendedBy") or "")
    if why:
        resumes = f", resumes {output.until(summary['nextLecture'])}" if summary.get("nextLecture") else ""
        words += f" ({why}{resumes})"
    return words + ("" if summary["upToDate"] else " (updating)")


def expiry_words(summary: Obj) -> str:
    """When the class expires, or when an expired class is deleted: 'in 12d', 'deleted in 5d', '-'."""
    if not summary.get("expires"):
        return "-"
    if summary.get("suspendedBy") == "Expired":
        return f"deleted {output.until(summary['deletesAt'])}"
    return output.until(summary["expires"])


def list_classes(ctx: typer.Context, output_format: OutputOption = Format.table) -> None:
    """List the classes.

    Students ready out of all, phase and age of each class.
    """
    kube = session.connect(ctx)
    from vwclass.kube.api import ApiError

    try:
        classes = session.list_classes(kube)
    except ApiError as error:
        if error.status == 404:
            abort(NOT_INSTALLED, Exit.UNREACHABLE)
        raise
    summaries = [class_summary(body) for body in classes]
    if output_format is Format.table and not summaries:
        output.note("No classes yet. Create one with `vwclass create NAME --students N`.")
        return

    def as_table() -> Any:
        rows = [
            (
                s["name"],
                f"{s['ready']}/{s['desired']}",
                phase_words(s),
                expiry_words(s),
                output.age(s["created"]),
            )
            for s in summaries
        ]
        return output.table(("NAME", "STUDENTS", "PHASE", "EXPIRES", "AGE"), rows)

    output.emit(summaries, output_format, as_table)


def status(
    ctx: typer.Context,
    name: session.ClassArgument,
    output_format: OutputOption = Format.table,
) -> None:
    """Show the students of a class.

    One row per student: namespace, each component's state, restarts, and why it is not ready.
    """
    kube = session.connect(ctx)
    body = session.get_class(kube, name)
    from vwclass.cli import studentview
    from vwclass.core import names, render
    from vwclass.core.schema import InvalidClass
    from vwclass.core.spec import parse_class
    from vwclass.kube.resources import BY_KIND, NAMESPACE, POD

    try:
        cls = parse_class(body)
    except InvalidClass as invalid:
        raise CliError(
            f"class {name!r} has an invalid spec, which the operator reports as Stalled: {invalid}", Exit.FAILED
        ) from None
    selector = names.class_selector(name)
    components = render.expected_components(cls)
    namespaces = kube.list(NAMESPACE, selector)
    nodes = kube.list(BY_KIND[("apps/v1", "StatefulSet")], f"{selector},app.kubernetes.io/name={names.NODE_WORKLOAD}")
    pods = kube.list(POD, selector)
    rows = studentview.student_rows(cls, components, body, namespaces, nodes, pods)
    summary = class_summary(body)
    data = {
        "name": name,
        "phase": summary["phase"],
        "ready": summary["ready"],
        "desired": summary["desired"],
        "suspended": summary["suspended"],
        **{key: summary[key] for key in ("suspendedBy", "nextLecture", "expires", "deletesAt")},
        "imagePrePull": body.get("status", {}).get("imagePrePull"),
        "students": [row.as_dict() for row in rows],
    }

    def as_table() -> Any:
        roster = any(row.name for row in rows)
        columns = [
            "STUDENT",
            *(["NAME"] if roster else []),
            "NAMESPACE",
            *(HEADINGS.get(c, c.upper()) for c in components),
            "RESTARTS",
            "REASON",
        ]
        table_rows = [
            (
                row.student,
                *([row.name] if roster else []),
                row.namespace,
                *(row.components[c] for c in components),
                str(row.restarts),
                row.reason or ("-" if row.ready else "not ready"),
            )
            for row in rows
        ]
        title = f"class {name}: {summary['phase']}, {summary['ready']}/{summary['desired']} students ready"
        if summary["suspendedBy"] or summary["suspended"]:
            title = f"class {name}: {phase_words(summary)}: every workload scaled to zero"
        if summary["expires"]:
            title += (
                f"; expired {summary['expires']}, deleted {summary['deletesAt']} unless renewed"
                if summary["suspendedBy"] == "Expired"
                else f"; expires {summary['expires']} ({output.until(summary['expires'])})"
            )
        images = output.prepull_words(data["imagePrePull"])
        return output.table(columns, table_rows, title=f"{title}; {images}" if images else title)

    output.emit(data, output_format, as_table)
