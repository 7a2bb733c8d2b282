"""Builds a VirtualWaggleClass from `create`/`render` options and checks it with the CRD's own schema.

The options only gather what the teacher typed; whether it is valid is decided by
vwclass.core.schema.validate (the CRD's OpenAPI schema and CEL rules), and its problems are then
named after the options and roster lines they came from.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli.errors import CliError, Exit, abort

if TYPE_CHECKING:
    from vwclass.core.schema import Problem

Obj = dict[str, Any]


def _choices(*path: str) -> Any:
    """Shell completion from an enum of the CRD's schema (the one list of allowed values)."""

    def complete(incomplete: str) -> list[str]:
        from vwclass.core import schema

        node: Any = schema.class_schema()
        for key in path:
            node = node["properties"][key]
        return [str(value) for value in node.get("enum", []) if str(value).startswith(incomplete)]

    return complete


StudentsOption = Annotated[
    int | None,
    typer.Option(
        "--students",
        "-n",
        metavar="N",
        help="Number of anonymous students (student-001, ...).",
        show_default=False,
    ),
]
RosterOption = Annotated[
    Path | None,
    typer.Option(
        "--roster",
        metavar="FILE",
        dir_okay=False,
        show_default=False,
        help="CSV file of named students: an `id` column (lowercase, digits, '-') and an optional `name`.",
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        "--preset",
        metavar="PRESET",
        help="Share of the cluster per student: small, medium or large.",
        show_default=False,
        autocompletion=_choices("spec", "resources", "preset"),
    ),
]
ImageOption = Annotated[
    list[str] | None,
    typer.Option(
        "--image",
        metavar="COMPONENT=REF",
        show_default=False,
        help="Image of one component (rabbitmq, plugin-runner, data-sharing-service, app-meta-cache, "
        "data-endpoint, playback-server); repeatable.",
    ),
]
PrefixOption = Annotated[
    str | None,
    typer.Option(
        "--namespace-prefix",
        metavar="PREFIX",
        help="Prefix of student namespaces (default: the class name).",
        show_default=False,
    ),
]
WorkspaceOption = Annotated[
    bool | None,
    typer.Option(
        "--workspace/--no-workspace",
        help="Give each student a browser workspace (JupyterLab, a terminal) behind the class gateway (default: on).",
        show_default=False,
    ),
]
PlaybackOption = Annotated[
    bool | None,
    typer.Option(
        "--playback/--no-playback",
        help="Run the camera playback server.",
        show_default=False,
    ),
]
DataSharingOption = Annotated[
    bool | None,
    typer.Option(
        "--data-sharing-service/--no-data-sharing-service",
        help="Run the upstream data-sharing service (default on).",
        show_default=False,
    ),
]
PodSecurityOption = Annotated[
    str | None,
    typer.Option(
        "--pod-security",
        metavar="LEVEL",
        help="Pod Security level of student namespaces: baseline or restricted.",
        show_default=False,
        autocompletion=_choices("spec", "podSecurity"),
    ),
]
NodeSelectorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--node-selector",
        metavar="KEY=VALUE",
        show_default=False,
        help="Node label every pod of every student requires, e.g. pool=gpu; repeatable.",
    ),
]
TolerationOption = Annotated[
    list[str] | None,
    typer.Option(
        "--toleration",
        metavar="KEY[=VALUE]:EFFECT",
        show_default=False,
        help="Taint every pod of every student tolerates, e.g. dedicated=class:NoSchedule (EFFECT: NoSchedule, "
        "PreferNoSchedule or NoExecute; without =VALUE any value matches); repeatable.",
    ),
]
SuspendedOption = Annotated[
    bool,
    typer.Option(
        "--suspended",
        help="Create the class with every workload scaled to zero.",
    ),
]


@dataclass(frozen=True)
class ClassOptions:
    """What the teacher asked for; None means the CRD's default."""

    students: int | None = None
    roster: Path | None = None
    preset: str | None = None
    images: list[str] = field(default_factory=list)
    namespace_prefix: str | None = None
    workspace: bool | None = None
    playback: bool | None = None
    data_sharing_service: bool | None = None
    pod_security: str | None = None
    suspended: bool = False
    node_selectors: list[str] = field(default_factory=list)
    tolerations: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    time_zone: str | None = None
    lead_time: str | None = None
    expires: str | None = None
    expiry_grace: str | None = None
    idle_timeout: str | None = None


@dataclass(frozen=True)
class Roster:
    entries: list[Obj]
    lines: list[int]  # the CSV line of each entry, to name it in errors
    path: Path


