"""Parses data API query bodies and matches their filters, with the real Sage data API's rules.

A query is a JSON object `{"start", "end", "head" | "tail", "filter"}`: `start` is required, unknown
fields are refused, filter keys are identifiers and filter patterns use the API's character set.
Like the real API (which hands patterns to InfluxDB), a pattern containing `|` matches as the regular
expression `^(pattern)$`, one containing `*` as `^pattern$`, anything else by equality; so `env.*`
and alternatives like `W01|W02` select what they select against Beehive. Note `W0*` is a regular
expression there too ("W" then any number of "0"), not a shell glob. `name` filters the
measurement name, every other key the meta field of that name (records without it never match).
`head`/`tail` limit each series (a distinct name and meta) to its earliest/latest records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vwclass.dataendpoint.times import TimeError, parse_time

# RE2 (google-re2, installed with cel-python) matches in linear time, so no pattern can pin a CPU,
# and it is the syntax of the Go regexp behind the real API. The stdlib is the fallback.
try:
    import re2 as _re2

    _RE2_OPTIONS = _re2.Options()
    _RE2_OPTIONS.log_errors = False
    _RE2_OPTIONS.never_capture = True
except ImportError:  # pragma: no cover
    _re2 = None

MAX_QUERY_BYTES = 4096  # as the real API: larger bodies are refused before parsing
_FIELDS = {"start", "end", "head", "tail", "filter"}
_UNSUPPORTED = {
    "bucket": "this endpoint holds a single bucket (one student's node); omit `bucket`",
    "experimental_func": "aggregation (`experimental_func`) is not supported by this endpoint",
    "experimental_window": "aggregation (`experimental_window`) is not supported by this endpoint",
}
_FILTER_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The real API's own check, character range `+-_` included (it spans + , - . / 0-9 : ; < = > ? @ A-Z [ \ ] ^ _).
_FILTER_TEXT = re.compile(r"^[A-Za-z0-9+-_.*:| ]*$")


class QueryError(ValueError):
    """The query is malformed; the message says how, for the HTTP 400 answer."""


@dataclass(frozen=True)
class Filter:
    field: str
    pattern: str
    match: Callable[[str], bool]
    exact: bool  # a plain equality, usable as an index lookup

    def matches(self, value: str | None) -> bool:
        return value is not None and self.match(value)


@dataclass(frozen=True)
class Query:
    start_ns: int
    end_ns: int
    head: int | None
    tail: int | None
    filters: tuple[Filter, ...]

    def name_filter(self) -> Filter | None:
        return next((f for f in self.filters if f.field == "name"), None)

    def matches_series(self, name: str, meta: Mapping[str, str]) -> bool:
        return all(f.matches(name if f.field == "name" else meta.get(f.field)) for f in self.filters)


def compile_pattern(pattern: str) -> tuple[Callable[[str], bool], bool]:
    """The matcher for one filter pattern, and whether it is a plain equality."""
    if "|" in pattern:
        regex = f"^({pattern})$"
    elif "*" in pattern:
        regex = f"^{pattern}$"
    else:
        return (lambda value: value == pattern), True
    if pattern.startswith(("*", "+", "?")) or any(f"|{op}" in pattern for op in "*+?"):
        # Go's regexp refuses these too; say why, since a shell-style `*` is the usual cause.
        raise QueryError(
            f"invalid filter pattern {pattern!r}: nothing to repeat before '*' (patterns are regular "
            "expressions, as on the real API: `.*` matches any text)"
        )
    if _re2 is not None:
        try:
            compiled = _re2.compile(regex, _RE2_OPTIONS)
        except _re2.error as error:
            detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
            raise QueryError(f"invalid filter pattern {pattern!r}: {detail}") from None
    else:
        try:
            compiled = re.compile(regex)
        except re.error as error:
            raise QueryError(f"invalid filter pattern {pattern!r}: {error}") from None
    return (lambda value: compiled.match(value) is not None), False


def parse_query(body: bytes, now_ns: int) -> Query:
    """The query in a request body; raises QueryError with a message fit for the client."""
    if not body.strip():
        raise QueryError("no query provided")
    if len(body) > MAX_QUERY_BYTES:
        raise QueryError(f"query is too large - must be <{MAX_QUERY_BYTES} bytes")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise QueryError(f"query is not valid JSON: {error}") from None
    except RecursionError:
        raise QueryError("query is nested too deeply") from None
    if not isinstance(document, dict):
        raise QueryError('query must be a JSON object like {"start": "-1h"}')
    for key in document:
        if key in _UNSUPPORTED:
            raise QueryError(_UNSUPPORTED[key])
        if key not in _FIELDS:
            raise QueryError(f"unknown field {key!r} (known: {', '.join(sorted(_FIELDS))})")

    start_text = _optional_text(document, "start")
    if not start_text:
        raise QueryError("missing start field")
    end_text = _optional_text(document, "end")
    try:
        start = parse_time(start_text, now_ns)
        end = parse_time(end_text, now_ns) if end_text else now_ns
    except TimeError as error:
        raise QueryError(str(error)) from None
    if start >= end:
        raise QueryError(f"start ({start_text}) must be before end ({end_text or 'now'})")

    head = _optional_count(document, "head")
    tail = _optional_count(document, "tail")
    if head is not None and tail is not None:
        raise QueryError("head and tail cannot both be specified")

    return Query(start, end, head, tail, _parse_filters(document.get("filter")))


def _optional_text(document: Mapping[str, object], key: str) -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f'{key} must be a string time like "-1h" or "2021-05-01T10:30:00Z"')
    if not _FILTER_TEXT.match(value):
        raise QueryError(f"invalid {key} timestamp {value!r}")
    return value


def _optional_count(document: Mapping[str, object], key: str) -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QueryError(f"{key} must be a non-negative integer, got {json.dumps(value)}")
    return value


def _parse_filters(raw: object) -> tuple[Filter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise QueryError('filter must be an object of field name to pattern, like {"name": "env.*"}')
    filters = []
    for field, pattern in sorted(raw.items()):
        if not _FILTER_KEY.match(field):
            raise QueryError(f"invalid filter key: {field!r}")
        if not isinstance(pattern, str):
            raise QueryError(f"filter {field!r} must be a string pattern, got {json.dumps(pattern)}")
        if not _FILTER_TEXT.match(pattern):
            raise QueryError(f"invalid filter field pattern {pattern!r}")
        match, exact = compile_pattern(pattern)
        filters.append(Filter(field, pattern, match, exact))
    return tuple(filters)
