"""The dashboard's HTTP server: the page, the snapshot it is handed, and nothing for other names or paths."""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import threading
from collections.abc import Iterator

import pytest

from vwclass.cli.dashboard import server
from vwclass.cli.dashboard.server import DashboardServer


@pytest.fixture
def running() -> Iterator[tuple[DashboardServer, list[int]]]:
    calls: list[int] = []

    def snapshot() -> bytes:
        calls.append(1)
        return b'{"class":"physics","students":[]}'

    dashboard = DashboardServer(("127.0.0.1", 0), snapshot)
    thread = threading.Thread(target=dashboard.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield dashboard, calls
    dashboard.shutdown()
    dashboard.server_close()
    thread.join(5)


def get(
    dashboard: DashboardServer, path: str, host: str | None = None, method: str = "GET"
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
    headers = {"Host": host} if host is not None else {}
    connection.request(method, path, headers=headers)
    return connection.getresponse()


def test_the_page_is_served_with_its_hooks_and_only_its_own_script_allowed(
    running: tuple[DashboardServer, list[int]],
) -> None:
    dashboard, _ = running
    assert dashboard.url == f"http://127.0.0.1:{dashboard.port}/"
    answer = get(dashboard, "/")
    html = answer.read()
    assert answer.status == 200
    assert answer.getheader("Content-Type") == "text/html; charset=utf-8"
    assert html == server.page()
    text = html.decode()
    # The hooks a browser test finds a student's card by (set from the page's script).
    for hook in ('"health"', '"plot"', '"latest"', '"logs"', "dataset.student", '"/api/snapshot"'):
        assert hook in text, hook
    assert "innerHTML" not in text  # values go in as text only
    [script] = re.findall(r"<script>(.*?)</script>", text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = answer.getheader("Content-Security-Policy") or ""
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy


def test_the_snapshot_is_what_the_source_gives_at_each_request(running: tuple[DashboardServer, list[int]]) -> None:
    dashboard, calls = running
    for _ in range(2):
        answer = get(dashboard, "/api/snapshot?t=1")
        assert answer.status == 200
        assert answer.getheader("Content-Type") == "application/json"
        assert answer.getheader("Cache-Control") == "no-store"
        assert answer.read() == b'{"class":"physics","students":[]}'
    assert len(calls) == 2
    head = get(dashboard, "/api/snapshot", method="HEAD")
    assert head.status == 200
    assert head.read() == b""


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}"])
def test_local_names_of_the_server_are_answered(running: tuple[DashboardServer, list[int]], host: str) -> None:
    dashboard, _ = running
    assert get(dashboard, "/api/snapshot", host=host.format(port=dashboard.port)).status == 200


@pytest.mark.parametrize("host", ["evil.example:{port}", "localhost:1", "localhost", "", "[::1"])
def test_requests_for_other_names_are_refused(running: tuple[DashboardServer, list[int]], host: str) -> None:
    """A page elsewhere that points a name of its own at 127.0.0.1 reads nothing (DNS rebinding)."""
    dashboard, calls = running
    answer = get(dashboard, "/api/snapshot", host=host.format(port=dashboard.port))
    assert answer.status == 421
    assert b"students" not in answer.read()
    assert calls == []


def test_other_paths_are_not_found(running: tuple[DashboardServer, list[int]]) -> None:
    dashboard, _ = running
    for path in ("/api/other", "/../etc/passwd", "/page.html"):
        answer = get(dashboard, path)
        assert answer.status == 404
        answer.read()
    assert get(dashboard, "/healthz").status == 200


def test_a_server_on_every_address_answers_any_name() -> None:
    dashboard = DashboardServer(("0.0.0.0", 0), lambda: b"{}", html=b"<p>x</p>")
    try:
        assert dashboard.serves_host("teacher-laptop.local:1234")
        assert dashboard.url == f"http://127.0.0.1:{dashboard.port}/"
    finally:
        dashboard.server_close()


@pytest.mark.parametrize(
    ("address", "line"),
    [
        ("999.1.1.1", "--address 999.1.1.1: cannot listen there: "),
        ("192.0.2.1", "--address 192.0.2.1: cannot listen there: Cannot assign requested address"),
    ],
)
def test_an_address_it_cannot_listen_on_is_named(address: str, line: str) -> None:
    from vwclass.cli.commands.dashboard import listen_problem

    with pytest.raises(OSError, match=r"\[Errno") as error:
        DashboardServer((address, 0), lambda: b"{}", html=b"")
    assert listen_problem(address, 0, error.value).startswith(line)