def read_roster(path: Path) -> Roster:
    """The students of a CSV roster (header `id[,name]`; other columns are ignored)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # utf-8-sig: spreadsheets write a byte-order mark
    except OSError as error:
        abort(f"cannot read roster {path}: {error.strerror or error}", Exit.BAD_INPUT)
    except UnicodeDecodeError:
        abort(f"roster {path} is not UTF-8 text (save it as CSV UTF-8)", Exit.BAD_INPUT)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or []]
    if "id" not in columns:
        abort(f"roster {path} has no `id` column: its first line must name the columns, e.g. `id,name`", Exit.BAD_INPUT)
    id_at = columns.index("id")
    name_at = columns.index("name") if "name" in columns else None
    entries: list[Obj] = []
    lines: list[int] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        entry: Obj = {"id": row[id_at].strip() if id_at < len(row) else ""}
        if name_at is not None and name_at < len(row) and row[name_at].strip():
            entry["name"] = row[name_at].strip()
        entries.append(entry)
        lines.append(reader.line_num)
    if not entries:
        abort(f"roster {path} lists no students", Exit.BAD_INPUT)
    return Roster(entries, lines, path)


def image_keys() -> list[str]:
    """The CRD's image keys (camelCase), in its order."""
    from vwclass.core import schema

    images = schema.class_schema()["properties"]["spec"]["properties"]["images"]["properties"]
    return list(images)


