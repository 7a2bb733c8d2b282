"""`vwclass dashboard` on the real API server, run as the installed script: it prints its URL, serves the page
and a snapshot with every student's health as the cluster says, follows the class as it changes, shows a
node that does not answer on that student's card, and stops at Ctrl-C with exit code 0. (Containers do not
run on kwok nodes: tests/integration/realnode reads a plugin's published value on the page.)"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.cli import Cli, one_line
from tests.support.dashboard import Dashboard
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from tests.support.pods import student_pod
from vwclass.core import names, plugins
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS as CLASS_RESOURCE

pytestmark = pytest.mark.cluster
CLASS = "dash"
STUDENTS = ("student-001", "student-002", "student-003")


@pytest.fixture(scope="module")
def ready_class(cli_kube: Kube, operator: EmbeddedOperator) -> Iterator[str]:
    cli_kube.apply(class_body(CLASS, students=len(STUDENTS)))
    wait_ready(cli_kube, CLASS, len(STUDENTS))
    yield CLASS
    delete_class(cli_kube, CLASS)


def cards(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["id"]: card for card in document["students"]}


def test_an_unknown_class_is_one_line_and_exit_code_2(cli: Cli) -> None:
    result = cli("dashboard", "no-such-class")
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == "error: there is no class 'no-such-class' (see `vwclass list`)\n"
    assert result.stdout == ""


def test_a_port_in_use_is_one_line_and_exit_code_2(cli: Cli, ready_class: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("dashboard", ready_class, "--port", str(port))
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == (
        f"error: --port {port}: 127.0.0.1:{port} is in use: choose another port (--port 0 picks a free one)\n"
    )


def test_the_page_shows_every_student_as_the_cluster_does_and_follows_the_class_live(
    kubeconfig: Path, cli_kube: Kube, ready_class: str
) -> None:
    dashboard = Dashboard(kubeconfig, ready_class, "--port", "0")
    try:
        assert dashboard.line.startswith(f"dashboard of class {ready_class}: http://127.0.0.1:")
        status, content_type, html = dashboard.get("/")
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        assert "/api/snapshot" in html

        # Every student, ready as `vwclass status` says; the kwok nodes' endpoints do not answer, which
        # each card says once the first round of reads is done.
        def read_and_unreachable() -> dict[str, Any] | None:
            document = dashboard.snapshot()
            shown = cards(document)
            done = all(card["data"]["error"] for card in shown.values())
            return document if list(shown) == list(STUDENTS) and done else None

        document = eventually(read_and_unreachable, timeout=60, what="every student's data read")
        assert document["class"] == ready_class
        assert document["error"] == ""
        assert document["counts"] == {"ready": len(STUDENTS)}
        for card in document["students"]:
            assert card["health"] == "ready", card
            assert card["namespace"] == f"{ready_class}-{card['id']}"
            assert card["data"]["error"].startswith("unreachable ("), card
            assert card["data"]["series"] == {}
            assert card["plugin"] is None
            assert card["logs"] == {"text": "", "error": ""}

        # A student starts a plugin: their card names it (kwok runs no container, so its log is either
        # empty or says why it cannot be read; never a crash).
        namespace = f"{ready_class}-student-002"
        labels = {
            names.MANAGED_BY: plugins.MANAGER,
            names.CLASS_LABEL: ready_class,
            names.STUDENT_LABEL: "student-002",
            plugins.TASK_LABEL: "counter",
        }
        cli_kube.create(student_pod("counter", namespace, labels))

        def plugin_shown() -> dict[str, Any] | None:
            card = cards(dashboard.snapshot())["student-002"]
            return card if card["plugin"] and card["plugin"]["phase"] == "Running" else None

        card = eventually(plugin_shown, timeout=60, what="student-002's plugin on their card")
        assert card["plugin"]["name"] == "counter"
        assert card["health"] == "ready"
        # kwok serves no pod logs: the card says so (a kubelet would serve the pause container's empty log).
        deadline = time.monotonic() + 20
        while not (logs := cards(dashboard.snapshot())["student-002"]["logs"])["error"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert logs["error"].startswith("unreadable (") or logs == {"text": "", "error": ""}, logs

        # The teacher suspends the class: the page follows, without being restarted.
        cli_kube.merge_patch(CLASS_RESOURCE, ready_class, None, {"spec": {"suspended": True}})

        def all_suspended() -> dict[str, Any] | None:
            document = dashboard.snapshot()
            shown = cards(document).values()
            return document if all(c["health"] == "suspended" for c in shown) else None

        document = eventually(all_suspended, timeout=90, what="every card suspended")
        assert document["counts"] == {"suspended": len(STUDENTS)}
        eventually(
            lambda: all(c["data"]["error"] == "not read (node suspended)" for c in dashboard.snapshot()["students"]),
            timeout=30,
            what="no reads of suspended nodes",
        )
        # Nothing secret of the teacher's kubeconfig reaches the page.
        secret_words = ("token", "client-key", "client-certificate", "password", "BEGIN")
        raw = dashboard.get("/api/snapshot")[2]
        assert not [word for word in secret_words if word in raw]
    finally:
        code, stderr = dashboard.interrupt()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert stderr == "dashboard stopped\n"
