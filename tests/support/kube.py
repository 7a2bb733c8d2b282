"""Small waiting and naming helpers for tests that talk to the real API server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def unique(prefix: str) -> str:
    """A DNS-1123 name unlikely to collide with other tests' objects."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def eventually(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.5, what: str = "") -> T:
    """Polls check() until it returns a truthy value (which is returned) or raises at the timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except Exception as error:  # the condition may not be checkable yet (404 and the like)
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}: last {last!r}")
        time.sleep(interval)
