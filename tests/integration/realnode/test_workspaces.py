"""Students' browser workspaces on the real node, through the class's gateway, as the handout's links
reach them, by HTTP and in headless Chromium (Debian's; each step's screenshot kept in
artifacts/<test name>/):

- a student's link logs them in (a cookie for their path only) and opens their JupyterLab;
- no link, a classmate's link or cookie, a made-up token: refused, at the login and at every path;
- a classmate's pod cannot reach the workspace's port at all (the gateway alone may);
- in the workspace, `vwclass plugin run` works as is (the student's account, their namespace), and
  its value comes back through sage-data-client;
- in Chromium: student A opens their link, runs `vwclass newplugin` and `vwclass plugin run` in
  JupyterLab's terminal and reads the value back with sage-data-client in a notebook; student B, with
  their own link, cannot open A's workspace nor log in at A's path; the teacher's `vwclass dashboard`
  shows A's value on A's card.
"""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.browser import artifacts_fixture, chromium
from tests.support.dashboard import Dashboard
from tests.support.kube import eventually, unique
from tests.support.realnode import RealClass, Student, class_on_the_real_node, probe, stored
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode

artifacts = artifacts_fixture()


@pytest.fixture(scope="module")
def course(cluster: Cluster, teacher: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClass]:
    handout = tmp_path_factory.mktemp("handout") / "out"
    with class_on_the_real_node(teacher, cluster, unique("ws"), handout, students=2) as course:
        yield course


def link_of(student: Student) -> str:
    return student.kubeconfig.with_suffix(".link").read_text().strip()