def _kebab(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", key).lower()


def parse_images(values: list[str]) -> Obj:
    """--image COMPONENT=REF values as the CRD's images block; kebab-case names are accepted too."""
    keys = image_keys()
    by_spelling = {k.lower(): k for k in keys} | {_kebab(k): k for k in keys}
    images: Obj = {}
    for value in values:
        component, sep, ref = value.partition("=")
        if not sep or not component.strip() or not ref.strip():
            abort(
                f"--image {value!r}: write COMPONENT=REF, e.g. --image rabbitmq=rabbitmq:4.1.4-management-alpine",
                Exit.BAD_INPUT,
            )
        key = by_spelling.get(component.strip().lower())
        if key is None:
            known = ", ".join(_kebab(k) for k in keys)
            abort(f"--image: unknown component {component.strip()!r}; components are {known}", Exit.BAD_INPUT)
        images[key] = ref.strip()
    return images


def parse_node_selectors(values: list[str]) -> dict[str, str]:
    """--node-selector KEY=VALUE values as the CRD's placement.nodeSelector."""
    selector: dict[str, str] = {}
    for value in values:
        key, sep, label = value.partition("=")
        if not sep or not key.strip():
            abort(f"--node-selector {value!r}: write KEY=VALUE, e.g. --node-selector pool=gpu", Exit.BAD_INPUT)
        selector[key.strip()] = label.strip()
    return selector


def parse_tolerations(values: list[str]) -> list[Obj]:
    """--toleration KEY[=VALUE]:EFFECT values as core tolerations (Equal with a value, else Exists)."""
    tolerations: list[Obj] = []
    for value in values:
        rest, sep, effect = value.rpartition(":")
        key, has_value, label = rest.partition("=")
        if not sep or not key.strip() or not effect.strip():
            abort(
                f"--toleration {value!r}: write KEY[=VALUE]:EFFECT, e.g. --toleration dedicated=class:NoSchedule",
                Exit.BAD_INPUT,
            )
        toleration: Obj = {"key": key.strip(), "operator": "Equal" if has_value else "Exists"}
        if has_value:
            toleration["value"] = label.strip()
        toleration["effect"] = effect.strip()
        tolerations.append(toleration)
    return tolerations


def spec_from(options: ClassOptions, roster: Roster | None) -> Obj:
    """The spec as typed: only what was given, so the manifest stays minimal and the CRD defaults the rest."""
    spec: Obj = {}
    if options.students is not None:
        spec["students"] = options.students
    if roster is not None:
        spec["roster"] = roster.entries
    if options.namespace_prefix is not None:
        spec["namespacePrefix"] = options.namespace_prefix
    images = parse_images(options.images)
    if images:
        spec["images"] = images
    if options.preset is not None:
        spec["resources"] = {"preset": options.preset}
    components = {
        key: value
        for key, value in (
            ("workspace", options.workspace),
            ("playback", options.playback),
            ("dataSharingService", options.data_sharing_service),
        )
        if value is not None
    }
    if components:
        spec["components"] = components
    if options.suspended:
        spec["suspended"] = True
    if options.pod_security is not None:
        spec["podSecurity"] = options.pod_security
    placement: Obj = {}
    if options.node_selectors:
        placement["nodeSelector"] = parse_node_selectors(options.node_selectors)
    if options.tolerations:
        placement["tolerations"] = parse_tolerations(options.tolerations)
    if placement:
        spec["placement"] = placement
    from vwclass.cli.scheduleopts import lifecycle_spec

    spec |= lifecycle_spec(
        options.schedules, options.time_zone, options.lead_time, options.expires, options.expiry_grace
    )
    if options.idle_timeout is not None:
        spec["idleTimeout"] = options.idle_timeout
    return spec


# Which option a schema field comes from, so a problem names what the teacher typed.
_OPTION_OF_FIELD = (
    ("metadata.name", "NAME"),
    ("spec.students", "--students"),
    ("spec.roster", "--roster"),
    ("spec.namespacePrefix", "--namespace-prefix"),
    ("spec.images", "--image"),
    ("spec.resources.preset", "--preset"),
    ("spec.components.workspace", "--workspace"),
    ("spec.components.playback", "--playback"),
    ("spec.components.dataSharingService", "--data-sharing-service"),
    ("spec.podSecurity", "--pod-security"),
    ("spec.placement.nodeSelector", "--node-selector"),
    ("spec.placement.tolerations", "--toleration"),
    ("spec.schedule.leadTime", "--lead-time"),
    ("spec.schedule.lectures", "--schedule"),
    ("spec.timeZone", "--time-zone"),
    ("spec.expires", "--expires"),
    ("spec.expiryGracePeriod", "--expiry-grace"),
    ("spec.idleTimeout", "--idle-timeout"),
)


# The schema's regular expressions, said in words a teacher can act on. The patterns are read from the
# CRD, so a changed pattern can never leave its words behind.
_PATTERN_WORDS = (
    (
        ("metadata", "name"),  # the same DNS-1123 label as namespacePrefix and roster ids
        "is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
    (
        ("spec", "roster", "items", "name"),
        "holds a control character (a line break, a tab, ...), which a name may not",
    ),
    (("spec", "expires"), "is not a date (YYYY-MM-DD) or an RFC 3339 time (2027-01-31T18:00:00Z)"),
    (("spec", "expiryGracePeriod"), "is not a duration: a number and one of s, m, h, d, w (7d)"),
    (("spec", "schedule", "leadTime"), "is not a duration: a number and one of s, m, h, d, w (15m)"),
    (("spec", "idleTimeout"), "is not a duration of a minute or more: a number and one of m, h, d, w (30m)"),
)


def _in_words(text: str) -> str:
    from vwclass.core import schema

    for path, words in _PATTERN_WORDS:
        node: Any = schema.class_schema()
        for key in path:
            node = node["items"] if key == "items" else node["properties"][key]
        # jsonschema's message quotes the pattern with repr(), as here.
        text = text.replace(f"does not match {node['pattern']!r}", words)
    return text


def explain(problem: Problem, roster: Roster | None) -> str:
    """One problem of the schema, prefixed with the option (or roster line) it is about."""
    text = _in_words(str(problem))
    message = _in_words(problem.message)
    found = re.match(r"spec\.roster\[(\d+)\](?:\.(\w+))?", problem.field)
    if found and roster is not None and int(found.group(1)) < len(roster.lines):
        index = int(found.group(1))
        student = roster.entries[index].get("id", "")
        column = f", column {found.group(2)}" if found.group(2) else ""
        return f"roster {roster.path.name} line {roster.lines[index]}{column} (id {student!r}): {message}"
    where = problem.field or " ".join(re.findall(r"\b(?:metadata|spec)\.[A-Za-z.]+", problem.message))
    if "(default: the class name)" in problem.message:
        where += " metadata.name"
    options = [option for prefix, option in _OPTION_OF_FIELD if prefix in where]
    if options:
        return f"{'/'.join(dict.fromkeys(options))}: {text}"
    return text


def build_class(name: str, options: ClassOptions) -> Obj:
    """The VirtualWaggleClass the options describe, checked by the CRD's schema; exit 2 if invalid."""
    from vwclass.core import render, schema
    from vwclass.core.spec import parse_class

    roster = read_roster(options.roster) if options.roster is not None else None
    obj: Obj = render.class_manifest(name, spec_from(options, roster))
    try:
        parse_class(obj)  # the CRD's schema, then what it cannot say (a time zone that exists)
    except schema.InvalidClass as invalid:
        problems = "; ".join(explain(p, roster) for p in invalid.problems)
        raise CliError(f"invalid class {name!r}: {problems}", Exit.BAD_INPUT) from None
    return obj
