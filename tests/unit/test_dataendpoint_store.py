"""The SQLite store: idempotent writes, answers in the real API's shape and order, retention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vwclass.dataendpoint.messages import Message
from vwclass.dataendpoint.queries import parse_query
from vwclass.dataendpoint.reader import open_reader, recent_rejections, run_query, upload_filename
from vwclass.dataendpoint.retention import Retention
from vwclass.dataendpoint.store import Record, Rejection, Writer
from vwclass.dataendpoint.times import NS
from vwclass.dataendpoint.uploads import Upload, UploadDirectory

T0 = 1_700_000_000 * NS
NOW = T0 + 3600 * NS


def answer(path: Path, query: dict[str, object], base: str = "http://x") -> list[dict[str, Any]]:
    conn = open_reader(path)
    try:
        text = b"".join(run_query(conn, parse_query(json.dumps(query).encode(), NOW), base)).decode()
    finally:
        conn.close()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "records.sqlite3"


def test_rewriting_a_point_replaces_it(db: Path) -> None:
    writer = Writer(db, max_series=100)
    first = [Record(Message("env.t", T0 + i, i, {"s": "a"})) for i in range(10)]
    writer.write(first, [])
    writer.write(first[5:], [])  # a redelivery after a crash between commit and ack
    writer.write([Record(Message("env.t", T0 + 3, 99, {"s": "a"}))], [])  # same point, new value
    records = answer(db, {"start": "-2h"})
    assert [r["value"] for r in records] == [0, 1, 2, 99, 4, 5, 6, 7, 8, 9]


def test_answers_group_by_series_in_series_key_order(db: Path) -> None:
    writer = Writer(db, max_series=100)
    writer.write(
        [
            Record(Message("env.t", T0 + 2, 1.0, {"node": "b"})),
            Record(Message("env.h", T0 + 1, "x", {"node": "a"})),
            Record(Message("env.t", T0 + 1, 2, {"node": "a"})),
            Record(Message("env.t", T0 + 3, 3, {"node": "a"})),
        ],
        [],
    )
    records = answer(db, {"start": "-2h"})
    assert [(r["name"], r["meta"], r["value"]) for r in records] == [
        ("env.h", {"node": "a"}, "x"),
        ("env.t", {"node": "a"}, 2),
        ("env.t", {"node": "a"}, 3),
        ("env.t", {"node": "b"}, 1.0),
    ]
    assert isinstance(records[3]["value"], float)
    assert records[0]["timestamp"] == "2023-11-14T22:13:20.000000001Z"


def test_head_and_tail_apply_per_series_and_time_range_is_half_open(db: Path) -> None:
    writer = Writer(db, max_series=100)
    writer.write([Record(Message("m", T0 + i * NS, i, {"k": k})) for k in ("a", "b") for i in range(10)], [])
    tail = answer(db, {"start": "-2h", "tail": 2})
    assert [(r["meta"]["k"], r["value"]) for r in tail] == [("a", 8), ("a", 9), ("b", 8), ("b", 9)]
    head = answer(db, {"start": "-2h", "head": 1, "filter": {"k": "b"}})
    assert [(r["meta"]["k"], r["value"]) for r in head] == [("b", 0)]
    ranged = answer(db, {"start": "2023-11-14T22:13:22Z", "end": "2023-11-14T22:13:25Z", "filter": {"k": "a"}})
    assert [r["value"] for r in ranged] == [2, 3, 4]


def test_series_limit_rejects_new_series_only(db: Path) -> None:
    writer = Writer(db, max_series=3)
    records = [Record(Message("m", T0 + i, i, {"id": str(i)})) for i in range(5)]
    refused = writer.write(records, [])
    assert refused == [3, 4]
    assert writer.write([Record(Message("m", T0 + 100, 7, {"id": "0"}))], []) == []  # an existing series still works
    conn = open_reader(db)
    try:
        assert [r["reason"] for r in recent_rejections(conn, 10)] == ["series_limit", "series_limit"]
    finally:
        conn.close()


def test_rejections_are_kept_once(db: Path) -> None:
    writer = Writer(db, max_series=10)
    poison = Rejection("decode", "body is not JSON", b"garbage", "all", "plugin", None)
    writer.write([], [poison])
    writer.write([], [poison])  # redelivered
    conn = open_reader(db)
    try:
        rows = recent_rejections(conn, 10)
    finally:
        conn.close()
    assert len(rows) == 1
    assert rows[0]["body"] == "garbage"
    assert rows[0]["user_id"] == "plugin"


def test_upload_records_answer_with_urls(db: Path, tmp_path: Path) -> None:
    writer = Writer(db, max_series=10)
    upload = Upload(f"{T0}-{'a' * 40}", "my file.txt", 5)
    writer.write([Record(Message("upload", T0, upload.directory, {"filename": "my file.txt"}), upload)], [])
    records = answer(db, {"start": "-2h"}, base="http://endpoint:8080")
    assert records[0]["value"] == f"http://endpoint:8080/api/v1/files/{upload.directory}/my%20file.txt"
    conn = open_reader(db)
    try:
        assert upload_filename(conn, upload.directory) == "my file.txt"
    finally:
        conn.close()


def test_age_retention_deletes_records_stored_before_the_cutoff_and_their_files(db: Path, tmp_path: Path) -> None:
    uploads_root = tmp_path / "uploads"
    writer = Writer(db, max_series=100)
    old_dir = f"{T0}-{'b' * 40}"
    (uploads_root / old_dir).mkdir(parents=True)
    (uploads_root / old_dir / "data").write_bytes(b"old")
    writer.write([Record(Message("m", T0 + i, i, {})) for i in range(1000)], [])
    writer.write([Record(Message("upload", T0, old_dir, {"filename": "f"}), Upload(old_dir, "f", 3))], [])
    # Pretend the first 600 records and the upload were stored two days ago.
    writer.conn.execute("UPDATE records SET stored_at = stored_at - 172800 WHERE id <= 600 OR id = 1001")
    writer.write([Record(Message("m", T0 + 5000 + i, i, {})) for i in range(10)], [])
    report = Retention(writer, UploadDirectory(uploads_root), max_age_s=86400, max_bytes=10**9).run()
    assert report.records == 600  # the binary search stops at the first recent record
    values = [r["value"] for r in answer(db, {"start": "-2h", "filter": {"name": "m"}})]
    assert values == list(range(600, 1000)) + list(range(10))
    # The upload (id 1001) was marked old too but lies after recent records: insertion order rules,
    # so it and its file stay until everything stored before it has aged out.
    assert (uploads_root / old_dir / "data").exists()
    writer.conn.execute("UPDATE records SET stored_at = stored_at - 172800")
    assert Retention(writer, UploadDirectory(uploads_root), max_age_s=86400, max_bytes=10**9).run().files == 1
    assert not (uploads_root / old_dir).exists()
    assert answer(db, {"start": "-2h"}) == []


def test_size_retention_drops_the_oldest_until_under_budget(db: Path, tmp_path: Path) -> None:
    writer = Writer(db, max_series=100)
    for batch in range(10):
        writer.write([Record(Message("m", T0 + batch * 10_000 + i, "v" * 50, {"k": "x"})) for i in range(5000)], [])
    retention = Retention(writer, UploadDirectory(tmp_path / "uploads"), max_age_s=10**9, max_bytes=1_000_000)
    assert retention.used_bytes() > 1_000_000
    report = retention.run()
    assert report.records > 0
    assert retention.used_bytes() <= 1_000_000
    remaining = answer(db, {"start": "-2h"})
    # What is left is the newest data, contiguous up to the last record written.
    assert remaining[-1]["timestamp"] == answer(db, {"start": "-2h", "tail": 1})[0]["timestamp"]
    assert len(remaining) == 50_000 - report.records


def test_retention_sweeps_orphan_upload_directories_only_when_asked(db: Path, tmp_path: Path) -> None:
    import os

    root = tmp_path / "uploads"
    orphan = root / f"{T0}-{'c' * 40}"
    orphan.mkdir(parents=True)
    (orphan / "data").write_bytes(b"x")
    os.utime(orphan, (0, 0))
    unrelated = root / "not-an-upload"
    unrelated.mkdir()
    os.utime(unrelated, (0, 0))
    writer = Writer(db, max_series=10)
    retention = Retention(writer, UploadDirectory(root), max_age_s=60, max_bytes=10**9)
    retention.run(sweep_uploads=False)
    assert orphan.exists()
    assert retention.run(sweep_uploads=True).files == 1
    assert not orphan.exists()
    assert unrelated.exists()
