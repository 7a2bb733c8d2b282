"""Waggle message decoding, validation and tagging, and delivery processing in both modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wagglemsg
from waggle.plugin import Uploader

from vwclass.dataendpoint.config import Mode
from vwclass.dataendpoint.ingest import Accepted, Delivery, Processor
from vwclass.dataendpoint.messages import Invalid, Message, decode, encode, tagged, validate_name
from vwclass.dataendpoint.store import Rejection

TS = 1_700_000_000_123_456_789


def body(**fields: object) -> bytes:
    payload: dict[str, object] = {"name": "env.temperature", "ts": TS, "meta": {}, "val": 1}
    payload.update(fields)
    return json.dumps(payload).encode()


def test_decodes_what_pywagglemsg_dumps() -> None:
    for value in (23, -4, 2**63 - 1, 21.5, 1.0, 1e-300, "text", 'ünï "q"', ""):
        raw = wagglemsg.dump(wagglemsg.Message("env.x", value, TS, {"sensor": "bme680"}))
        message = decode(raw.encode() if isinstance(raw, str) else raw)
        assert message == Message("env.x", TS, value, {"sensor": "bme680"})
        assert type(message.value) is type(value)


def test_missing_meta_is_empty() -> None:
    assert decode(b'{"name":"a","ts":1,"val":2}').meta == {}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "decode"),
        (b"[1,2]", "decode"),
        (b'{"ts":1,"val":2}', "decode"),
        (b'{"name":"a","val":2}', "decode"),
        (b'{"name":"a","ts":1}', "decode"),
        (b"\xff", "decode"),
        (body(name="Env.Temp"), "name"),
        (body(name="env..temp"), "name"),
        (body(name="env-temp"), "name"),
        (body(name="a" * 129), "name"),
        (body(name=5), "name"),
        (body(ts="1700000000"), "timestamp"),
        (body(ts=1.7e18), "timestamp"),
        (body(ts=-1), "timestamp"),
        (body(ts=2**63), "timestamp"),
        (body(ts=True), "timestamp"),
        (body(val=True), "value"),
        (body(val=None), "value"),
        (body(val=[1]), "value"),
        (body(val={"a": 1}), "value"),
        (body(val=2**63), "value"),
        (b'{"name":"a","ts":1,"val":NaN}', "value"),
        (b'{"name":"a","ts":1,"val":Infinity}', "value"),
        (body(val="aGk=", enc="b64"), "value"),
        (body(val="x", enc="gzip"), "value"),
        (body(val="x" * 65537), "value"),
        (body(meta=["a"]), "meta"),
        (body(meta={"a": 1}), "meta"),
        (body(meta={"a": None}), "meta"),
    ],
)
def test_invalid_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        decode(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


@pytest.mark.parametrize("name", ["env.temperature", "a", "sys.cpu_0.load_1m", "upload", "x" * 128, "1.2.3"])
def test_valid_names(name: str) -> None:
    validate_name(name)


def test_tagging_order_matches_the_data_sharing_service() -> None:
    message = Message("env.t", TS, 1, {"sensor": "s", "node": "spoofed", "vsn": "spoofed", "plugin": "spoofed"})
    meta = tagged(message, plugin="app", app_id=None, node="000000000000abcd", vsn="V001").meta
    assert meta == {"sensor": "s", "node": "000000000000abcd", "vsn": "V001", "plugin": "app"}
    with_app = tagged(message, plugin="app", app_id="uid-1", node="n", vsn="V").meta
    assert with_app["app_id"] == "uid-1"
    assert with_app["plugin"] == "app"


def test_encode_is_readable_by_pywagglemsg() -> None:
    message = Message("env.t", TS, 2.5, {"node": "n"})
    assert wagglemsg.load(encode(message)) == wagglemsg.Message("env.t", 2.5, TS, {"node": "n"})


def processor(tmp_path: Path, mode: Mode, plugin: str = "") -> Processor:
    from vwclass.dataendpoint.uploads import UploadDirectory

    return Processor(
        mode,
        UploadDirectory(tmp_path),
        node="000000000000abcd",
        vsn="V001",
        plugin=plugin,
        local_url="http://data:8080",
    )


def test_validator_mode_scopes(tmp_path: Path) -> None:
    p = processor(tmp_path, "validator")
    results = {s: p.process(Delivery(body(), s, "plugin", None)) for s in ("all", "node", "beehive")}
    assert all(isinstance(r, Accepted) for r in results.values())
    flags = {s: (r.store, r.publish) for s, r in results.items() if isinstance(r, Accepted)}
    assert flags == {"all": (True, True), "node": (False, True), "beehive": (True, False)}


def test_validator_mode_requires_a_scope_and_a_user(tmp_path: Path) -> None:
    p = processor(tmp_path, "validator")
    bad_scope = p.process(Delivery(body(), "env.temperature", "plugin", None))
    no_user = p.process(Delivery(body(), "all", None, "app"))
    assert isinstance(bad_scope, Rejection)
    assert bad_scope.reason == "scope"
    assert isinstance(no_user, Rejection)
    assert no_user.reason == "user_id"
    assert no_user.body == body()
    assert no_user.app_id == "app"


def test_validator_mode_plugin_identity(tmp_path: Path) -> None:
    def identity(p: Processor, app_id: str | None) -> tuple[str, str | None]:
        result = p.process(Delivery(body(), "all", "plugin", app_id))
        assert isinstance(result, Accepted)
        meta = result.record.message.meta
        return meta["plugin"], meta.get("app_id")

    assert identity(processor(tmp_path, "validator"), None) == ("plugin", None)
    assert identity(processor(tmp_path, "validator"), "my-app") == ("my-app", "my-app")
    assert identity(processor(tmp_path, "validator", plugin="demo:1.0"), None) == ("demo:1.0", None)
    assert identity(processor(tmp_path, "validator", plugin="demo:1.0"), "pod-uid") == ("demo:1.0", "pod-uid")


def test_beehive_mode_stores_as_forwarded(tmp_path: Path) -> None:
    p = processor(tmp_path, "beehive")
    meta = {"node": "0000000000000001", "vsn": "W001", "plugin": "x:1", "task": "t", "job": "j"}
    result = p.process(Delivery(body(meta=meta), "env.temperature", None, None))
    assert isinstance(result, Accepted)
    assert result.store
    assert not result.publish
    assert result.record.message.meta == meta


def test_uploads_resolve_in_both_modes(tmp_path: Path) -> None:
    source = tmp_path / "frame.jpg"
    source.write_bytes(b"\xff\xd8 jpeg")
    directory = Uploader(tmp_path / "uploads").upload_file(source, meta={"camera": "top"}, timestamp=TS, keep=True)
    meta = {"camera": "top", "filename": "frame.jpg"}
    from vwclass.dataendpoint.uploads import UploadDirectory

    uploads = UploadDirectory(tmp_path / "uploads")
    validator = Processor("validator", uploads, node="n", vsn="V", plugin="", local_url="http://d")
    direct = validator.process(Delivery(body(name="upload", val=directory.name, meta=meta), "all", "plugin", None))
    assert isinstance(direct, Accepted)
    assert direct.record.upload is not None
    assert direct.record.upload.directory == directory.name
    assert direct.record.upload.size == 7
    republished = wagglemsg.load(validator.republished(direct))
    assert republished.value == f"http://d/api/v1/files/{directory.name}/frame.jpg"

    beehive = Processor("beehive", uploads, node="n", vsn="V", plugin="", local_url="http://d")
    url = f"https://storage.sagecontinuum.org/api/v1/data/j/sage-t-1.0/n/{TS}-frame.jpg"
    forwarded = beehive.process(Delivery(body(name="upload", val=url, meta=meta), "upload", None, None))
    assert isinstance(forwarded, Accepted)
    assert forwarded.record.upload == direct.record.upload


@pytest.mark.parametrize(
    ("value", "meta"),
    [
        ("../../etc-passwd", {"filename": "x"}),
        (f"{TS}-{'0' * 40}", {"filename": "x"}),  # well formed but no such directory
        (f"{TS}-{'0' * 40}", {}),  # no filename
        (f"{TS}-{'0' * 40}", {"filename": "../x"}),
        (12, {"filename": "x"}),
    ],
)
def test_bad_uploads_are_rejected(tmp_path: Path, value: object, meta: dict[str, str]) -> None:
    p = processor(tmp_path, "validator")
    result = p.process(Delivery(body(name="upload", val=value, meta=meta), "all", "plugin", None))
    assert isinstance(result, Rejection)
    assert result.reason == "upload"
