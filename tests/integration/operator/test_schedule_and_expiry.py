"""Lecture hours and expiry on the real control plane, on a virtual clock: a scheduled class is
suspended outside its lectures and Ready from its lead time before each, an expiring class warns, is
suspended and is deleted after its grace unless renewed; credentials, claims and the students' own
workloads come through every suspension, and Flux and Argo CD read a scheduled suspension as one."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.clock import VirtualClock
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.gitops import both
from tests.support.kube import eventually, unique
from vwclass.core import lifecycle, names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE, STATEFULSET

pytestmark = pytest.mark.cluster
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
SECRET = BY_KIND[("v1", "Secret")]
EVENT = BY_KIND[("v1", "Event")]
CLAIM = BY_KIND[("v1", "PersistentVolumeClaim")]
BERLIN = lifecycle.zone("Europe/Berlin")
MON_WED = {
    "leadTime": "15m",
    "lectures": [{"days": ["Mon", "Wed"], "start": "09:00", "end": "11:00"}],
}


def berlin(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def status(kube: Kube, name: str) -> dict[str, Any]:
    return dict((kube.get(CLASS, name) or {}).get("status") or {})


def suspended_by(kube: Kube, name: str, why: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        now = status(kube, name)
        return now if now.get("phase") == "Suspended" and now.get("suspendedBy") == why else None

    return eventually(check, timeout=90, what=f"{name} suspended ({why})")


def node_replicas(kube: Kube, name: str) -> list[int]:
    selector = names.class_selector(name)
    return sorted(int(s["spec"]["replicas"]) for s in kube.list(STATEFULSET, selector))


def credentials(kube: Kube, namespace: str) -> dict[str, str]:
    secret = kube.get(SECRET, names.CREDENTIALS_SECRET, namespace)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def counter(namespace: str) -> dict[str, Any]:
    """A student's own Deployment beside their node."""
    container = {
        "name": "main",
        "image": "example.org/plugin:1",
        "command": ["sleep", "3600"],
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "counter", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "counter"}},
            "template": {"metadata": {"labels": {"app": "counter"}}, "spec": {"containers": [container]}},
        },
    }


def event_reasons(kube: Kube, name: str) -> list[str]:
    events = kube.list(EVENT, namespace="default")
    return [e["reason"] for e in events if e.get("involvedObject", {}).get("name") == name]


