"""A class's data for its teacher: one query across every student's data endpoint, merged and formatted.

Pure: the teacher's options come in and become the query each endpoint is sent (checked with the data
endpoint's own parser, so a bad --since or --name is refused once, before any request); each
student's NDJSON answer comes in and becomes rows with a `student` column, sorted by time, as a
table, CSV or NDJSON. `vwclass collect`'s layout (a folder per student, a manifest) is decided here
too. Talking to the endpoints (through the API server's service proxy) is the CLI's job.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from vwclass.dataendpoint.queries import QueryError, parse_query
from vwclass.dataendpoint.times import TimeError, parse_time

# The data endpoint's Service (vwclass/core/templates/data-endpoint.yaml.j2) and its port's name.
SERVICE = "data-endpoint"
SERVICE_PORT = "http"
QUERY_PATH = "/api/v1/query"
FILES_PREFIX = "/api/v1/files/"
UPLOAD_NAME = "upload"
# Everything a store holds: the data API wants a start, and Unix second 0 precedes every record.
EVER = "0"
MANIFEST = "manifest.json"
MANIFEST_KIND = "vwclass-collect"
RECORDS_FILE = "records.ndjson"
UPLOADS_DIR = "uploads"
# Meta every record carries from the node; the table shows them only in CSV and NDJSON.
_NODE_META = ("node", "vsn", "host", "job")
_UPLOAD_DIR = re.compile(r"^\d{1,20}-[0-9a-f]{40}$")


class InvalidQuery(ValueError):
    """A teacher's option that no data endpoint would accept; the message names it, in one line."""


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    ndjson = "ndjson"


@dataclass(frozen=True)
class Record:
    """One stored measurement of one student's node, as the data API answers it."""

    student: str
    timestamp: str
    timestamp_ns: int
    name: str
    value: Any
    meta: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The data API's record with the student added (NDJSON and `collect`'s records.ndjson)."""
        return {
            "timestamp": self.timestamp,
            "name": self.name,
            "value": self.value,
            "meta": dict(self.meta),
            "student": self.student,
        }


# -- the query ----------------------------------------------------------------------------------------
def check_since(since: str, now_ns: int) -> None:
    """Refuses a --since that is no time the data API reads, or is not before now."""
    try:
        start = parse_time(since, now_ns)
    except TimeError as error:
        raise InvalidQuery(f"--since {since!r}: {error}") from None
    if start >= now_ns:
        raise InvalidQuery(f"--since {since!r} is not in the past: use a relative time like -1h or an earlier date")


def query_document(since: str, name: str | None, now_ns: int, tail: int | None = None) -> dict[str, Any]:
    """The query POSTed to every endpoint; raises InvalidQuery naming --since or --name when the data
    endpoint would refuse it (its own parser decides, so the rules are the real API's)."""
    check_since(since, now_ns)
    document: dict[str, Any] = {"start": since}
    if tail is not None:
        document["tail"] = tail
    if name is not None:
        document["filter"] = {"name": name}
    try:
        parse_query(json.dumps({"start": since}).encode(), now_ns)
    except QueryError as error:
        raise InvalidQuery(f"--since {since!r}: {error}") from None
    if name is not None:
        try:
            parse_query(json.dumps({"start": since, "filter": {"name": name}}).encode(), now_ns)
        except QueryError as error:
            raise InvalidQuery(f"--name {name!r}: {error}") from None
    return document


def parse_answer(student: str, text: str) -> list[Record]:
    """A data endpoint's NDJSON answer as records of student; a line that is no record is skipped."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            timestamp = str(raw["timestamp"])
            ns = parse_time(timestamp, 0)
            meta = raw.get("meta") or {}
            records.append(
                Record(
                    student,
                    timestamp,
                    ns,
                    str(raw["name"]),
                    raw.get("value"),
                    {str(k): str(v) for k, v in meta.items()},
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError, TimeError):
            continue
    return records


def merged(answers: Mapping[str, Sequence[Record]]) -> list[Record]:
    """Every student's records in one list: by time, then student, then name."""
    return sorted(
        (r for records in answers.values() for r in records), key=lambda r: (r.timestamp_ns, r.student, r.name)
    )


# -- formats ------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def table_columns() -> tuple[str, ...]:
    return ("TIMESTAMP", "STUDENT", "NAME", "VALUE", "TASK", "PLUGIN", "META")


def table_rows(records: Iterable[Record]) -> list[tuple[str, ...]]:
    """One row per record; meta other than the node's, the task and the plugin as k=v."""
    rows: list[tuple[str, ...]] = []
    for r in records:
        rest = ",".join(f"{k}={v}" for k, v in sorted(r.meta.items()) if k not in ("task", "plugin", *_NODE_META))
        rows.append(
            (r.timestamp, r.student, r.name, _text(r.value), r.meta.get("task", ""), r.meta.get("plugin", ""), rest)
        )
    return rows


def to_csv(records: Sequence[Record]) -> str:
    """CSV with the columns sage-data-client's DataFrame has (timestamp, name, value, meta.KEY...), and student."""
    keys = sorted({k for r in records for k in r.meta})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "student", "name", "value", *(f"meta.{k}" for k in keys)])
    for r in records:
        writer.writerow([r.timestamp, r.student, r.name, _text(r.value), *(r.meta.get(k, "") for k in keys)])
    return out.getvalue()


def to_ndjson(records: Iterable[Record]) -> str:
    return "".join(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)


# -- collect --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    """A file an `upload` record refers to: where the endpoint serves it, where `collect` writes it."""

    path: str  # on the endpoint: /api/v1/files/<ts>-<sha1>/<filename>
    local: str  # under the student's folder: uploads/<ts>-<sha1>/<filename>


def upload_of(record: Record) -> Upload | None:
    """The file of an upload record, from the URL its value holds (None for any other record, or a URL
    that is not one of the endpoint's file links)."""
    if record.name != UPLOAD_NAME or not isinstance(record.value, str):
        return None
    path = urlsplit(record.value).path
    if not path.startswith(FILES_PREFIX):
        return None
    parts = path[len(FILES_PREFIX) :].split("/")
    if len(parts) != 2 or not _UPLOAD_DIR.match(parts[0]):
        return None
    filename = unquote(parts[1])
    if not filename or "/" in filename or filename in (".", "..") or "\x00" in filename:
        return None
    return Upload(path, f"{UPLOADS_DIR}/{parts[0]}/{filename}")


@dataclass(frozen=True)
class Collected:
    """What `collect` got from one student: counts, or why nothing."""

    student: str
    namespace: str
    records: int = 0
    files: int = 0
    missing_files: int = 0
    error: str = ""


def manifest(class_name: str, collected_at: str, since: str, students: Sequence[Collected]) -> dict[str, Any]:
    """The manifest of a collect: which class, when, and the counts per student."""
    return {
        "kind": MANIFEST_KIND,
        "class": class_name,
        "collectedAt": collected_at,
        "since": since,
        "totals": {
            "students": len(students),
            "records": sum(s.records for s in students),
            "files": sum(s.files for s in students),
            "failed": sum(1 for s in students if s.error),
        },
        "students": {
            s.student: {
                "namespace": s.namespace,
                "records": s.records,
                "files": s.files,
                **({"missingFiles": s.missing_files} if s.missing_files else {}),
                **({"error": s.error} if s.error else {}),
            }
            for s in students
        },
    }


def is_collect_of(manifest_text: str, class_name: str) -> bool:
    """Whether a folder's manifest says it is a previous `collect` of class_name."""
    try:
        document = json.loads(manifest_text)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("kind") == MANIFEST_KIND and document.get("class") == class_name
