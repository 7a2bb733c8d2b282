"""Answers queries from the store as the Sage data API does: NDJSON records, series by series.

InfluxDB (behind the real API) answers one table per series in series-key order (name, then the
meta pairs sorted by key), each in time order, with `head`/`tail` applied per series; so does this.
Each line is `{"timestamp","name","value","meta"}` with Go's RFC3339Nano timestamp.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vwclass.dataendpoint.queries import Query
from vwclass.dataendpoint.store import connect
from vwclass.dataendpoint.times import format_timestamp
from vwclass.dataendpoint.uploads import FILES_PREFIX

CHUNK_BYTES = 65536


@dataclass(frozen=True)
class Series:
    id: int
    name: str
    meta_json: str
    sort_key: str


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection for one request."""
    return connect(path, readonly=True)


def matching_series(conn: sqlite3.Connection, query: Query) -> list[Series]:
    """The series the query's filters select, in the order the real API answers them."""
    name_filter = query.name_filter()
    if name_filter is not None and name_filter.exact:
        rows = conn.execute("SELECT id, name, meta FROM series WHERE name = ?", (name_filter.pattern,))
    else:
        rows = conn.execute("SELECT id, name, meta FROM series")
    selected = []
    for series_id, name, meta_json in rows:
        meta: dict[str, str] = json.loads(meta_json)
        if query.matches_series(name, meta):
            key = name + "".join(f",{k}={v}" for k, v in sorted(meta.items()))
            selected.append(Series(series_id, name, meta_json, key))
    selected.sort(key=lambda s: s.sort_key)
    return selected


def run_query(conn: sqlite3.Connection, query: Query, base_url: str) -> Generator[bytes, None, None]:
    """The NDJSON answer in chunks of about CHUNK_BYTES; upload paths become URLs under base_url."""
    # One read transaction: every series is read from the same snapshot while the writer goes on.
    conn.execute("BEGIN")
    try:
        buffer: list[str] = []
        size = 0
        for series in matching_series(conn, query):
            prefix = '{"timestamp":"'
            middle = '","name":' + json.dumps(series.name, ensure_ascii=False) + ',"value":'
            suffix = ',"meta":' + series.meta_json + "}\n"
            uploads = series.name == "upload"
            for ts, value in _records(conn, series.id, query):
                if uploads and isinstance(value, str) and value.startswith(FILES_PREFIX):
                    value = base_url + value
                line = prefix + format_timestamp(ts) + middle + _json_value(value) + suffix
                buffer.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield "".join(buffer).encode()
                    buffer.clear()
                    size = 0
        if buffer:
            yield "".join(buffer).encode()
    finally:
        conn.execute("COMMIT")


def _records(conn: sqlite3.Connection, series: int, query: Query) -> Iterator[tuple[int, Any]]:
    sql = "SELECT ts, value FROM records WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts"
    params: tuple[int, ...] = (series, query.start_ns, query.end_ns)
    if query.tail is not None:
        # The index (series, ts) walked backwards: the latest `tail` rows cost `tail` steps.
        latest: list[tuple[int, Any]] = conn.execute(sql + " DESC LIMIT ?", (*params, query.tail)).fetchall()
        return iter(latest[::-1])
    if query.head is not None:
        sql += " LIMIT ?"
        params += (query.head,)
    cursor: Iterator[tuple[int, Any]] = conn.execute(sql, params)
    return cursor


def _json_value(value: Any) -> str:
    # json writes floats by repr (shortest exact text, `1.0` stays a float) and ints in full.
    return json.dumps(value, ensure_ascii=False)


def recent_rejections(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The latest messages set aside, newest first, with why (for /api/v1/rejected)."""
    rows = conn.execute(
        "SELECT received_at, reason, detail, routing_key, user_id, app_id, body FROM rejected ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [
        {
            "received_at": format_timestamp(received_at * 1_000_000_000),
            "reason": reason,
            "detail": detail,
            "routing_key": routing_key,
            "user_id": user_id,
            "app_id": app_id,
            "body": bytes(body).decode("utf-8", errors="replace"),
        }
        for received_at, reason, detail, routing_key, user_id, app_id, body in rows
    ]


def upload_filename(conn: sqlite3.Connection, directory: str) -> str | None:
    """The filename of a stored upload directory, or None when no record refers to it (any more)."""
    row = conn.execute("SELECT filename FROM uploads WHERE directory = ? LIMIT 1", (directory,)).fetchone()
    return None if row is None else str(row[0])