def test_a_scheduled_class_runs_only_in_lecture_hours_and_keeps_everything_between(
    kube: Kube, clocked_operator: EmbeddedOperator, clock: VirtualClock, kstatus_binary: Path
) -> None:
    name = unique("week")
    namespace = f"{name}-student-001"
    clock.set(berlin("2026-12-07 08:00"))  # a Monday, 45 minutes before the lead time
    kube.apply(class_body(name, students=2, timeZone="Europe/Berlin", schedule=MON_WED))
    try:
        asleep = suspended_by(kube, name, "OutsideLectureHours")
        assert asleep["nextLecture"] == "2026-12-07T07:45:00Z"  # 08:45 in Berlin (UTC+1)
        ready = next(c for c in asleep["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "OutsideLectureHours")
        assert ready["message"].endswith("outside lecture hours, until 2026-12-07T07:45:00Z")
        assert node_replicas(kube, name) == [0, 0]
        # GitOps: a class asleep by its schedule is what was asked, not a failure.
        flux, argocd, _ = both(kube, kstatus_binary, name)
        assert flux.status == "Current", flux
        assert argocd.status == "Suspended", argocd
        before = credentials(kube, namespace)

        clock.set(berlin("2026-12-07 08:45"))  # the lead time: up before the students arrive
        clocked_operator.request(name)
        running = wait_ready(kube, name, 2)
        assert "suspendedBy" not in running["status"]
        assert "nextLecture" not in running["status"]
        assert credentials(kube, namespace) == before
        kube.create(counter(namespace))

        clock.set(berlin("2026-12-07 11:00"))  # the lecture is over: the student's Deployment stops too
        clocked_operator.request(name)
        assert suspended_by(kube, name, "OutsideLectureHours")["nextLecture"] == "2026-12-09T07:45:00Z"
        stopped = kube.get(DEPLOYMENT, "counter", namespace)
        assert stopped is not None
        assert stopped["spec"]["replicas"] == 0
        assert kube.get(CLAIM, "data-endpoint", namespace) is not None

        clock.set(berlin("2026-12-09 08:50"))  # Wednesday: all of it back
        clocked_operator.request(name)
        wait_ready(kube, name, 2)
        assert credentials(kube, namespace) == before
        back = eventually(
            lambda: (lambda d: d if d and d["spec"]["replicas"] == 2 else None)(
                kube.get(DEPLOYMENT, "counter", namespace)
            ),
            timeout=60,
            what="the student's Deployment given back its two replicas",
        )
        assert back["spec"]["replicas"] == 2
        reasons = event_reasons(kube, name)
        assert reasons.count("OutsideLectureHours") >= 2, reasons
        assert reasons.count("Resumed") >= 2, reasons
    finally:
        delete_class(kube, name)


def test_an_expiring_class_warns_is_suspended_and_is_deleted_after_its_grace_unless_renewed(
    kube: Kube, clocked_operator: EmbeddedOperator, clock: VirtualClock
) -> None:
    name = unique("term")
    namespace = f"{name}-student-001"
    clock.set(dt.datetime(2027, 1, 20, 12, tzinfo=dt.UTC))
    kube.apply(class_body(name, students=1, expires="2027-01-31", expiryGracePeriod="2d"))
    running = wait_ready(kube, name, 1)["status"]
    assert (running["expires"], running["deletesAt"]) == ("2027-02-01T00:00:00Z", "2027-02-03T00:00:00Z")
    expiring = next(c for c in running["conditions"] if c["type"] == "Expiring")
    assert expiring["status"] == "False"
    before = credentials(kube, namespace)

    clock.set(dt.datetime(2027, 1, 30, 12, tzinfo=dt.UTC))  # two days before: a warning, still running
    clocked_operator.request(name)

    def warned() -> dict[str, Any] | None:
        now = status(kube, name)
        condition: dict[str, Any] = next((c for c in now.get("conditions", []) if c["type"] == "Expiring"), {})
        return condition if condition.get("status") == "True" else None

    warning = eventually(warned, timeout=60, what="the Expiring condition")
    assert warning["message"].startswith("expires at 2027-02-01T00:00:00Z (then suspended, deleted with every")
    assert status(kube, name)["phase"] == "Ready"
    eventually(lambda: "Expiring" in event_reasons(kube, name), timeout=30, what="an Expiring Event")

    clock.set(dt.datetime(2027, 2, 1, 0, 0, 5, tzinfo=dt.UTC))  # expired: suspended, nothing deleted yet
    clocked_operator.request(name)
    expired = suspended_by(kube, name, "Expired")
    ready = next(c for c in expired["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Expired"
    assert credentials(kube, namespace) == before

    # Renewed: a later date brings the class back, as it was.
    kube.apply(class_body(name, students=1, expires="2027-03-31", expiryGracePeriod="2d"))
    wait_ready(kube, name, 1)
    assert credentials(kube, namespace) == before

    clock.set(dt.datetime(2027, 4, 3, 0, 0, 5, tzinfo=dt.UTC))  # past the new date and its grace: gone
    clocked_operator.request(name)
    eventually(lambda: kube.get(CLASS, name) is None, timeout=60, what="the expired class deleted")
    eventually(lambda: kube.get(NAMESPACE, namespace) is None, timeout=120, what="its namespace deleted")
    assert "ExpiredClassDeleted" in event_reasons(kube, name)


def test_a_bad_time_zone_stalls_the_class_naming_the_field(kube: Kube, clocked_operator: EmbeddedOperator) -> None:
    name = unique("tz")
    kube.apply(class_body(name, students=1, timeZone="Mars/Olympus", schedule=MON_WED))
    try:
        stalled = eventually(
            lambda: next(
                (
                    c
                    for c in status(kube, name).get("conditions", [])
                    if c["type"] == "Stalled" and c["status"] == "True"
                ),
                None,
            ),
            timeout=60,
            what="the class Stalled",
        )
        assert stalled["reason"] == "InvalidSpec"
        assert "spec.timeZone: unknown time zone 'Mars/Olympus'" in stalled["message"]
        assert not kube.list(NAMESPACE, names.class_selector(name))  # nothing half-created
    finally:
        delete_class(kube, name)
