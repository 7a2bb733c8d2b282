"""`vwclass create` and `vwclass render`: a class from options, made on the cluster or printed as YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import classopts, durations, output, session, waiting
from vwclass.cli.classopts import (
    ClassOptions,
    DataSharingOption,
    ImageOption,
    NodeSelectorOption,
    PlaybackOption,
    PodSecurityOption,
    PrefixOption,
    PresetOption,
    RosterOption,
    StudentsOption,
    SuspendedOption,
    TolerationOption,
    WorkspaceOption,
)
from vwclass.cli.errors import NOT_INSTALLED, Exit, abort
from vwclass.cli.output import DocumentFormat, DocumentOutputOption
from vwclass.cli.scheduleopts import (
    ExpiresOption,
    ExpiryGraceOption,
    IdleTimeoutOption,
    LeadTimeOption,
    ScheduleOption,
    TimeZoneOption,
)

if TYPE_CHECKING:
    from vwclass.kube.api import Kube

NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="Class name: lowercase letters, digits and '-'.",
        show_default=False,
    ),
]
Obj = dict[str, Any]


def _students_summary(obj: Obj) -> str:
    from vwclass.core.names import generated_student_id

    spec = obj["spec"]
    prefix = spec.get("namespacePrefix", obj["metadata"]["name"])
    ids = [s["id"] for s in spec["roster"]] if "roster" in spec else None
    count = len(ids) if ids is not None else int(spec["students"])
    first = ids[0] if ids else generated_student_id(1)
    last = ids[-1] if ids else generated_student_id(count)
    span = f"{prefix}-{first}" if count == 1 else f"{prefix}-{first} ... {prefix}-{last}"
    return f"{count} student{'s' if count != 1 else ''} ({span})"


def _class_from_options(
    name: str,
    *,
    students: int | None,
    roster: Path | None,
    preset: str | None,
    image: list[str] | None,
    namespace_prefix: str | None,
    workspace: bool | None,
    playback: bool | None,
    data_sharing_service: bool | None,
    pod_security: str | None,
    suspended: bool,
    node_selector: list[str] | None,
    toleration: list[str] | None,
    schedule: list[str] | None,
    time_zone: str | None,
    lead_time: str | None,
    expires: str | None,
    expiry_grace: str | None,
    idle_timeout: str | None,
) -> Obj:
    """The class that `create` makes and `render` prints from the same options, checked by the CRD's schema."""
    options = ClassOptions(
        students,
        roster,
        preset,
        image or [],
        namespace_prefix,
        workspace,
        playback,
        data_sharing_service,
        pod_security,
        suspended,
        node_selectors=node_selector or [],
        tolerations=toleration or [],
        schedules=schedule or [],
        time_zone=time_zone,
        lead_time=lead_time,
        expires=expires,
        expiry_grace=expiry_grace,
        idle_timeout=idle_timeout,
    )
    return classopts.build_class(name, options)


def capacity_warning(kube: Kube, obj: Obj) -> str:
    """One line when the class cannot fit the nodes it may use ("" when it fits, or cannot be told:
    a teacher is often not allowed to list nodes, and a check that cannot run says nothing)."""
    from vwclass.core import capacity
    from vwclass.core.spec import parse_class
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import NODE, POD

    if obj["spec"].get("suspended"):
        return ""
    try:
        nodes = kube.list(NODE)
        pods = kube.list(POD, field_selector=capacity.HOLDING_ROOM)
    except ApiError:
        return ""
    verdict = capacity.assess(parse_class(obj), nodes, pods, *capacity.placement_of(obj["spec"]))
    if verdict.fits:
        return ""
    return (
        f"warning: class {obj['metadata']['name']} will not fit: {verdict.message} "
        "(it is created anyway; its pods wait Pending until there is room)"
    )


