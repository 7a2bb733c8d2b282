"""Decodes and validates Waggle messages (pywagglemsg JSON) and tags them as a node's data service does.

The body is compact JSON `{"name", "ts", "meta", "val"}` (`"enc": "b64"` marks bytes). Beyond what
pywagglemsg itself checks, a message is refused here when the data API could not answer it back
faithfully: names outside pywaggle's rules, bytes or non-finite values, integers beyond 64 bits,
strings over InfluxDB's 64 KiB limit, meta that is not str -> str.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

MAX_BODY_BYTES = 1 << 20
MAX_NAME_LENGTH = 128
MAX_STRING_BYTES = 65536  # InfluxDB's limit on string fields and tag values
UPLOAD_NAME = "upload"
SCOPES = ("all", "node", "beehive")
_NAME_PART = re.compile(r"^[a-z0-9_]+$")
_INT64 = (-(2**63), 2**63 - 1)


class Invalid(Exception):
    """A message that must be set aside: `reason` is a short metric label, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Message:
    name: str
    timestamp: int  # nanoseconds since the epoch
    value: int | float | str
    meta: dict[str, str]


def decode(body: bytes) -> Message:
    """The Waggle message in an AMQP body; raises Invalid."""
    if len(body) > MAX_BODY_BYTES:
        raise Invalid("decode", f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Invalid("decode", f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise Invalid("decode", "body is not a JSON object")
    for key in ("name", "ts", "val"):
        if key not in data:
            raise Invalid("decode", f"missing field {key!r}")

    name = data["name"]
    if not isinstance(name, str):
        raise Invalid("name", "name must be a string")
    validate_name(name)

    timestamp = data["ts"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise Invalid("timestamp", "ts must be an integer (nanoseconds since the epoch)")
    if not 0 <= timestamp <= _INT64[1]:
        raise Invalid("timestamp", f"ts {timestamp} is outside 0 .. 2^63-1 nanoseconds")

    if data.get("enc") is not None:
        if data["enc"] == "b64":
            raise Invalid("value", "bytes values (enc=b64) cannot be stored or queried")
        raise Invalid("value", f"unknown value encoding {data['enc']!r}")

    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise Invalid("meta", "meta must be an object of strings")
    for key, item in meta.items():
        if not isinstance(item, str):
            raise Invalid("meta", f"meta {key!r} must be a string, got {type(item).__name__}")
        if len(item.encode()) > MAX_STRING_BYTES or len(key.encode()) > MAX_STRING_BYTES:
            raise Invalid("meta", f"meta {key!r} exceeds {MAX_STRING_BYTES} bytes")

    return Message(name, timestamp, validate_value(data["val"]), meta)


def validate_name(name: str) -> None:
    """pywaggle's publish-name rules: dot-separated parts of [a-z0-9_], at most 128 characters."""
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid("name", f"name is longer than {MAX_NAME_LENGTH} characters: {name[:40]!r}...")
    for part in name.split("."):
        if not _NAME_PART.match(part):
            raise Invalid("name", f"invalid name {name!r}: parts must be [a-z0-9_]+ joined by '.' (part {part!r})")


def validate_value(value: object) -> int | float | str:
    """The value when it is an int, float or str the API can answer back exactly; raises Invalid."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid("value", f"value must be an int, float or str, got {type(value).__name__}")
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise Invalid("value", f"integer {value} does not fit in 64 bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("value", f"value {value} is not a finite number")
    if isinstance(value, str) and len(value.encode()) > MAX_STRING_BYTES:
        raise Invalid("value", f"string value exceeds {MAX_STRING_BYTES} bytes")
    return value


def scope_of(routing_key: str) -> str:
    """The publish scope pywaggle put in the routing key; raises Invalid for anything else."""
    if routing_key not in SCOPES:
        raise Invalid("scope", f"routing key {routing_key!r} is not a scope ({', '.join(SCOPES)})")
    return routing_key


def tagged(message: Message, *, plugin: str, app_id: str | None, node: str, vsn: str) -> Message:
    """The message with the node's meta added; the node's fields win, then the plugin's, then the
    message's own, in the order the data-sharing service applies them."""
    app = {"plugin": plugin, **({"app_id": app_id} if app_id else {})}
    meta = {**message.meta, **app, "node": node, "vsn": vsn}
    return Message(message.name, message.timestamp, message.value, meta)


def encode(message: Message) -> bytes:
    """The pywagglemsg body of a message (what pywaggle subscribers decode)."""
    payload = {"name": message.name, "ts": message.timestamp, "meta": message.meta, "val": message.value}
    return json.dumps(payload, separators=(",", ":")).encode()
