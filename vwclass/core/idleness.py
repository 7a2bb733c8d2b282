"""Whether a student's node is idle (spec.idleTimeout), from what shows their activity: no I/O.

A student is active while one of their plugins runs, and was active when one started or finished,
when their node last stored a message, and when the teacher woke their node; the class's own start
(created, or resumed) counts as everyone's activity, so nobody's node is suspended at the start of a
lecture for the weeks before it. A node idle for the class's idleTimeout is suspended alone: its
workload at zero, as a whole class is by a suspend. Nothing is kept but what these signals say, so
a new plugin or a teacher's wake brings the node back at once, and a node whose signals are old stays
at zero (its own messages cannot come while it is down).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vwclass.core import names, nodereport

Obj = dict[str, Any]
# The managed-by value of the pods a student's plugins run in (vwclass.core.plugins.MANAGER): no
# import of plugins, which renders them, for one name.
PLUGIN_MANAGER = "vwclass-plugin"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


def parse_time(stamp: object) -> dt.datetime | None:
    """An API timestamp ("2026-12-07T18:00:00Z") as an aware datetime; None when absent or unreadable."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def is_plugin_pod(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata", {}).get("labels") or {}).get(names.MANAGED_BY) == PLUGIN_MANAGER)


def plugin_activity(pods: Iterable[Mapping[str, Any]], now: dt.datetime) -> dt.datetime | None:
    """The student's plugins' last activity: now while one has not finished, else the latest start or
    end of one; None without any plugin pod."""
    latest: dt.datetime | None = None
    for pod in pods:
        if not is_plugin_pod(pod) or pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        status = pod.get("status") or {}
        if status.get("phase") not in FINISHED_PHASES:
            return now
        moments = [parse_time(pod["metadata"].get("creationTimestamp"))]
        for container in status.get("containerStatuses") or []:
            moments.append(parse_time(((container.get("state") or {}).get("terminated") or {}).get("finishedAt")))
        latest = max([m for m in moments if m is not None] + ([latest] if latest else []), default=latest)
    return latest


def woken_at(namespace: Mapping[str, Any] | None) -> dt.datetime | None:
    """When the teacher last woke the student's node (the namespace's annotation)."""
    annotations = ((namespace or {}).get("metadata") or {}).get("annotations") or {}
    return parse_time(annotations.get(names.WOKEN_ANNOTATION))


def running_since(old_status: Mapping[str, Any] | None, suspended: bool, now: dt.datetime) -> dt.datetime | None:
    """When the class last started running: now when it starts (first seen, or resumed from any
    suspension), else as its last status says; None while it is suspended."""
    if suspended:
        return None
    old = old_status or {}
    before = parse_time(old.get("runningSince"))
    if before is None or old.get("suspendedBy"):
        return now
    return before


@dataclass(frozen=True)
class Activity:
    """What is known of one student's activity; each None when it says nothing."""

    class_started: dt.datetime | None
    woken: dt.datetime | None = None
    plugins: dt.datetime | None = None
    messages: dt.datetime | None = None

    @property
    def last(self) -> dt.datetime | None:
        known = [m for m in (self.class_started, self.woken, self.plugins, self.messages) if m is not None]
        return max(known, default=None)

    def idle_at(self, timeout: dt.timedelta) -> dt.datetime | None:
        """When the student becomes idle (in the past: they are); None when nothing is known."""
        last = self.last
        return None if last is None else last + timeout

    def idle(self, timeout: dt.timedelta, now: dt.datetime) -> bool:
        due = self.idle_at(timeout)
        return due is not None and now >= due


def last_message(endpoint_metrics: str) -> dt.datetime | None:
    """The data endpoint's last stored batch, from its metrics (0, or absent: nothing since it started)."""
    return _timestamp(endpoint_metrics, "vwclass_dataendpoint_last_commit_timestamp_seconds")


def last_workspace_use(jupyter_metrics: str) -> dt.datetime | None:
    """When the student last used their workspace (JupyterLab's last API request, kernel or terminal
    activity, from its metrics): an open JupyterLab tab, which asks every few seconds, counts."""
    return _timestamp(jupyter_metrics, "jupyter_server_last_activity_timestamp_seconds")


def _timestamp(metrics: str, sample: str) -> dt.datetime | None:
    for name, _labels, value in nodereport.samples(metrics):
        if name == sample and value > 0:
            return dt.datetime.fromtimestamp(value, dt.UTC)
    return None
