"""Idle students on the real control plane, on a virtual clock: a student's node idle for the class's
idleTimeout is suspended alone; the student's next plugin or the teacher's `vwclass resume --student`
brings it back; credentials and claims come through, and the class stays Ready for Flux and Argo CD."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.cli import Cli
from tests.support.clock import VirtualClock, poke
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually, unique
from tests.support.pods import student_pod
from vwclass.core import idleness, lifecycle, names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE, POD, STATEFULSET

pytestmark = pytest.mark.cluster
SECRET = BY_KIND[("v1", "Secret")]
CLAIM = BY_KIND[("v1", "PersistentVolumeClaim")]


def replicas(kube: Kube, namespace: str) -> int:
    node = kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace) or {}
    return int(node.get("spec", {}).get("replicas", -1))


def status(kube: Kube, name: str) -> dict[str, Any]:
    return dict((kube.get(CLASS, name) or {}).get("status") or {})


def kept(kube: Kube, namespace: str) -> tuple[Any, ...]:
    """What a suspension must not lose: the node's passwords, and the claim (the same one)."""
    secret = kube.get(SECRET, names.CREDENTIALS_SECRET, namespace) or {}
    claim = kube.get(CLAIM, names.NODE_DATA_CLAIM, namespace) or {}
    return (secret.get("data"), claim.get("metadata", {}).get("uid"))


def settled(kube: Kube, name: str, idle: int) -> dict[str, Any] | None:
    """The class's status once it is Ready with `idle` idle students."""
    now = status(kube, name)
    ready: dict[str, Any] = next((c for c in now.get("conditions", []) if c["type"] == "Ready"), {})
    return now if now.get("students", {}).get("idle", 0) == idle and ready.get("status") == "True" else None


def plugin_pod(namespace: str, class_name: str, student: str) -> dict[str, Any]:
    """A plugin's pod as `vwclass plugin run` labels one."""
    labels = {
        names.MANAGED_BY: idleness.PLUGIN_MANAGER,
        names.CLASS_LABEL: class_name,
        names.STUDENT_LABEL: student,
        "app.kubernetes.io/name": "counter",
    }
    return student_pod("counter", namespace, labels)


def test_an_idle_students_node_is_suspended_alone_and_comes_back_with_a_plugin_or_the_teachers_wake(
    kube: Kube, kubeconfig: Path, clocked_operator: EmbeddedOperator, clock: VirtualClock
) -> None:
    name = unique("idlers")
    kube.apply(class_body(name, students=2, idleTimeout="30m"))
    try:
        wait_ready(kube, name, 2)
        a, b = (f"{name}-student-001", f"{name}-student-002")
        before = {ns: kept(kube, ns) for ns in (a, b)}
        started = idleness.parse_time(status(kube, name).get("runningSince"))
        assert started is not None

        # Half an hour and a minute later, with nothing done: both nodes at zero, the class still Ready.
        clock.set(started + dt.timedelta(minutes=31))
        poke(kube, name)
        eventually(lambda: replicas(kube, a) == 0 and replicas(kube, b) == 0, timeout=90, what="both nodes idle")
        # Once both are at zero the class is Ready again: each student is as the spec wants them.
        idle = eventually(lambda: settled(kube, name, 2), timeout=60, what="the class Ready with two idle students")
        assert idle["students"]["summary"] == "0/2 (2 idle)"
        assert {s["student"] for s in idle["idle"]} == {"student-001", "student-002"}
        assert idle["phase"] == "Ready"

        # The student starts a plugin: their node comes back; the classmate's stays at zero.
        kube.create(plugin_pod(a, name, "student-001"))
        eventually(lambda: replicas(kube, a) == 1, timeout=60, what="A's node back for A's plugin")
        assert replicas(kube, b) == 0
        eventually(lambda: settled(kube, name, 1), timeout=60, what="the class Ready with one idle student")
        shown = Cli(kubeconfig)("status", name, "-o", "json")
        assert shown.exit_code == 0, shown.output
        rows = {row["student"]: row for row in json.loads(shown.stdout)["students"]}
        assert rows["student-002"]["reason"].startswith("idle since ")
        assert set(rows["student-002"]["components"].values()) == {"idle"}
        assert not rows["student-001"]["reason"]

        # The teacher wakes the classmate's node: the CLI marks the namespace with the time of the wake.
        woke = Cli(kubeconfig)("resume", name, "--student", "student-002")
        assert woke.exit_code == 0, woke.output
        assert woke.stdout == f"woke student-002's node in {b}\n"
        marked = idleness.woken_at(kube.get(NAMESPACE, b))
        assert marked is not None
        assert abs((marked - dt.datetime.now(dt.UTC)).total_seconds()) < 10
        # This operator lives half an hour ahead (its virtual clock), where the CLI's real time is long
        # past: the wake is moved to its clock, as the same CLI would have written it there.
        woken = {"metadata": {"annotations": {names.WOKEN_ANNOTATION: lifecycle.timestamp(clock())}}}
        kube.merge_patch(NAMESPACE, b, None, woken)
        wait_ready(kube, name, 2)
        assert "idle" not in status(kube, name)["students"]
        for namespace in (a, b):
            assert kept(kube, namespace) == before[namespace], f"{namespace} lost its credentials or claim"

        # Another half hour: the running plugin keeps A's node; B, woken and then idle, is at zero again.
        clock.set(clock() + dt.timedelta(minutes=31))
        poke(kube, name)
        eventually(lambda: replicas(kube, b) == 0, timeout=90, what="B idle again")
        assert replicas(kube, a) == 1
        # A bad student id is one line, exit 2.
        unknown = Cli(kubeconfig)("resume", name, "--student", "nobody")
        assert unknown.exit_code == 2
        assert unknown.stderr.strip() == f"error: class '{name}' has no student 'nobody'"
    finally:
        kube.delete(POD, "counter", f"{name}-student-001")
        delete_class(kube, name)
