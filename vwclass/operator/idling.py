"""Which students of a class are idle now (spec.idleTimeout), and when the next one may be: the signals
of vwclass.core.idleness gathered in a reconcile.

What the cluster shows (the class's start, the teacher's wake on the namespace, the student's plugin
pods, all delivered by the watches or listed by a full pass) decides first. Only a student those call
idle is asked when their node last stored a message, through the API server's proxy to their data
endpoint (what `vwclass report` reads too), and with a workspace when they last used it (JupyterLab's
metrics, served without its token, the same way): at most once until that answer could have gone stale, so
a class of 500 busy students costs no read while their plugins run, and one read each per idleTimeout
when they publish from the runner alone. A node that is down (already idle) is not asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from vwclass.core import classdata, idleness, lifecycle, names, nodereport, status
from vwclass.core.spec import ClassSpec, Student
from vwclass.kube import proxy
from vwclass.kube.api import ApiError, Kube

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
# One try, briefly: a node that does not answer at once tells nothing, and the pass goes on.
READ_TIMEOUT = 5.0


@dataclass
class LastMessages:
    """Each student's last stored message as their data endpoint last told it, kept until it could
    have moved on: a message at T keeps the student active until T + idleTimeout, so no read before.
    And the last moment each student's plugins were seen active: `vwclass plugin run` removes its pod
    once the plugin ends, and the run must still count (a plugin that publishes nothing too)."""

    _known: dict[tuple[str, str], tuple[dt.datetime | None, dt.datetime]] = field(default_factory=dict)
    _plugins: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plugins_seen(self, key: tuple[str, str], shown: dt.datetime | None) -> dt.datetime | None:
        """The later of what the pods show now and what they showed before; a new activity also
        drops the kept answer of the node, which may have stored that plugin's messages since."""
        with self._lock:
            before = self._plugins.get(key)
            if shown is not None and (before is None or shown > before):
                self._plugins[key] = shown
                self._known.pop(key, None)
                return shown
            return before

    def get(self, key: tuple[str, str], timeout: dt.timedelta, now: dt.datetime) -> tuple[bool, dt.datetime | None]:
        """(whether the kept answer still stands, the answer)."""
        with self._lock:
            entry = self._known.get(key)
        if entry is None:
            return False, None
        message, read_at = entry
        # Stands while the message still keeps the student active, and (with none) for a minute.
        stands = now < message + timeout if message is not None else now < read_at + dt.timedelta(minutes=1)
        return stands, message

    def put(self, key: tuple[str, str], message: dt.datetime | None, now: dt.datetime) -> None:
        with self._lock:
            self._known[key] = (message, now)


@dataclass(frozen=True)
class Verdict:
    """The idle students (id -> their last activity, RFC 3339), when the class started running, and
    when the next student becomes idle (None: nobody can)."""

    idle: Mapping[str, str]
    running_since: dt.datetime | None = None
    next_idle: dt.datetime | None = None

    def in_effect(self, cls: ClassSpec, student: Student) -> ClassSpec:
        """The class as this student's objects are rendered: suspended when the student is idle."""
        return replace(cls, suspended=True) if student.id in self.idle else cls

    def mark(self, state: status.StudentState) -> status.StudentState:
        since = self.idle.get(state.student)
        return replace(state, idle_since=since) if since is not None else state


NOBODY = Verdict({})


def _node_running(pods: list[Obj]) -> bool:
    pod = status.node_pod(pods)
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _read_metrics(kube: Kube, student: Student, path: str, what: str) -> str:
    try:
        return proxy.request(kube, "GET", path, timeout=READ_TIMEOUT, attempts=1).decode()
    except ApiError as error:  # not answering (starting, stopped): it tells nothing, so nothing is assumed
        log.info("%s: %s not read: %s", student.namespace, what, error)
        return ""


def _read_last_activity(kube: Kube, cls: ClassSpec, student: Student) -> dt.datetime | None:
    """The later of the node's last stored message and, with a workspace, the student's last use of it."""
    endpoint = proxy.service_path(
        student.namespace, classdata.SERVICE, classdata.SERVICE_PORT, nodereport.ENDPOINT_METRICS_PATH
    )
    found = [idleness.last_message(_read_metrics(kube, student, endpoint, "last message"))]
    if cls.components.workspace:
        workspace = proxy.service_path(
            student.namespace,
            names.WORKSPACE_SERVICE,
            str(names.WORKSPACE_PORT),
            f"{names.workspace_path(student.id)}metrics",
        )
        found.append(idleness.last_workspace_use(_read_metrics(kube, student, workspace, "workspace use")))
    return max((moment for moment in found if moment is not None), default=None)


def idle_students(
    kube: Kube,
    cls: ClassSpec,
    old_status: Obj | None,
    pods: Mapping[str, list[Obj]],
    namespaces: Mapping[str, Obj],
    messages: LastMessages,
    pool: Executor,
    now: dt.datetime,
) -> Verdict:
    """Which students are idle now; nobody in a class without idleTimeout or suspended as a whole."""
    timeout = cls.idle_timeout
    if timeout is None or cls.suspended:
        return NOBODY
    started = idleness.running_since(old_status, cls.suspended, now)
    shown = {
        s.id: idleness.Activity(
            started,
            idleness.woken_at(namespaces.get(s.namespace)),
            messages.plugins_seen((cls.uid, s.id), idleness.plugin_activity(pods.get(s.namespace, []), now)),
        )
        for s in cls.students
    }
    # Past their time by what the cluster shows, with a node that can still answer: ask it.
    ask = [s for s in cls.students if shown[s.id].idle(timeout, now) and _node_running(pods.get(s.namespace, []))]

    def last_message(student: Student) -> dt.datetime | None:
        key = (cls.uid, student.id)
        stands, message = messages.get(key, timeout, now)
        if not stands:
            message = _read_last_activity(kube, cls, student)
            messages.put(key, message, now)
        return message

    for student, message in zip(ask, pool.map(last_message, ask), strict=True):
        shown[student.id] = replace(shown[student.id], messages=message)
    idle: dict[str, str] = {}
    upcoming: list[dt.datetime] = []
    for student_id, activity in shown.items():
        due = activity.idle_at(timeout)
        if due is None:
            continue
        if now >= due:
            idle[student_id] = lifecycle.timestamp(activity.last) or ""
        else:
            upcoming.append(due)
    return Verdict(idle, started, min(upcoming, default=None))
