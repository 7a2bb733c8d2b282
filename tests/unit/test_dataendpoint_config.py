"""Configuration from environment variables: defaults, conversions, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vwclass.dataendpoint.config import ConfigError, describe_settings, load_config, parse_duration, parse_size

BASE = {"VWCLASS_DATA_RABBITMQ_PASSWORD": "s3cret"}


def test_defaults() -> None:
    config = load_config(BASE)
    assert config.mode == "beehive"
    assert config.queue == "to-beehive"
    assert (config.rabbitmq_host, config.rabbitmq_port, config.rabbitmq_username) == ("rabbitmq", 5672, "service")
    assert config.rabbitmq_password == "s3cret"
    assert config.db_path == Path("/data/records.sqlite")
    assert config.upload_dir == Path("/run/waggle/uploads")
    assert config.listen_port == 8080
    assert config.public_url == ""
    assert config.local_url == "http://data-endpoint"
    assert (config.node, config.vsn) == ("0000000000000000", "W000")
    assert config.retention_age_s == 30 * 86400
    assert config.max_bytes == 800 * 1024**2


def test_validator_mode_consumes_to_validator_unless_told_otherwise() -> None:
    assert load_config({**BASE, "VWCLASS_DATA_MODE": "validator"}).queue == "to-validator"
    assert load_config({**BASE, "VWCLASS_DATA_MODE": "validator", "VWCLASS_DATA_QUEUE": "q"}).queue == "q"


def test_password_is_kept_verbatim() -> None:
    assert load_config({"VWCLASS_DATA_RABBITMQ_PASSWORD": " a b "}).rabbitmq_password == " a b "


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({}, "VWCLASS_DATA_RABBITMQ_PASSWORD is required"),
        ({**BASE, "VWCLASS_DATA_MODE": "cloud"}, "VWCLASS_DATA_MODE='cloud' must be one of"),
        ({**BASE, "VWCLASS_DATA_LISTEN_PORT": "http"}, "VWCLASS_DATA_LISTEN_PORT='http' must be an integer"),
        ({**BASE, "VWCLASS_DATA_RABBITMQ_PORT": "70000"}, "VWCLASS_DATA_RABBITMQ_PORT='70000'"),
        ({**BASE, "VWCLASS_DATA_RETENTION_AGE": "forever"}, "VWCLASS_DATA_RETENTION_AGE: 'forever' is not a duration"),
        ({**BASE, "VWCLASS_DATA_RETENTION_AGE": "0"}, "must be greater than zero"),
        ({**BASE, "VWCLASS_DATA_MAX_BYTES": "lots"}, "VWCLASS_DATA_MAX_BYTES: 'lots' is not a size"),
        ({**BASE, "VWCLASS_DATA_PUBLIC_URL": "data:8080"}, "must be an http(s) URL"),
        ({**BASE, "VWCLASS_DATA_LOG_LEVEL": "loud"}, "VWCLASS_DATA_LOG_LEVEL='loud'"),
        ({**BASE, "WAGGLE_NODE_VSN": "W 1"}, "WAGGLE_NODE_VSN='W 1' must be a non-empty word"),
        ({**BASE, "VWCLASS_DATA_LOCAL_URL": ""}, "VWCLASS_DATA_LOCAL_URL must not be empty"),
        ({**BASE, "VWCLASS_DATA_BATCH": "0"}, "VWCLASS_DATA_BATCH='0'"),
    ],
)
def test_bad_settings_name_the_variable_in_one_line(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 1209600), ("3600", 3600)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1GiB", 1024**3),
        ("500MB", 500 * 10**6),
        ("2G", 2 * 10**9),
        ("64k", 64000),
        ("64Ki", 65536),
        ("1048576", 1048576),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_help_lists_every_variable() -> None:
    text = describe_settings()
    for name in (
        "VWCLASS_DATA_MODE",
        "VWCLASS_DATA_RABBITMQ_PASSWORD (required)",
        "VWCLASS_DATA_DB_PATH",
        "VWCLASS_DATA_UPLOAD_DIR",
        "VWCLASS_DATA_MAX_BYTES (default: 800MiB)",
        "WAGGLE_NODE_VSN (default: W000)",
    ):
        assert name in text
