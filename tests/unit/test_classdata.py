"""The pure parts of `vwclass data` and `collect`: the query, merging answers, formats, the collect layout."""

from __future__ import annotations

import csv
import io
import json

import pytest

from vwclass.core import classdata
from vwclass.core.classdata import InvalidQuery, Record

NOW = 1_764_489_600 * 10**9  # 2025-11-30T08:00:00Z


def answer(*records: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_the_query_carries_since_and_the_name_pattern() -> None:
    assert classdata.query_document("-1h", None, NOW) == {"start": "-1h"}
    assert classdata.query_document("-2d", "env.*", NOW, tail=1) == {
        "start": "-2d",
        "tail": 1,
        "filter": {"name": "env.*"},
    }


@pytest.mark.parametrize(
    ("since", "name", "named"),
    [
        ("yesterday", None, "--since 'yesterday'"),
        ("-1x", None, "--since '-1x'"),
        ("+1h", None, "--since '+1h' is not in the past"),
        ("2999-01-01T00:00:00Z", None, "is not in the past"),
        ("-1h", "*.temp", "--name '*.temp'"),
        ("-1h", "env.temp$", "--name 'env.temp$'"),
        ("-1h", "a|(b", "--name 'a|(b'"),
    ],
)
def test_a_bad_since_or_name_is_refused_naming_the_option(since: str, name: str | None, named: str) -> None:
    with pytest.raises(InvalidQuery) as error:
        classdata.query_document(since, name, NOW)
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_answers_become_records_of_their_student_and_merge_by_time() -> None:
    a = classdata.parse_answer(
        "student-001",
        answer(
            {"timestamp": "2025-11-30T07:59:00.5Z", "name": "test.value", "value": 42, "meta": {"task": "hello"}},
            {"timestamp": "2025-11-30T07:59:02Z", "name": "test.value", "value": 43, "meta": {}},
        ),
    )
    b = classdata.parse_answer(
        "student-002",
        answer({"timestamp": "2025-11-30T07:59:00.25Z", "name": "env.temp", "value": 21.5, "meta": {"plugin": "p"}})
        + "not json\n\n"
        + '{"name": "no timestamp"}\n',
    )
    assert len(b) == 1
    rows = classdata.merged({"student-001": a, "student-002": b})
    # 07:59:00.25 sorts before 07:59:00.5, though ".25" > ".5" as text.
    assert [(r.student, r.value) for r in rows] == [("student-002", 21.5), ("student-001", 42), ("student-001", 43)]


def _records() -> list[Record]:
    return classdata.merged(
        {
            "student-001": classdata.parse_answer(
                "student-001",
                answer(
                    {
                        "timestamp": "2025-11-30T07:59:00Z",
                        "name": "test.value",
                        "value": 42,
                        "meta": {"task": "hello", "plugin": "hello", "node": "n1", "vsn": "V001", "sensor": "bme"},
                    }
                ),
            ),
            "student-002": classdata.parse_answer(
                "student-002",
                answer({"timestamp": "2025-11-30T07:59:01Z", "name": "note", "value": 'a, "b"', "meta": {}}),
            ),
        }
    )


def test_the_table_shows_task_plugin_and_the_other_meta() -> None:
    rows = classdata.table_rows(_records())
    assert classdata.table_columns() == ("TIMESTAMP", "STUDENT", "NAME", "VALUE", "TASK", "PLUGIN", "META")
    assert rows[0] == ("2025-11-30T07:59:00Z", "student-001", "test.value", "42", "hello", "hello", "sensor=bme")
    assert rows[1][:4] == ("2025-11-30T07:59:01Z", "student-002", "note", 'a, "b"')


def test_csv_has_a_column_per_meta_key_as_sage_data_client_does() -> None:
    parsed = list(csv.DictReader(io.StringIO(classdata.to_csv(_records()))))
    assert list(parsed[0]) == [
        "timestamp",
        "student",
        "name",
        "value",
        "meta.node",
        "meta.plugin",
        "meta.sensor",
        "meta.task",
        "meta.vsn",
    ]
    assert parsed[0]["student"] == "student-001"
    assert parsed[0]["meta.task"] == "hello"
    assert parsed[1]["value"] == 'a, "b"'
    assert parsed[1]["meta.task"] == ""


def test_ndjson_is_the_data_apis_record_with_the_student() -> None:
    lines = [json.loads(line) for line in classdata.to_ndjson(_records()).splitlines()]
    assert lines[0] == {
        "timestamp": "2025-11-30T07:59:00Z",
        "name": "test.value",
        "value": 42,
        "meta": {"task": "hello", "plugin": "hello", "node": "n1", "vsn": "V001", "sensor": "bme"},
        "student": "student-001",
    }


def _upload(value: object, name: str = "upload") -> Record:
    return Record("s", "2025-11-30T07:59:00Z", 0, name, value, {"filename": "x"})


def test_an_upload_records_file_is_read_from_its_url_and_written_under_uploads() -> None:
    directory = "1764489540000000000-" + "a" * 40
    found = classdata.upload_of(_upload(f"http://10.223.0.5:8080/api/v1/files/{directory}/hello%20world.txt"))
    assert found == classdata.Upload(
        f"/api/v1/files/{directory}/hello%20world.txt", f"uploads/{directory}/hello world.txt"
    )


@pytest.mark.parametrize(
    "record",
    [
        _upload(42),
        _upload("http://x/api/v1/files/" + "1-" + "a" * 40 + "/x.txt", name="test.value"),
        _upload("http://x/elsewhere/1-" + "a" * 40 + "/x.txt"),
        _upload("http://x/api/v1/files/../../etc/passwd"),
        _upload("http://x/api/v1/files/1-" + "a" * 40 + "/.."),
        _upload("http://x/api/v1/files/1-" + "a" * 40 + "/a%2Fb"),
        _upload("http://x/api/v1/files/not-a-dir/x.txt"),
    ],
)
def test_anything_but_an_endpoints_file_link_is_no_upload(record: Record) -> None:
    assert classdata.upload_of(record) is None


def test_the_manifest_counts_per_student_and_marks_itself_as_a_collect_of_its_class() -> None:
    document = classdata.manifest(
        "physics",
        "2025-11-30T08:00:00Z",
        "0",
        [
            classdata.Collected("student-001", "physics-student-001", records=3, files=1),
            classdata.Collected("student-002", "physics-student-002", error="its data endpoint is not running"),
        ],
    )
    assert document["totals"] == {"students": 2, "records": 3, "files": 1, "failed": 1}
    assert document["students"]["student-001"] == {"namespace": "physics-student-001", "records": 3, "files": 1}
    assert document["students"]["student-002"]["error"] == "its data endpoint is not running"
    text = json.dumps(document)
    assert classdata.is_collect_of(text, "physics")
    assert not classdata.is_collect_of(text, "biology")
    assert not classdata.is_collect_of('{"class": "physics"}', "physics")
    assert not classdata.is_collect_of("not json", "physics")
