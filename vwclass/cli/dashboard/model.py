"""The dashboard's snapshot: each student's health, recent data, latest values and plugin log, as JSON.

Pure: the rows `vwclass status` shows (vwclass.cli.studentview), the class's plugin pods, and what the
last reads of each student's data endpoint and plugin log gave come in; one JSON-serialisable
document comes out, which the page (page.html) polls and draws. Nothing secret goes in: no
credentials, no tokens, no kubeconfig; only what the teacher's `vwclass status`, `data` and
`plugin logs` would print.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vwclass.cli.studentview import StudentRow
from vwclass.core import names, plugins, status
from vwclass.core.classdata import Record

Obj = dict[str, Any]
# Points per measurement name on a student's plot, and lines of their plugin's log.
DEFAULT_POINTS = 60
LOG_LINES = 20
# A log line longer than this is cut: a plugin printing a whole array must not fill the page.
MAX_LOG_LINE = 400
# The plugin pods' one container (vwclass.core.plugins' manifests).
PLUGIN_CONTAINER = "plugin"
READY = "ready"
STARTING = "starting"
IDLE = "idle"
SUSPENDED = "suspended"
FAILING = "failing"
# Escape sequences (colours, cursor moves) and control characters other than tab and newline.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Health:
    """What the last reading of the class's objects gave: a row per student and the plugin pods."""

    rows: tuple[StudentRow, ...]
    suspended: bool
    phase: str
    # The newest plugin pod of each student's namespace.
    plugin_pods: Mapping[str, Obj] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """What the last reads of one student's node gave: records (kept from an earlier read when the last
    one failed) and their plugin's log; each error is one line, empty when the read went well."""

    records: tuple[Record, ...] = ()
    data_error: str = ""
    read_at: str = ""
    logs: str = ""
    logs_error: str = ""


# -- health ---------------------------------------------------------------------------------------------
def _failing(row: StudentRow) -> bool:
    """Whether what holds the student back needs a person (a bad image, a crash loop, a namespace conflict)."""
    if any(cell in status.FAILING_REASONS for cell in row.components.values()):
        return True
    words = set(re.findall(r"[A-Za-z]+", row.reason))
    return bool(words & status.FAILING_REASONS) or "is not managed by class" in row.reason


def health(row: StudentRow, suspended: bool) -> tuple[str, str]:
    """The card's health word (ready, starting, idle, suspended, or `failing: REASON`) and a detail."""
    if suspended:
        return SUSPENDED, "" if row.ready else "scaling down"
    if row.reason.startswith(IDLE):  # studentview's reason for a node at zero for being idle
        return IDLE, row.reason
    if row.ready:
        return READY, ""
    if _failing(row):
        return f"{FAILING}: {row.reason}", ""
    return STARTING, row.reason


def newest_plugin_pods(pods: Iterable[Obj]) -> dict[str, Obj]:
    """The newest plugin pod (managed by `vwclass plugin`) of each namespace."""
    newest: dict[str, Obj] = {}
    for pod in pods:
        meta = pod.get("metadata", {})
        if (meta.get("labels") or {}).get(names.MANAGED_BY) != plugins.MANAGER:
            continue
        namespace = str(meta.get("namespace", ""))
        known = newest.get(namespace)
        if known is None or str(meta.get("creationTimestamp", "")) > str(
            known["metadata"].get("creationTimestamp", "")
        ):
            newest[namespace] = pod
    return newest


def has_log(pod: Obj) -> bool:
    """Whether the plugin's container runs or ran, so it has a log to read."""
    return any(
        c.get("name") == PLUGIN_CONTAINER and ("running" in c.get("state", {}) or "terminated" in c.get("state", {}))
        for c in pod.get("status", {}).get("containerStatuses") or []
    )


