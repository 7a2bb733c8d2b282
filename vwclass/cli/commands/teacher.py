"""`vwclass data`, `collect` and `report`: a teacher reads the whole class's data and sees who is stuck.

Every student's node is read where it runs, through the API server's proxy with the teacher's own
credentials (the data endpoint through its Service, RabbitMQ's and the data-sharing service's metrics
through the node pod), never by opening an endpoint to the network. The pure parts (the query,
merging, formats, the collect layout, the report's rows) are vwclass.core.classdata and
vwclass.core.nodereport; reading the nodes a few at a time is vwclass.cli.nodereads.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import nodereads, output, session
from vwclass.cli.errors import Exit, abort

if TYPE_CHECKING:
    from vwclass.core.classdata import Collected, Record
    from vwclass.core.nodereport import StudentReport
    from vwclass.core.spec import Student
    from vwclass.kube.api import Kube

Obj = dict[str, Any]

StudentOption = Annotated[
    list[str] | None,
    typer.Option("--student", metavar="ID", help="Only this student (repeat for more).", show_default=False),
]


# -- shared --------------------------------------------------------------------------------------------
def _students(kube: Kube, class_name: str, only: Sequence[str] | None) -> list[Student]:
    """The class's students (those named with --student, each checked)."""
    from vwclass.core.spec import parse_class

    cls = parse_class(session.get_class(kube, class_name))
    if not only:
        return list(cls.students)
    chosen = []
    for student_id in only:
        found = cls.student(student_id)
        if found is None:
            abort(f"--student {student_id}: class {class_name!r} has no such student", Exit.BAD_INPUT)
        chosen.append(found)
    return chosen


def _query_document(since: str, name: str | None, tail: int | None = None) -> Obj:
    from vwclass.core.classdata import InvalidQuery, query_document

    try:
        return query_document(since, name, time.time_ns(), tail)
    except InvalidQuery as error:
        abort(str(error), Exit.BAD_INPUT)


# -- data ------------------------------------------------------------------------------------------------
def data(
    ctx: typer.Context,
    class_name: session.ClassArgument,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="PATTERN",
            help="Measurement names, as the data API matches them: env.temperature, env.*, a|b.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str, typer.Option("--since", metavar="TIME", help="From when: -1h, -30m, -2d, or 2026-11-30T08:00:00Z.")
    ] = "-1h",
    student: StudentOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-o", metavar="table|csv|ndjson", help="table for people; csv or ndjson.")
    ] = "table",
) -> None:
    """Every student's stored measurements in one table, with a STUDENT column (for grading, and to spot
    the student whose plugin publishes nothing).

    \b
      vwclass data physics101 --name 'env.*' --since -2h
      vwclass data physics101 --student student-007 --format csv > student-007.csv
    """
    from vwclass.core import classdata

    if fmt not in tuple(classdata.Format):
        abort(f"--format {fmt}: must be table, csv or ndjson", Exit.BAD_INPUT)
    document = _query_document(since, name)
    kube = session.connect(ctx)
    students = _students(kube, class_name, student)

    def read(s: Student) -> tuple[Student, list[Record] | None, str]:
        try:
            return s, nodereads.query(kube, s, document), ""
        except Exception as error:
            if nodereads.unexplained(error):
                raise
            return s, None, nodereads.why(error)

    answers = nodereads.each(students, read)
    failed = [(s, why) for s, records, why in answers if records is None]
    records = classdata.merged({s.id: recs for s, recs, _ in answers if recs is not None})
    chosen = classdata.Format(fmt)
    if chosen is classdata.Format.csv:
        sys.stdout.write(classdata.to_csv(records))
    elif chosen is classdata.Format.ndjson:
        sys.stdout.write(classdata.to_ndjson(records))
    elif records:
        output.print_table(output.table(classdata.table_columns(), classdata.table_rows(records)))
    elif len(failed) < len(students):
        output.note(f"no measurements since {since}" + (f" named {name}" if name else "") + f" in class {class_name}")
    for s, why in failed:
        output.note(f"{s.id}: not read: {why}")
    if failed:
        raise typer.Exit(Exit.FAILED)


