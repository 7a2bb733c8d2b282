"""Durations as people write them on a command line: 90s, 10m, 8h, 1h30m, 2d."""

from __future__ import annotations

import re

from vwclass.cli.errors import Exit, abort

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse(text: str, option: str) -> float:
    """Seconds in text ("8h", "1h30m", "45s", "2d", or a bare number of seconds); exit 2 otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    if not cleaned or _PART.sub("", cleaned):
        abort(f"{option} {text!r} is not a duration: write e.g. 90s, 10m, 8h or 1h30m", Exit.BAD_INPUT)
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(cleaned))


def show(seconds: float) -> str:
    """The shortest exact form: 600 -> 10m, 5400 -> 1h30m, 90 -> 1m30s."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