def plugin_of(pod: Obj | None) -> Obj | None:
    """The card's plugin line: the plugin's name, its pod's state (kubectl's STATUS) and start."""
    if pod is None:
        return None
    meta = pod.get("metadata", {})
    return {
        "name": str((meta.get("labels") or {}).get(plugins.TASK_LABEL, meta.get("name", ""))),
        "phase": plugins.pod_phase(pod),
        "created": str(meta.get("creationTimestamp", "")),
    }


# -- data -----------------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A value JSON (and so the browser's JSON.parse) can carry: NaN and infinities become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, default=str, allow_nan=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def value_text(value: Any) -> str:
    """A value as `vwclass data` prints it: text as it is, anything else as JSON (21.5, true, [1, 2])."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def series(records: Iterable[Record], points: int) -> dict[str, list[list[float]]]:
    """Per measurement name, its last `points` numeric values as [milliseconds since 1970, value], by time."""
    by_name: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        number = _number(record.value)
        if number is not None:
            by_name.setdefault(record.name, []).append((record.timestamp_ns, number))
    return {
        name: [[ns // 1_000_000, value] for ns, value in sorted(values)[-points:]]
        for name, values in sorted(by_name.items())
    }


def latest(records: Iterable[Record]) -> list[Obj]:
    """The latest value of each measurement name, by name: {name, value, text, timestamp}."""
    newest: dict[str, Record] = {}
    for record in records:
        known = newest.get(record.name)
        if known is None or record.timestamp_ns >= known.timestamp_ns:
            newest[record.name] = record
    return [
        {"name": name, "value": _plain(r.value), "text": value_text(r.value), "timestamp": r.timestamp}
        for name, r in sorted(newest.items())
    ]


def log_tail(text: str, lines: int = LOG_LINES) -> str:
    """The last `lines` lines of a log, without escape sequences or control characters, long lines cut."""
    kept = _CONTROL.sub("", text.replace("\r\n", "\n")).rstrip("\n").split("\n")[-lines:]
    return "\n".join(line if len(line) <= MAX_LOG_LINE else line[:MAX_LOG_LINE] + " ..." for line in kept)


# -- the snapshot ---------------------------------------------------------------------------------------
def student_card(row: StudentRow, suspended: bool, reading: Reading | None, plugin_pod: Obj | None, points: int) -> Obj:
    """What one student's card shows."""
    word, detail = health(row, suspended)
    reading = reading or Reading()
    return {
        "id": row.student,
        "name": row.name,
        "namespace": row.namespace,
        "health": word,
        "detail": detail,
        "restarts": row.restarts,
        "data": {
            "series": series(reading.records, points),
            "latest": latest(reading.records),
            "error": reading.data_error,
            "readAt": reading.read_at,
        },
        "plugin": plugin_of(plugin_pod),
        "logs": {"text": reading.logs, "error": reading.logs_error},
    }


def snapshot(
    class_name: str,
    health_read: Health | None,
    readings: Mapping[str, Reading],
    *,
    updated_at: str,
    error: str = "",
    since: str = "-1h",
    points: int = DEFAULT_POINTS,
) -> Obj:
    """The page's whole document: the class, when it was read, a class-wide error, and a card per student."""
    rows: Sequence[StudentRow] = health_read.rows if health_read else ()
    suspended = bool(health_read and health_read.suspended)
    pods = health_read.plugin_pods if health_read else {}
    cards = [student_card(row, suspended, readings.get(row.student), pods.get(row.namespace), points) for row in rows]
    counts: dict[str, int] = {}
    for card in cards:
        word = str(card["health"]).split(":")[0]
        counts[word] = counts.get(word, 0) + 1
    return {
        "class": class_name,
        "phase": health_read.phase if health_read else "",
        "updatedAt": updated_at,
        "error": error,
        "since": since,
        "points": points,
        "counts": counts,
        "students": cards,
    }


def to_json(document: Obj) -> bytes:
    """The snapshot as the server sends it (strict JSON: a NaN would break the page's JSON.parse)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
