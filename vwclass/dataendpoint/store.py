"""The SQLite store (WAL): schema, the single writer's idempotent batch commits, read connections.

A record's identity is its series (name plus meta) and its timestamp, as for InfluxDB behind the real
API: writing the same point again replaces its value instead of adding a row. A message redelivered
after a crash between commit and acknowledgement therefore leaves the store unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vwclass.dataendpoint.messages import Message
from vwclass.dataendpoint.uploads import Upload

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a cached id cannot change meaning
    name TEXT NOT NULL,
    meta TEXT NOT NULL,                    -- canonical JSON, keys sorted
    UNIQUE (name, meta)
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,                -- insertion order: retention deletes from the low end
    series INTEGER NOT NULL,
    ts INTEGER NOT NULL,                   -- nanoseconds
    value,                                 -- no affinity: int, float and text keep their type
    stored_at INTEGER NOT NULL             -- Unix seconds, for age retention
);
CREATE UNIQUE INDEX IF NOT EXISTS records_series_ts ON records (series, ts);
CREATE TABLE IF NOT EXISTS uploads (
    record INTEGER PRIMARY KEY,
    directory TEXT NOT NULL,
    filename TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_directory ON uploads (directory);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,           -- a redelivered poison message is set aside once
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    routing_key TEXT,
    user_id TEXT,
    app_id TEXT,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value);
"""
REJECTED_BODY_BYTES = 4096
_UPSERT = (
    "INSERT INTO records (series, ts, value, stored_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (series, ts) DO UPDATE SET value = excluded.value"
)


class StoreError(RuntimeError):
    """The store cannot be opened or written."""


@dataclass(frozen=True)
class Record:
    """A validated message to store; uploads carry the file they refer to."""

    message: Message
    upload: Upload | None = None


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    body: bytes
    routing_key: str = ""
    user_id: str | None = None
    app_id: str | None = None

    def digest(self) -> bytes:
        h = hashlib.sha256()
        for part in (self.routing_key, self.user_id or "", self.app_id or ""):
            h.update(part.encode() + b"\0")
        h.update(self.body)
        return h.digest()


def canonical_meta(meta: dict[str, str]) -> str:
    """The meta as stored and answered: compact JSON with sorted keys, as Go encodes a map."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); readers never write."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            # WAL lets queries read while the consumer writes; FULL makes a commit survive power loss,
            # which is what an acknowledgement after commit promises.
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
                raise StoreError(f"{path}: the filesystem does not support SQLite's WAL mode")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.executescript(SCHEMA)
        conn.execute("PRAGMA cache_size = -8000")  # 8 MB, keeps memory flat however big the store
        return conn
    except sqlite3.Error as error:
        raise StoreError(f"cannot open the store at {path}: {error}") from None


class Writer:
    """The only writer: turns batches of records and rejections into single transactions."""

    def __init__(self, path: Path, *, max_series: int) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the store's directory {path.parent}: {error.strerror}") from None
        self.path = path
        self.conn = connect(path)
        self.max_series = max_series
        self._series: dict[tuple[str, str], int] = {}
        self._series_count = self._count_series()

    def close(self) -> None:
        self.conn.close()

    def write(self, records: Sequence[Record], rejections: Sequence[Rejection]) -> list[int]:
        """Commits a batch; returns the indexes of records refused for exceeding the series limit
        (they are set aside as rejections in the same transaction)."""
        now = int(time.time())
        refused: list[int] = []
        extra: list[Rejection] = []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = []
            for index, record in enumerate(records):
                message = record.message
                meta = canonical_meta(message.meta)
                series = self._series_id(message.name, meta)
                if series is None:
                    refused.append(index)
                    extra.append(
                        Rejection(
                            "series_limit",
                            f"more than {self.max_series} distinct series (name + meta) are stored; "
                            "does a meta field change with every message?",
                            json.dumps({"name": message.name, "ts": message.timestamp, "meta": message.meta}).encode(),
                        )
                    )
                    continue
                if record.upload is None:
                    rows.append((series, message.timestamp, message.value, now))
                else:
                    self._write_upload(series, message.timestamp, record.upload, now)
            self.conn.executemany(_UPSERT, rows)
            self._reject(list(rejections) + extra, now)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return refused

    def heartbeat(self) -> None:
        """A tiny committed write: proves the store is still writable (disk not full, not read-only)."""
        try:
            self.conn.execute(
                "INSERT INTO state (key, value) VALUES ('heartbeat', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (time.time(),),
            )
        except BaseException:
            self._rollback()
            raise

    def used_bytes(self) -> int:
        """Bytes of the database file in use (freed pages are reused, so the file never shrinks)."""
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def forget_series(self) -> None:
        """Drops the series cache after retention deleted series rows."""
        self._series.clear()
        self._series_count = self._count_series()

    def _series_id(self, name: str, meta: str) -> int | None:
        key = (name, meta)
        series = self._series.get(key)
        if series is not None:
            return series
        row = self.conn.execute("SELECT id FROM series WHERE name = ? AND meta = ?", key).fetchone()
        if row is None:
            if self._series_count >= self.max_series:
                return None
            cursor = self.conn.execute("INSERT INTO series (name, meta) VALUES (?, ?)", key)
            self._series_count += 1
            series = int(cursor.lastrowid or 0)
        else:
            series = int(row[0])
        if len(self._series) >= 20000:  # bounded: a cache miss costs one indexed lookup
            self._series.clear()
        self._series[key] = series
        return series

    def _write_upload(self, series: int, timestamp: int, upload: Upload, now: int) -> None:
        self.conn.execute(_UPSERT, (series, timestamp, upload.url_path(), now))
        record = self.conn.execute(
            "SELECT id FROM records WHERE series = ? AND ts = ?", (series, timestamp)
        ).fetchone()[0]
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (record, directory, filename, bytes) VALUES (?, ?, ?, ?)",
            (record, upload.directory, upload.filename, upload.size),
        )

    def _reject(self, rejections: Sequence[Rejection], now: int) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO rejected "
            "(digest, received_at, reason, detail, routing_key, user_id, app_id, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.digest(), now, r.reason, r.detail, r.routing_key, r.user_id, r.app_id, r.body[:REJECTED_BODY_BYTES])
                for r in rejections
            ],
        )

    def _rollback(self) -> None:
        # Series inserted in the failed transaction are gone: the cache must not keep their ids.
        self._series.clear()
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._series_count = self._count_series()
        except sqlite3.Error:
            pass

    def _count_series(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM series").fetchone()[0])
