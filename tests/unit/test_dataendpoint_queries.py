"""Query parsing and filter matching with the real data API's rules."""

from __future__ import annotations

import json

import pytest

from vwclass.dataendpoint.queries import QueryError, compile_pattern, parse_query
from vwclass.dataendpoint.times import NS

NOW = 1_700_000_000 * NS


def q(document: object) -> bytes:
    return json.dumps(document).encode()


def test_minimal_query_defaults_end_to_now() -> None:
    query = parse_query(q({"start": "-1h"}), NOW)
    assert (query.start_ns, query.end_ns) == (NOW - 3600 * NS, NOW)
    assert query.head is None
    assert query.tail is None
    assert query.filters == ()


def test_what_sage_data_client_sends() -> None:
    body = q(
        {
            "start": "2023-11-14T21:13:20.000000Z",
            "end": "2023-11-14T22:13:20.500000Z",
            "filter": {"name": "env.*", "vsn": "W001|W002"},
            "tail": 3,
        }
    )
    query = parse_query(body, NOW)
    assert query.start_ns == NOW - 3600 * NS
    assert query.end_ns == NOW + 500_000_000
    assert query.tail == 3
    assert [f.field for f in query.filters] == ["name", "vsn"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "missing start"),
        ({"start": ""}, "missing start"),
        ({"end": "-1h"}, "missing start"),
        ({"start": "-1h", "limit": 3}, "unknown field 'limit'"),
        ({"start": "-1h", "head": 1, "tail": 1}, "head and tail cannot both"),
        ({"start": "-1h", "head": -1}, "head must be a non-negative integer"),
        ({"start": "-1h", "tail": "3"}, "tail must be a non-negative integer"),
        ({"start": "-1h", "tail": 1.5}, "tail must be a non-negative integer"),
        ({"start": "-1h", "tail": True}, "tail must be a non-negative integer"),
        ({"start": "yesterday"}, "is not a time"),
        ({"start": "-1h", "end": "-2h"}, "must be before end"),
        ({"start": 5}, "start must be a string"),
        ({"start": "-1h", "filter": ["name"]}, "filter must be an object"),
        ({"start": "-1h", "filter": {"na-me": "x"}}, "invalid filter key"),
        ({"start": "-1h", "filter": {"1name": "x"}}, "invalid filter key"),
        ({"start": "-1h", "filter": {"name": 3}}, "must be a string pattern"),
        ({"start": "-1h", "filter": {"name": "env.(x)"}}, "invalid filter field pattern"),
        ({"start": "-1h", "filter": {"name": 'a"b'}}, "invalid filter field pattern"),
        ({"start": "-1h", "filter": {"name": "[*"}}, "invalid filter pattern"),
        ({"start": "-1h", "filter": {"name": "*"}}, "invalid filter pattern"),  # Go's regexp refuses it too
        ({"start": "-1h", "bucket": "waggle"}, "single bucket"),
        ({"start": "-1h", "experimental_func": "mean"}, "not supported"),
        ({"start": "-1h)"}, "invalid start timestamp"),
        (["start"], "must be a JSON object"),
    ],
)
def test_malformed_queries_say_why(document: object, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(q(document), NOW)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no query provided"),
        (b"  \n", "no query provided"),
        (b"{start: -1h}", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"start": "-1h"}' + b" " * 5000, "too large"),
    ],
)
def test_unparseable_bodies(body: bytes, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(body, NOW)


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("env.temperature", "env.temperature", True),
        ("env.temperature", "env.temperature.raw", False),
        ("env.temperature", "envXtemperature", False),  # no `*` or `|`: plain equality, `.` is literal
        ("env.*", "env.temperature", True),
        ("env.*", "env", True),  # a regular expression, as InfluxDB reads it: `.` any, `*` repeats
        ("env.*", "sys.uptime", False),
        ("env.*", "my.env.x", False),  # anchored at both ends
        (".*", "anything", True),
        # Not a shell glob: `W0*` is "W" then any number of "0"s, exactly as InfluxDB reads it.
        ("W0*", "W001", False),
        ("W0*", "W00", True),
        ("W0.*", "W001", True),
        ("W001|W002", "W002", True),
        ("W001|W002", "W0012", False),
        ("W001|W002", "XW001", False),
        ("sys.*|env.temp", "env.temp", True),
        ("sys.*|env.temp", "sys.load", True),
        ("sys.*|env.temp", "env.temperature", False),
        ("metsense:1.*", "metsense:1.0.3", True),
        ("metsense:1.*", "metsense:2.0.0", False),
        (".*mobotix.*", "registry.sagecontinuum.org/x/mobotix-sampler:0.3", True),
    ],
)
def test_pattern_matching(pattern: str, value: str, matches: bool) -> None:
    match, exact = compile_pattern(pattern)
    assert match(value) is matches
    assert exact is ("*" not in pattern and "|" not in pattern)


def test_series_matching_on_name_and_meta() -> None:
    query = parse_query(q({"start": "-1h", "filter": {"name": "env.*", "vsn": "W00.*", "sensor": "bme680"}}), NOW)
    assert query.matches_series("env.temperature", {"vsn": "W001", "sensor": "bme680"})
    assert not query.matches_series("env.temperature", {"vsn": "W001", "sensor": "bme280"})
    assert not query.matches_series("sys.uptime", {"vsn": "W001", "sensor": "bme680"})
    # A record without the filtered meta field never matches, even a pattern matching anything.
    assert not query.matches_series("env.temperature", {"vsn": "W001"})
    wildcard = parse_query(q({"start": "-1h", "filter": {"task": ".*"}}), NOW)
    assert not wildcard.matches_series("env.temperature", {})
    assert wildcard.matches_series("env.temperature", {"task": ""})


def test_name_filter_exact_enables_index_lookup() -> None:
    exact = parse_query(q({"start": "-1h", "filter": {"name": "env.temperature"}}), NOW).name_filter()
    assert exact is not None
    assert exact.exact
    wild = parse_query(q({"start": "-1h", "filter": {"name": "env.*"}}), NOW).name_filter()
    assert wild is not None
    assert not wild.exact


def test_patterns_match_in_linear_time() -> None:
    import time

    match, _ = compile_pattern(".*" * 30 + "x")  # exponential for a backtracking engine
    started = time.perf_counter()
    assert not match("a" * 65536)
    assert time.perf_counter() - started < 0.5


def test_shell_style_star_is_explained() -> None:
    for pattern in ("*", "*.temperature", "env.x|*"):
        with pytest.raises(QueryError, match=r"nothing to repeat .* `\.\*` matches any text"):
            compile_pattern(pattern)


def test_perl_classes_work_as_in_go() -> None:
    match, _ = compile_pattern(r"W0\d\d|X.*")
    assert match("W012")
    assert match("Xyz")
    assert not match("W0a2")
