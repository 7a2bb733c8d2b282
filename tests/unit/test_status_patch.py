"""A class's status is patched as a JSON merge patch: what the new status no longer has, at any depth,
is named null, or the API server would keep it."""

from __future__ import annotations

from vwclass.operator.publish import _with_removals


def test_fields_gone_from_the_status_are_removed_at_any_depth_and_lists_replaced_whole() -> None:
    old = {
        "phase": "Ready",
        "suspendedBy": "Teacher",
        "students": {"desired": 2, "ready": 1, "idle": 1, "summary": "1/2 (1 idle)"},
        "imagePrePull": {"nodes": 1, "pulled": 0, "message": "x: ErrImagePull on 1 node"},
        "idle": [{"student": "student-002", "since": "2026-12-07T10:00:00Z"}],
    }
    new = {
        "phase": "Ready",
        "students": {"desired": 2, "ready": 2, "summary": "2/2"},
        "imagePrePull": {"nodes": 1, "pulled": 1},
    }
    assert _with_removals(new, old) == {
        "phase": "Ready",
        "suspendedBy": None,
        "idle": None,
        "students": {"desired": 2, "ready": 2, "summary": "2/2", "idle": None},
        "imagePrePull": {"nodes": 1, "pulled": 1, "message": None},
    }
    assert _with_removals(new, {}) == new