def create(
    ctx: typer.Context,
    name: NameArgument,
    students: StudentsOption = None,
    roster: RosterOption = None,
    preset: PresetOption = None,
    image: ImageOption = None,
    namespace_prefix: PrefixOption = None,
    workspace: WorkspaceOption = None,
    playback: PlaybackOption = None,
    data_sharing_service: DataSharingOption = None,
    pod_security: PodSecurityOption = None,
    suspended: SuspendedOption = False,
    node_selector: NodeSelectorOption = None,
    toleration: TolerationOption = None,
    schedule: ScheduleOption = None,
    time_zone: TimeZoneOption = None,
    lead_time: LeadTimeOption = None,
    expires: ExpiresOption = None,
    expiry_grace: ExpiryGraceOption = None,
    idle_timeout: IdleTimeoutOption = None,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Create a class of students.

    Each student gets a namespace with a virtual Waggle node. Give --students N or --roster FILE.
    """
    obj = _class_from_options(
        name,
        students=students,
        roster=roster,
        preset=preset,
        image=image,
        namespace_prefix=namespace_prefix,
        workspace=workspace,
        playback=playback,
        data_sharing_service=data_sharing_service,
        pod_security=pod_security,
        suspended=suspended,
        node_selector=node_selector,
        toleration=toleration,
        schedule=schedule,
        time_zone=time_zone,
        lead_time=lead_time,
        expires=expires,
        expiry_grace=expiry_grace,
        idle_timeout=idle_timeout,
    )
    limit = durations.parse(timeout, "--timeout")
    kube = session.connect(ctx)
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import CLASS

    # Weighed before the class exists, so none of its pods count yet; said once it is created.
    warning = capacity_warning(kube, obj)
    try:
        kube.request("POST", CLASS.path(), body=obj, query=[("fieldManager", session.FIELD_MANAGER)])
    except ApiError as error:
        if error.status == 409:
            abort(f"class {name!r} already exists (see `vwclass status {name}`)", Exit.BAD_INPUT)
        if error.status == 404:
            abort(NOT_INSTALLED, Exit.UNREACHABLE)
        raise
    print(f"class {name} created: {_students_summary(obj)}")
    if warning:
        output.note(warning)
    if wait:
        body = waiting.wait_ready(kube, name, limit)
        print(f"class {name} is {body['status'].get('phase', 'Ready')}")


def render(
    name: NameArgument,
    students: StudentsOption = None,
    roster: RosterOption = None,
    preset: PresetOption = None,
    image: ImageOption = None,
    namespace_prefix: PrefixOption = None,
    workspace: WorkspaceOption = None,
    playback: PlaybackOption = None,
    data_sharing_service: DataSharingOption = None,
    pod_security: PodSecurityOption = None,
    suspended: SuspendedOption = False,
    node_selector: NodeSelectorOption = None,
    toleration: TolerationOption = None,
    schedule: ScheduleOption = None,
    time_zone: TimeZoneOption = None,
    lead_time: LeadTimeOption = None,
    expires: ExpiresOption = None,
    expiry_grace: ExpiryGraceOption = None,
    idle_timeout: IdleTimeoutOption = None,
    expanded: Annotated[
        bool,
        typer.Option(
            "--expanded", help="Print every object the operator would create for each student (placeholder passwords)."
        ),
    ] = False,
    output_format: DocumentOutputOption = DocumentFormat.yaml,
) -> None:
    """Print a class manifest (no cluster needed).

    YAML for `kubectl apply -f` or GitOps, from the options of `create`; with --expanded, every object
    the operator would create for each student, for review or `kubectl diff`.
    """
    obj = _class_from_options(
        name,
        students=students,
        roster=roster,
        preset=preset,
        image=image,
        namespace_prefix=namespace_prefix,
        workspace=workspace,
        playback=playback,
        data_sharing_service=data_sharing_service,
        pod_security=pod_security,
        suspended=suspended,
        node_selector=node_selector,
        toleration=toleration,
        schedule=schedule,
        time_zone=time_zone,
        lead_time=lead_time,
        expires=expires,
        expiry_grace=expiry_grace,
        idle_timeout=idle_timeout,
    )
    if expanded:
        from vwclass.core import render as core_render
        from vwclass.core.spec import parse_class

        documents = core_render.creation_order(parse_class(obj))
    else:
        documents = [obj]
    if output_format is DocumentFormat.json:
        data = documents[0] if not expanded else {"apiVersion": "v1", "kind": "List", "items": documents}
        sys.stdout.write(output.dump_json(data))
    else:
        sys.stdout.write(output.dump_yaml(documents))