class Browser:
    """An HTTP client that keeps cookies and does not follow redirects (each answer is looked at)."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect())

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode(errors="replace")


def base_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}"


def gateway_answers(link: str) -> None:
    """Until the gateway's Service routes (its pod Ready, then kube-proxy's next sync)."""

    def up() -> bool:
        try:
            return Browser().get(base_of(link) + "/healthz")[0] == 200
        except OSError:
            return False

    eventually(up, timeout=120, interval=2, what="the class gateway answering")


def test_a_students_link_opens_their_own_workspace_and_nothing_else(course: RealClass) -> None:
    a, b = course.students
    link_a, link_b = link_of(a), link_of(b)
    assert link_a.startswith("http://")
    assert f"/_login/{a.id}?token=" in link_a
    base = base_of(link_a)
    gateway_answers(link_a)
    started = time.monotonic()

    ada = Browser()
    status, headers, _ = ada.get(link_a)
    assert status == 302, status
    assert headers["Location"] == f"/{a.id}/lab"
    assert f"Path=/{a.id}/" in headers["Set-Cookie"]
    assert "HttpOnly" in headers["Set-Cookie"]
    assert "Max-Age=" in headers["Set-Cookie"]  # gone when the token expires

    def lab() -> str | None:
        status, _, body = ada.get(f"{base}/{a.id}/lab")
        return body if status == 200 else None

    page = eventually(lab, timeout=120, interval=2, what=f"{a.id}'s JupyterLab through the gateway")
    print(f"\n{a.id}'s JupyterLab answered {time.monotonic() - started:.1f}s after the login")
    assert "JupyterLab" in page
    status, _, body = ada.get(f"{base}/{a.id}/api/contents")
    assert status == 200
    assert json.loads(body)["type"] == "directory"
    # Signed in as A: B's workspace is still closed (A's cookie is for A's path; presented for B's, refused).
    assert ada.get(f"{base}/{b.id}/lab")[0] == 401
    token_a = link_a.split("token=", 1)[1]
    forged = {"Cookie": f"vwclass-{b.id}={token_a}"}
    assert Browser().get(f"{base}/{b.id}/api/contents", forged)[0] == 401
    # A's link used at B's login: refused, and no cookie set.
    status, headers, body = Browser().get(link_a.replace(f"/_login/{a.id}?", f"/_login/{b.id}?"))
    assert status == 401
    assert "Set-Cookie" not in headers
    assert "ask your teacher" in body
    # No link, a made-up token.
    assert Browser().get(f"{base}/{a.id}/lab")[0] == 401
    assert Browser().get(f"{base}/_login/{a.id}?token=made.up.token")[0] == 401
    # B's own link opens B's workspace.
    bea = Browser()
    assert bea.get(link_b)[0] == 302
    assert bea.get(f"{base}/{b.id}/api/contents")[0] == 200


def test_a_classmates_pod_cannot_reach_the_workspace_port(course: RealClass) -> None:
    a, b = course.students
    target = f"{names.WORKSPACE_SERVICE}.{a.namespace}.svc.cluster.local"
    own = probe(a, a.runner_pod(), "plugin-runner", [("own", target, names.WORKSPACE_PORT)])
    assert own["own"] == "connected", own  # it listens, and A's own pods reach it
    results = probe(b, b.runner_pod(), "plugin-runner", [("a-workspace", target, names.WORKSPACE_PORT)])
    assert results["a-workspace"] in ("refused", "timeout"), results  # the policy enforcer's reject or drop


def test_vwclass_plugin_runs_from_the_workspace_as_the_student(course: RealClass, tmp_path: Path) -> None:
    a = course.students[0]
    pod = a.runner_pod()
    # As a student types it in the workspace's terminal: no kubeconfig to pass, no namespace to name.
    script = (
        "set -e; cd /home/student; rm -rf ws-check; vwclass newplugin ws-check >/dev/null; "
        "sed -i 's/return round(random.uniform([^)]*), 2)/return 21.5/' ws-check/main.py; "
        "vwclass plugin run ws-check --dir ws-check -- --count 2 --interval 1"
    )
    started = time.monotonic()
    out = a.kubectl("exec", pod, "-c", "plugin-runner", "--", "bash", "-lc", script, timeout=400)
    print(f"\nvwclass plugin run from the workspace: {time.monotonic() - started:.1f}s\n{out[-400:]}")
    records = stored(a, "ws_check.value")
    assert any(r["value"] == 21.5 for r in records), records


# -- in the browser ----------------------------------------------------------------------------------
VALUE = 21.5
QUERY = """import os, sage_data_client
df = sage_data_client.query(endpoint=os.environ["SAGE_DATA_API"], start="-1h", filter={"name": "hello.value"})
print("stored:", sorted(set(df.value)), "from", sorted(set(df["meta.task"])))"""


def timed(what: str, started: float) -> float:
    took = time.monotonic() - started
    print(f"\n{what}: {took:.1f}s")
    return took


def test_a_student_runs_a_plugin_and_reads_its_value_in_the_browser_and_the_teacher_sees_it(
    course: RealClass, cluster: Cluster, artifacts: Path
) -> None:
    a, b = course.students
    link_a, link_b = link_of(a), link_of(b)
    base = link_a.split("/_login/", 1)[0]
    with chromium(artifacts) as browser:
        started = time.monotonic()
        browser.open(link_a)
        browser.wait_lab_ready(timeout=120)
        timed("student A's JupyterLab open in the browser", started)
        assert browser.driver.current_url == f"{base}/{a.id}/lab"  # the token left the address bar
        browser.screenshot("a-jupyterlab")

        browser.open_terminal()
        started = time.monotonic()
        browser.terminal_run(
            "vwclass newplugin hello && sed -i 's/return round(random.uniform([^)]*), 2)/return 21.5/' hello/main.py",
            expect="hello",
        )
        browser.terminal_run(
            "vwclass plugin run hello --dir hello -- --count 3 --interval 1",
            expect=f"published hello.value = {VALUE}",
            timeout=240,
        )
        timed("vwclass plugin run typed in the workspace's terminal, its value published", started)
        browser.screenshot("a-terminal-plugin-run")

        browser.new_notebook()
        started = time.monotonic()
        output = browser.run_cell(QUERY, expect=f"stored: [{VALUE}]", timeout=180)
        timed("sage-data-client in a notebook, the value read back", started)
        assert "from ['hello']" in output, output
        browser.screenshot("a-notebook-query")

    with chromium(artifacts) as browser:
        browser.open(link_b)
        browser.wait_lab_ready(timeout=120)
        browser.screenshot("b-own-jupyterlab")
        # Logged in as B, A's workspace is closed to them: at its pages and at A's login with B's token.
        browser.open(f"{base}/{a.id}/lab")
        browser.wait_text("body", "This link is not valid")
        browser.screenshot("b-refused-at-a-workspace")
        browser.open(link_b.replace(f"/_login/{b.id}?", f"/_login/{a.id}?"))
        browser.wait_text("body", "This link is not valid")
        browser.screenshot("b-token-refused-at-a-login")

    dashboard = Dashboard(cluster.kubeconfig, course.name, "--port", "0")
    try:
        with chromium(artifacts) as browser:
            started = time.monotonic()
            browser.open(dashboard.url)
            browser.wait_text(f'[data-student="{a.id}"] .latest', f"hello.value = {VALUE}", timeout=60)
            timed("the teacher's dashboard showing A's value", started)
            assert browser.text(f'[data-student="{a.id}"] .health') == "ready"
            assert "hello.value" not in browser.text(f'[data-student="{b.id}"] .latest')
            browser.screenshot("teacher-dashboard")
    finally:
        dashboard.interrupt()