# -- collect ---------------------------------------------------------------------------------------------
def _prepare_out(out: Path, class_name: str) -> None:
    """Refuses an --out that is a file, or a non-empty folder that is not a previous collect of the class."""
    from vwclass.core import classdata

    if out.exists() and not out.is_dir():
        abort(f"--out {out}: is a file, not a folder", Exit.BAD_INPUT)
    above = next((p for p in out.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        abort(f"--out {out}: cannot write there: {above} is a file, not a folder", Exit.BAD_INPUT)
    if out.is_dir():
        try:
            entries = list(out.iterdir())
            manifest = (out / classdata.MANIFEST).read_text() if (out / classdata.MANIFEST).is_file() else ""
        except OSError as error:
            abort(f"--out {out}: cannot read it: {error.strerror}", Exit.BAD_INPUT)
        if entries and not classdata.is_collect_of(manifest, class_name):
            abort(
                f"--out {out} is not empty and is not a previous collect of class {class_name}: "
                "choose a new or empty folder",
                Exit.BAD_INPUT,
            )


def _collect_student(kube: Kube, student: Student, document: Obj, into: Path) -> Collected:
    from vwclass.core import classdata
    from vwclass.kube import proxy

    folder = into / student.id
    folder.mkdir()
    try:
        records = nodereads.query(kube, student, document)
    except Exception as error:
        if nodereads.unexplained(error):
            raise
        return classdata.Collected(student.id, student.namespace, error=nodereads.why(error))
    (folder / classdata.RECORDS_FILE).write_text(classdata.to_ndjson(records))
    files = missing = 0
    for record in records:
        upload = classdata.upload_of(record)
        if upload is None:
            continue
        target = folder / upload.local
        target.parent.mkdir(parents=True, exist_ok=True)
        path = proxy.service_path(student.namespace, classdata.SERVICE, classdata.SERVICE_PORT, upload.path)
        try:
            with target.open("wb") as handle:
                proxy.download(kube, path, handle)
            files += 1
        except Exception as error:
            if nodereads.unexplained(error):
                raise
            # Expired or removed since the record was read: the record stays, the file is counted missing.
            target.unlink(missing_ok=True)
            missing += 1
    return classdata.Collected(student.id, student.namespace, len(records), files, missing)


def _swap_in(staging: Path, out: Path) -> None:
    """Puts the finished staging folder at out in one rename (a previous collect is moved aside first)."""
    old = None
    if out.is_dir():
        if any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "previous")
        else:
            out.rmdir()
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def collect(
    ctx: typer.Context,
    class_name: session.ClassArgument,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder to write (new, empty, or a previous collect).")
    ],
    since: Annotated[
        str,
        typer.Option("--since", metavar="TIME", help="Only records from then (default: everything stored)."),
    ] = "0",
    student: StudentOption = None,
) -> None:
    """Each student's stored records (records.ndjson) and uploaded files in a folder per student, with a
    manifest of counts. Written to a temporary folder and renamed into place: never half-written.

    \b
      vwclass collect physics101 --out ./physics101-week3
    """
    from vwclass.core import classdata

    document = _query_document(since, None)
    _prepare_out(out, class_name)
    kube = session.connect(ctx)
    students = _students(kube, class_name, student)
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.absolute().parent))
    except OSError as error:
        abort(f"--out {out}: cannot write there: {error.strerror}", Exit.BAD_INPUT)
    try:
        collected = nodereads.each(students, lambda s: _collect_student(kube, s, document, staging))
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        manifest = classdata.manifest(class_name, stamp, since, collected)
        (staging / classdata.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_in(staging, out.absolute())
    except OSError as error:
        abort(f"--out {out}: cannot write there: {error.strerror or error}", Exit.FAILED)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    output.print_table(
        output.table(
            ("STUDENT", "RECORDS", "FILES", "PROBLEM"),
            [
                (
                    c.student,
                    str(c.records),
                    str(c.files),
                    c.error or (f"{c.missing_files} files gone from the endpoint" if c.missing_files else ""),
                )
                for c in collected
            ],
        )
    )
    totals = manifest["totals"]
    output.note(f"wrote {out}/: {totals['records']} records and {totals['files']} files of {len(collected)} students")
    if totals["failed"]:
        raise typer.Exit(Exit.FAILED)


# -- report ----------------------------------------------------------------------------------------------
def _node_pods(kube: Kube, class_name: str) -> dict[str, Obj]:
    """Each student namespace's node pod (node-0), by namespace."""
    from vwclass.core import names
    from vwclass.kube.resources import POD

    selector = f"{names.class_selector(class_name)},app.kubernetes.io/name={names.NODE_WORKLOAD}"
    return {str(p["metadata"]["namespace"]): p for p in kube.list(POD, selector)}


def _has_container(pod: Obj, name: str) -> bool:
    spec = pod.get("spec", {})
    return any(c.get("name") == name for c in spec.get("initContainers", []) + spec.get("containers", []))


def _report_student(kube: Kube, student: Student, pod: Obj | None, since: str, now_ns: int) -> StudentReport:
    from vwclass.core import classdata, nodereport
    from vwclass.dataendpoint.times import parse_time
    from vwclass.kube import proxy

    problems: list[str] = []

    def read(what: str, path: str) -> str | None:
        try:
            return proxy.request(kube, "GET", path, timeout=30).decode("utf-8", "replace")
        except Exception as error:
            if nodereads.unexplained(error):
                raise
            problems.append(f"{what}: {nodereads.why(error)}")
            return None

    rabbitmq = endpoint = sharing = None
    last = None
    if pod is not None and nodereport.node_state(pod).ready:
        pod_name = str(pod["metadata"]["name"])
        endpoint = read(
            "data endpoint",
            proxy.service_path(
                student.namespace, classdata.SERVICE, classdata.SERVICE_PORT, nodereport.ENDPOINT_METRICS_PATH
            ),
        )
        rabbitmq = read(
            "RabbitMQ",
            proxy.pod_path(
                student.namespace, pod_name, nodereport.RABBITMQ_PROMETHEUS_PORT, nodereport.RABBITMQ_METRICS_PATH
            ),
        )
        if _has_container(pod, nodereport.DATA_SHARING_CONTAINER):
            sharing = read(
                "data-sharing service",
                proxy.pod_path(student.namespace, pod_name, nodereport.DATA_SHARING_METRICS_PORT, "/metrics"),
            )
        if endpoint is not None:
            try:
                latest = nodereads.query(kube, student, {"start": classdata.EVER, "tail": 1})
                last = nodereport.last_message_ns([r.timestamp_ns for r in latest])
            except Exception as error:
                if nodereads.unexplained(error):
                    raise
                last = nodereport.UNREAD
                problems.append(f"data endpoint query: {nodereads.why(error)}")
    return nodereport.student_report(
        student.id,
        student.namespace,
        pod,
        rabbitmq_metrics=rabbitmq,
        endpoint_metrics=endpoint,
        sharing_metrics=sharing,
        last_message_ns=last,
        now_ns=now_ns,
        window=since,
        window_start_ns=parse_time(since, now_ns),
        problems=problems,
    )


def report(
    ctx: typer.Context,
    class_name: session.ClassArgument,
    since: Annotated[
        str,
        typer.Option("--since", metavar="TIME", help="A student with no message stored since then is STUCK."),
    ] = "-1h",
    student: StudentOption = None,
    fmt: output.OutputOption = output.Format.table,
) -> None:
    """Per student: node, queue depths, messages stored and rejected (and why), the last message, and
    who is stuck. As `virtual-waggle report` showed one node.

    \b
      vwclass report physics101
      vwclass report physics101 --since -15m -o json
    """
    from vwclass.core import classdata
    from vwclass.dataendpoint.times import format_timestamp

    now_ns = time.time_ns()
    try:
        classdata.check_since(since, now_ns)
    except classdata.InvalidQuery as error:
        abort(str(error), Exit.BAD_INPUT)
    kube = session.connect(ctx)
    students = _students(kube, class_name, student)
    pods = _node_pods(kube, class_name)
    rows = nodereads.each(students, lambda s: _report_student(kube, s, pods.get(s.namespace), since, now_ns))

    def last(r: StudentReport) -> str:
        return format_timestamp(r.last_message_ns) if r.last_message_ns is not None else ""

    def ago(r: StudentReport) -> str:
        if r.last_message_ns is None:
            return "never" if r.stored is not None else "-"
        return output.age(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.last_message_ns // 10**9))) + " ago"

    data = [r.as_dict(last(r)) for r in rows]
    output.emit(
        data,
        fmt,
        lambda: output.table(
            ("STUDENT", "NODE", "QUEUES", "STORED", "REJECTED", "LAST MESSAGE", "STATE"),
            [
                (
                    r.student,
                    r.node,
                    _queues(r),
                    "-" if r.stored is None else str(r.stored),
                    _rejected(r),
                    ago(r),
                    "; ".join([r.state, *(p for p in r.problems if p not in r.state)]),
                )
                for r in rows
            ],
        ),
    )
    stuck = sum(1 for r in rows if r.stuck)
    if fmt is output.Format.table:
        output.note(f"{len(rows) - stuck} of {len(rows)} students ok" + (f", {stuck} to look at" if stuck else ""))


def _queues(r: StudentReport) -> str:
    from vwclass.core.nodereport import queues_cell

    return queues_cell(r.queues)


def _rejected(r: StudentReport) -> str:
    from vwclass.core.nodereport import rejected_cell

    return rejected_cell(r.rejected)
