"""Reads the data endpoint's configuration from environment variables, with documented defaults."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["beehive", "validator"]
MODES: tuple[Mode, ...] = ("beehive", "validator")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None  # None: required
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "VWCLASS_DATA_MODE",
        "beehive",
        "beehive: store what the node's data-sharing service forwards to `to-beehive`; validator: "
        "take that service's place (consume `to-validator`, validate, tag, republish to data.topic)",
    ),
    Setting("VWCLASS_DATA_RABBITMQ_HOST", "rabbitmq", "the namespace's RabbitMQ service host"),
    Setting("VWCLASS_DATA_RABBITMQ_PORT", "5672", "its AMQP port"),
    Setting("VWCLASS_DATA_RABBITMQ_USERNAME", "service", "AMQP user (the node's `service` user)"),
    Setting("VWCLASS_DATA_RABBITMQ_PASSWORD", None, "its password (required; from a Secret)"),
    Setting("VWCLASS_DATA_QUEUE", "", "queue to consume (default: to-beehive, or to-validator in validator mode)"),
    Setting("VWCLASS_DATA_DB_PATH", "/data/records.sqlite", "SQLite store (put it on a PersistentVolume)"),
    Setting(
        "VWCLASS_DATA_UPLOAD_DIR",
        "/run/waggle/uploads",
        "the plugin runner's WAGGLE_PLUGIN_UPLOAD_PATH, shared read-write with this container",
    ),
    Setting("VWCLASS_DATA_LISTEN_HOST", "0.0.0.0", "HTTP listen address"),
    Setting("VWCLASS_DATA_LISTEN_PORT", "8080", "HTTP port (query API, files, /healthz, /readyz, /metrics)"),
    Setting(
        "VWCLASS_DATA_PUBLIC_URL",
        "",
        "base URL of upload links in query answers (default: http:// and the Host the client sent, "
        "so in-cluster names and port-forwards both work); set it behind an ingress",
    ),
    Setting(
        "VWCLASS_DATA_LOCAL_URL",
        "http://data-endpoint",
        "base URL of upload links republished to data.topic in validator mode: how plugins in the "
        "namespace reach this endpoint (its Service)",
    ),
    Setting("VWCLASS_DATA_RETENTION_AGE", "30d", "records and files older than this (since stored) are deleted"),
    Setting(
        "VWCLASS_DATA_MAX_BYTES",
        "800MiB",
        "size budget of the store plus the upload files it references; the oldest records go first "
        "(keep it ~20% under the volume: SQLite's WAL and the filesystem need room)",
    ),
    Setting(
        "VWCLASS_DATA_MAX_SERIES",
        "100000",
        "distinct (name, meta) series accepted; beyond it messages are rejected (meta that changes "
        "every message is a bug that would make every query slow)",
    ),
    Setting("WAGGLE_NODE_ID", "0000000000000000", "meta `node` added in validator mode"),
    Setting("WAGGLE_NODE_VSN", "W000", "meta `vsn` added in validator mode"),
    Setting(
        "VWCLASS_DATA_PLUGIN",
        "",
        "meta `plugin` in validator mode (default: the message's AMQP app_id, else its user)",
    ),
    Setting("VWCLASS_DATA_BATCH", "500", "messages committed per transaction at most"),
    Setting("VWCLASS_DATA_LOG_LEVEL", "info", "debug, info, warning or error"),
)

_DEFAULT_QUEUE: dict[Mode, str] = {"beehive": "to-beehive", "validator": "to-validator"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Config:
    mode: Mode
    rabbitmq_host: str
    rabbitmq_port: int
    rabbitmq_username: str
    rabbitmq_password: str
    queue: str
    db_path: Path
    upload_dir: Path
    listen_host: str
    listen_port: int
    public_url: str
    local_url: str
    retention_age_s: float
    max_bytes: int
    max_series: int
    node: str
    vsn: str
    plugin: str
    batch: int
    log_level: str


def parse_duration(text: str) -> float:
    """Seconds in `30d`, `12h`, `90m`, `45s`, `2w` or a plain number of seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 90m or 3600")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def parse_size(text: str) -> int:
    """Bytes in `1GiB`, `500MB`, `2G`, `64k` or a plain number of bytes (Ki/Mi/Gi are powers of 1024)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size like 1GiB, 500MB or 1048576")
    unit = (match.group(2) or "").lower()
    factor = _SIZE_UNITS[unit[:1]]
    if "i" in unit:
        factor = 1024 ** {"k": 1, "m": 2, "g": 3, "t": 4}[unit[0]]
    return int(float(match.group(1)) * factor)


def load_config(environ: Mapping[str, str]) -> Config:
    """The configuration in `environ`; raises ConfigError naming the first bad variable."""
    values: dict[str, str] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or (raw == "" and setting.default is None):
            if setting.default is None:
                raise ConfigError(f"{setting.env} is required ({setting.help})")
            raw = setting.default
        values[setting.env] = raw.strip()

    def number(env: str, low: int, high: int) -> int:
        text = values[env]
        if not text.isdigit() or not low <= int(text) <= high:
            raise ConfigError(f"{env}={text!r} must be an integer from {low} to {high}")
        return int(text)

    def positive(env: str, parse: Callable[[str], float]) -> float:
        try:
            value = parse(values[env])
        except ValueError as error:
            raise ConfigError(f"{env}: {error}") from None
        if value <= 0:
            raise ConfigError(f"{env}={values[env]!r} must be greater than zero")
        return value

    mode = values["VWCLASS_DATA_MODE"].lower()
    if mode not in MODES:
        raise ConfigError(f"VWCLASS_DATA_MODE={mode!r} must be one of {', '.join(MODES)}")
    typed_mode: Mode = "validator" if mode == "validator" else "beehive"
    urls = {}
    for env in ("VWCLASS_DATA_PUBLIC_URL", "VWCLASS_DATA_LOCAL_URL"):
        urls[env] = values[env].rstrip("/")
        if urls[env] and not re.match(r"^https?://[^/\s]+(/\S*)?$", urls[env]):
            raise ConfigError(f"{env}={urls[env]!r} must be an http(s) URL")
    if not urls["VWCLASS_DATA_LOCAL_URL"]:
        raise ConfigError("VWCLASS_DATA_LOCAL_URL must not be empty")
    log_level = values["VWCLASS_DATA_LOG_LEVEL"].lower()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"VWCLASS_DATA_LOG_LEVEL={log_level!r} must be one of {', '.join(_LOG_LEVELS)}")
    for env in ("VWCLASS_DATA_RABBITMQ_HOST", "VWCLASS_DATA_RABBITMQ_USERNAME", "VWCLASS_DATA_DB_PATH"):
        if not values[env]:
            raise ConfigError(f"{env} must not be empty")
    for env in ("WAGGLE_NODE_ID", "WAGGLE_NODE_VSN"):
        if not values[env] or any(c.isspace() for c in values[env]):
            raise ConfigError(f"{env}={values[env]!r} must be a non-empty word")

    return Config(
        mode=typed_mode,
        rabbitmq_host=values["VWCLASS_DATA_RABBITMQ_HOST"],
        rabbitmq_port=number("VWCLASS_DATA_RABBITMQ_PORT", 1, 65535),
        rabbitmq_username=values["VWCLASS_DATA_RABBITMQ_USERNAME"],
        # Passwords are used verbatim: only the unset check above applies to them.
        rabbitmq_password=environ.get("VWCLASS_DATA_RABBITMQ_PASSWORD", ""),
        queue=values["VWCLASS_DATA_QUEUE"] or _DEFAULT_QUEUE[typed_mode],
        db_path=Path(values["VWCLASS_DATA_DB_PATH"]),
        upload_dir=Path(values["VWCLASS_DATA_UPLOAD_DIR"]),
        listen_host=values["VWCLASS_DATA_LISTEN_HOST"],
        listen_port=number("VWCLASS_DATA_LISTEN_PORT", 1, 65535),
        public_url=urls["VWCLASS_DATA_PUBLIC_URL"],
        local_url=urls["VWCLASS_DATA_LOCAL_URL"],
        retention_age_s=positive("VWCLASS_DATA_RETENTION_AGE", parse_duration),
        max_bytes=int(positive("VWCLASS_DATA_MAX_BYTES", parse_size)),
        max_series=number("VWCLASS_DATA_MAX_SERIES", 1, 10**9),
        node=values["WAGGLE_NODE_ID"],
        vsn=values["WAGGLE_NODE_VSN"],
        plugin=values["VWCLASS_DATA_PLUGIN"],
        batch=number("VWCLASS_DATA_BATCH", 1, 10000),
        log_level=log_level,
    )


def describe_settings() -> str:
    """The environment variables, their defaults and meaning, for --help."""
    lines = []
    for setting in SETTINGS:
        if setting.default is None:
            default = "(required)"
        elif setting.env == "VWCLASS_DATA_QUEUE":
            default = "(default: by mode)"
        else:
            default = f"(default: {setting.default or 'unset'})"
        text = textwrap.fill(setting.help, width=96, initial_indent="      ", subsequent_indent="      ")
        lines.append(f"  {setting.env} {default}\n{text}")
    return "\n".join(lines)
