"""Lecture day on the real node, on the shared operator's virtual clock: the class's schedule suspends
a student's node after the lecture and brings it back before the next, its expiry suspends it, and a
renewal brings it back; through each, every stored record, the uploaded file and the credentials stay.
And one student at a time: `vwclass reset --keep-data` keeps their records and touches nobody else's
node; a node idle for the class's idleTimeout is suspended alone and comes back with every record."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, wait_ready
from tests.support.cli import Cli
from tests.support.clock import VirtualClock, poke
from tests.support.kube import eventually, unique
from tests.support.realnode import (
    ON_THE_REAL_NODE,
    Student,
    class_on_the_real_node,
    query_in_runner,
    stored,
    write_plugin,
)
from vwclass.core import lifecycle, names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode
SECRET = BY_KIND[("v1", "Secret")]
EVERY_DAY = {
    "leadTime": "15m",
    "lectures": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "start": "09:00", "end": "11:00"}],
}
SPEC: dict[str, Any] = {"timeZone": "UTC", "schedule": EVERY_DAY}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def shared_clock(clock: VirtualClock) -> Iterator[VirtualClock]:
    clock.set(utc("2026-12-07 10:00"))  # in the lecture
    try:
        yield clock
    finally:
        clock.reset()  # the other modules' classes run on real time


def suspended_by(teacher: Kube, name: str, why: str, student: Student) -> None:
    def check() -> bool | None:
        status = (teacher.get(CLASS, name) or {}).get("status", {})
        asleep = status.get("phase") == "Suspended" and status.get("suspendedBy") == why
        return (asleep and not student.node_pods()) or None

    eventually(check, timeout=180, interval=2, what=f"{name} suspended ({why}), its node's pod gone")


def test_schedule_and_expiry_suspend_the_node_and_lose_no_record_nor_credential(
    cluster: Cluster, teacher: Kube, shared_clock: VirtualClock, tmp_path: Path
) -> None:
    name = unique("lecture")
    with class_on_the_real_node(
        teacher, cluster, name, tmp_path / "handout", 1, expires="2026-12-10", **SPEC
    ) as course:
        [a] = course.students
        a.python_in_runner(
            "from pathlib import Path\nfrom waggle.plugin import Plugin\n"
            "p = Path.home() / 'notes.txt'\np.write_text('kept\\n')\n"
            "with Plugin() as plugin:\n"
            "    for i in range(3):\n        plugin.publish('lecture.count', i)\n"
            "    plugin.upload_file(str(p))\n"
        )
        stored(a, "lecture.count", count=3)
        stored(a, "upload")
        before = query_in_runner(a, {}, start="-24h")
        secret = teacher.get(SECRET, names.CREDENTIALS_SECRET, a.namespace)
        assert secret is not None

        def unchanged() -> None:
            """Every record is still served, and the credentials are those of before (the kubeconfig works:
            every query runs with it)."""

            def key(record: dict[str, Any]) -> tuple[str, str, str]:
                return (str(record["timestamp"]), str(record["name"]), json.dumps(record["value"]))

            def answering() -> list[dict[str, Any]] | None:
                found = query_in_runner(a, {}, start="-24h")
                return found if len(found) >= len(before) else None

            after = eventually(answering, timeout=180, interval=3, what="A's data API answering")
            assert not {key(r) for r in before} - {key(r) for r in after}
            now = teacher.get(SECRET, names.CREDENTIALS_SECRET, a.namespace)
            assert now is not None
            assert now["data"] == secret["data"]

        for step, (moment, why) in enumerate(
            [("2026-12-07 11:00", "OutsideLectureHours"), ("2026-12-11 10:00", "Expired")]
        ):
            started = time.monotonic()
            shared_clock.set(utc(moment))
            poke(teacher, name)
            suspended_by(teacher, name, why, a)
            print(f"\n{why}: node suspended {time.monotonic() - started:.1f}s after the clock's jump")
            started = time.monotonic()
            if step == 0:
                shared_clock.set(utc("2026-12-08 08:45"))  # the next day's lead time
                poke(teacher, name)
            else:  # renewed: a later end brings it back, in lecture hours
                teacher.apply(class_body(name, students=1, expires="2027-06-30", placement=ON_THE_REAL_NODE, **SPEC))
            wait_ready(teacher, name, students=1, timeout=300)
            a.runner_pod()
            unchanged()
            print(f"{why}: node back, every record and credential kept, {time.monotonic() - started:.1f}s after")


def test_reset_with_keep_data_gives_one_student_a_fresh_node_with_their_records_and_leaves_the_other(
    cluster: Cluster, teacher: Kube, tmp_path: Path
) -> None:
    name = unique("mend")
    with class_on_the_real_node(teacher, cluster, name, tmp_path / "handout", 2) as course:
        a, b = course.students
        a.python_in_runner(
            "from waggle.plugin import Plugin\nwith Plugin() as plugin:\n    plugin.publish('mend.before', 1)\n"
        )
        stored(a, "mend.before")
        a_pod, b_pod = a.node_pods()[0]["metadata"]["uid"], b.node_pods()[0]["metadata"]["uid"]
        secrets = {s.namespace: teacher.get(SECRET, names.CREDENTIALS_SECRET, s.namespace) for s in (a, b)}

        started = time.monotonic()
        result = Cli(cluster.kubeconfig)("reset", name, "--student", a.id, "--keep-data", "--yes", "--wait")
        assert result.exit_code == 0, result.output
        print(f"\nreset {a.id} --keep-data: a new node ready {time.monotonic() - started:.1f}s after")
        wait_ready(teacher, name, students=2, timeout=300)

        # A fresh node with new broker passwords, and every record of before.
        live = [p["metadata"]["uid"] for p in a.node_pods() if not p["metadata"].get("deletionTimestamp")]
        assert live
        assert a_pod not in live
        renewed = teacher.get(SECRET, names.CREDENTIALS_SECRET, a.namespace)
        assert renewed is not None
        assert renewed["data"] != (secrets[a.namespace] or {})["data"]
        eventually(
            lambda: query_in_runner(a, {"name": "mend.before"}, start="-24h") or None,
            timeout=180,
            interval=3,
            what="A's record of before the reset served by the new node",
        )
        # The new node takes messages with its new passwords (its runner has them), as before.
        a.python_in_runner(
            "from waggle.plugin import Plugin\nwith Plugin() as plugin:\n    plugin.publish('mend.after', 2)\n"
        )
        stored(a, "mend.after")
        # The classmate's node and credentials were not touched.
        assert b.node_pods()[0]["metadata"]["uid"] == b_pod
        untouched = teacher.get(SECRET, names.CREDENTIALS_SECRET, b.namespace)
        assert untouched is not None
        assert untouched["data"] == (secrets[b.namespace] or {})["data"]


def test_an_idle_node_is_suspended_alone_and_woken_with_every_record_and_credential(
    cluster: Cluster, teacher: Kube, shared_clock: VirtualClock, tmp_path: Path
) -> None:
    name = unique("idle")
    with class_on_the_real_node(teacher, cluster, name, tmp_path / "handout", 2, idleTimeout="30m") as course:
        a, b = course.students
        a.python_in_runner(
            "from waggle.plugin import Plugin\nwith Plugin() as plugin:\n"
            "    for i in range(3):\n        plugin.publish('idle.count', i)\n"
        )
        stored(a, "idle.count", count=3)
        before = query_in_runner(a, {}, start="-24h")
        secret = teacher.get(SECRET, names.CREDENTIALS_SECRET, a.namespace)
        assert secret is not None

        # The next day: nobody has done anything since (A's messages were stored a day ago).
        started = time.monotonic()
        shared_clock.set(utc("2026-12-08 10:00"))
        poke(teacher, name)
        eventually(
            lambda: not a.node_pods() and not b.node_pods(), timeout=180, interval=2, what="both nodes suspended idle"
        )
        print(f"\nidle: both nodes suspended {time.monotonic() - started:.1f}s after the clock's jump")
        idle = (teacher.get(CLASS, name) or {})["status"]
        assert idle["students"]["idle"] == 2, idle["students"]

        # The teacher wakes A (`vwclass resume --student`, its mark on A's namespace, at the operator's
        # clock, a day ahead of the CLI's); B stays at zero.
        started = time.monotonic()
        woken = {"metadata": {"annotations": {names.WOKEN_ANNOTATION: lifecycle.timestamp(shared_clock())}}}
        teacher.merge_patch(NAMESPACE, a.namespace, None, woken)
        a.runner_pod()
        print(f"idle: A's node back {time.monotonic() - started:.1f}s after the wake")
        assert not b.node_pods()

        def answering() -> list[dict[str, Any]] | None:
            found = query_in_runner(a, {}, start="-48h")
            return found if len(found) >= len(before) else None

        after = eventually(answering, timeout=180, interval=3, what="A's data API answering")
        assert {(r["timestamp"], r["name"]) for r in before} <= {(r["timestamp"], r["name"]) for r in after}
        now = teacher.get(SECRET, names.CREDENTIALS_SECRET, a.namespace)
        assert now is not None
        assert now["data"] == secret["data"]

        # B's next plugin wakes B's node: `vwclass plugin run` as B types it, its value stored.
        started = time.monotonic()
        write_plugin(b, tmp_path, "wake", 4.5)
        result = b.shell("vwclass plugin run wake --dir wake -- --count 1", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        stored(b, "wake.value")
        print(f"idle: B's node woken by B's plugin run, its value stored, {time.monotonic() - started:.1f}s after")
