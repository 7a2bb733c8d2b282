"""Reads a class for the dashboard in the background and keeps its latest snapshot, ready to serve.

Two loops, each in a thread of its own: the class's objects (the class, its namespaces, node
StatefulSets, pods and plugin pods: five requests, whatever the class's size) every few seconds,
and every ready student's data endpoint and newest plugin log, a few students at a time
(vwclass.cli.nodereads), a little less often. The page's polls only ever read the snapshot kept
here: 500 students never mean 500 proxied queries per refresh of the page. A read that fails is one
line on that student's card (or, for the class itself, across the page); the loops go on.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vwclass.cli import nodereads, studentview
from vwclass.cli.dashboard import model

if TYPE_CHECKING:
    from vwclass.core.spec import ClassSpec, Student
    from vwclass.kube.api import Kube

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HEALTH_EVERY = 3.0  # seconds between two readings of the class's objects
DATA_EVERY = 5.0  # seconds between the starts of two rounds of data and log reads
# A node that does not answer holds one of the few readers this long, once per round (no retries:
# the next round is a few seconds away).
READ_TIMEOUT = 10.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Refresher:
    """The latest snapshot of one class, kept fresh by two background loops until stop()."""

    def __init__(
        self,
        kube: Kube,
        class_name: str,
        since: str = "-1h",
        points: int = model.DEFAULT_POINTS,
        log_lines: int = model.LOG_LINES,
        health_every: float = HEALTH_EVERY,
        data_every: float = DATA_EVERY,
    ) -> None:
        self.kube = kube
        self.class_name = class_name
        self.since = since
        self.points = points
        self.log_lines = log_lines
        self.health_every = health_every
        self.data_every = data_every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._cls: ClassSpec | None = None
        self._health: model.Health | None = None
        self._readings: dict[str, model.Reading] = {}
        self._error = ""
        self._updated_at = ""
        self._json = b""
        self._publish()

    # -- what the server reads ------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The latest snapshot as JSON."""
        with self._lock:
            return self._json

    def _publish(self) -> None:
        with self._lock:
            document = model.snapshot(
                self.class_name,
                self._health,
                dict(self._readings),
                updated_at=self._updated_at,
                error=self._error,
                since=self.since,
                points=self.points,
            )
            self._json = model.to_json(document)

    # -- one round of each ----------------------------------------------------------------------------
    def refresh_health(self) -> None:
        """Reads the class and its students' objects; a failure becomes the page's error line."""
        from vwclass.core import names, plugins, render
        from vwclass.core.schema import InvalidClass
        from vwclass.core.spec import parse_class
        from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE, POD

        try:
            body = self.kube.get(CLASS, self.class_name)
            if body is None:
                raise _ClassGone(f"class {self.class_name} no longer exists (deleted?); showing what was last read")
            cls = parse_class(body)
            selector = names.class_selector(self.class_name)
            namespaces = self.kube.list(NAMESPACE, selector)
            nodes = self.kube.list(
                BY_KIND[("apps/v1", "StatefulSet")], f"{selector},app.kubernetes.io/name={names.NODE_WORKLOAD}"
            )
            pods = self.kube.list(POD, selector)
            # A student's plugins are theirs, not the class's (vwclass.core.plugins' labels).
            plugin_pods = self.kube.list(POD, f"{plugins.SELECTOR},{names.CLASS_LABEL}={self.class_name}")
        except InvalidClass as invalid:
            self._fail(f"class {self.class_name} has an invalid spec: {invalid}")
            return
        except _ClassGone as gone:
            self._fail(str(gone))
            return
        except Exception as error:
            if nodereads.unexplained(error):
                raise
            self._fail(nodereads.why(error))
            return
        rows = studentview.student_rows(cls, render.expected_components(cls), body, namespaces, nodes, pods)
        phase = str(body.get("status", {}).get("phase", ""))
        health = model.Health(tuple(rows), cls.suspended, phase, model.newest_plugin_pods(plugin_pods))
        with self._lock:
            self._cls, self._health, self._error, self._updated_at = cls, health, "", _now()
            # A student taken off the roster leaves no reading behind.
            known = {s.id for s in cls.students}
            self._readings = {k: v for k, v in self._readings.items() if k in known}
        self._publish()

    def _fail(self, why: str) -> None:
        with self._lock:
            self._error = why
        self._publish()

    def refresh_data(self) -> None:
        """Reads every student's recent data (ready nodes only) and newest plugin log, a few at a time."""
        with self._lock:
            cls, health = self._cls, self._health
        if cls is None or health is None:
            return
        rows = {row.student: row for row in health.rows}
        document = {"start": self.since, "tail": self.points}

        def read(student: Student) -> None:
            row = rows.get(student.id)
            if row is None:
                return
            word, _ = model.health(row, health.suspended)
            reading = self._read(student, word, document, health.plugin_pods.get(student.namespace))
            with self._lock:
                self._readings[student.id] = reading

        nodereads.each(list(cls.students), read)
        self._publish()

    def _read(self, student: Student, word: str, document: Obj, plugin_pod: Obj | None) -> model.Reading:
        """One student's reading: their records (the previous ones kept, with why, when this read failed)
        and their newest plugin's last log lines."""
        from vwclass.core.plugins import pod_phase
        from vwclass.kube import pods

        with self._lock:
            previous = self._readings.get(student.id, model.Reading())
        reading = previous
        if word == model.READY:
            try:
                records = nodereads.query(self.kube, student, document, timeout=READ_TIMEOUT, attempts=1)
                reading = dataclasses.replace(reading, records=tuple(records), data_error="", read_at=_now())
            except Exception as error:
                if nodereads.unexplained(error):
                    raise
                reading = dataclasses.replace(reading, data_error=f"unreachable ({nodereads.why(error)})")
        else:
            reading = dataclasses.replace(reading, data_error=f"not read (node {word.split(':')[0]})")
        if plugin_pod is None:
            return dataclasses.replace(reading, logs="", logs_error="")
        if not model.has_log(plugin_pod):
            return dataclasses.replace(reading, logs="", logs_error=f"not started yet ({pod_phase(plugin_pod)})")
        try:
            text = pods.recent_log(
                self.kube,
                student.namespace,
                str(plugin_pod["metadata"]["name"]),
                model.PLUGIN_CONTAINER,
                self.log_lines,
                timeout=READ_TIMEOUT,
            )
            return dataclasses.replace(reading, logs=model.log_tail(text, self.log_lines), logs_error="")
        except Exception as error:
            if nodereads.unexplained(error):
                raise
            return dataclasses.replace(reading, logs_error=f"unreadable ({nodereads.why(error)})")

    # -- the loops ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Reads the class once (so the first page has every student), then keeps reading in the background."""
        self._guarded(self.refresh_health)
        for name, work, every in (
            ("health", self.refresh_health, self.health_every),
            ("data", self.refresh_data, self.data_every),
        ):
            thread = threading.Thread(target=self._loop, args=(work, every), name=f"dashboard-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, wait: float = 2.0) -> None:
        """Ends the loops (a read under way is left to its timeout: the threads are daemons)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(wait)

    def _loop(self, work: Callable[[], None], every: float) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._guarded(work)
            self._stop.wait(max(0.0, every - (time.monotonic() - started)))

    def _guarded(self, work: Callable[[], None]) -> None:
        """work(); a bug in one round is logged and shown across the page, and the next round comes."""
        try:
            work()
        except Exception as error:
            log.exception("dashboard: a round of reads failed")
            self._fail(f"internal error ({type(error).__name__}: {error}); the next round tries again")


class _ClassGone(Exception):
    """The class was deleted while the dashboard showed it."""
