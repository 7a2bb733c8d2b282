"""`vwclass plugin` with each student's own kubeconfig on the real API server: what it creates, its errors,
and that one student can neither run nor see another's plugins. (Containers do not run on kwok nodes, so
no test here reads a plugin's log.)"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.integration.plugins.conftest import CLASS, PODS, A, B, Students, pointed_at
from tests.support.cli import Cli, one_line
from tests.support.kube import eventually
from vwclass.core import plugins, plugintemplate
from vwclass.kube.api import Kube
from vwclass.kube.resources import CONFIGMAP, DEPLOYMENT, JOB, POD

pytestmark = pytest.mark.cluster
IMAGE = "registry.example.org/me/hello:0.1.0"


def plugin_pods(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    return kube.list(POD, f"{plugins.SELECTOR},{plugins.TASK_LABEL}={name}", namespace)


def gone(kube: Kube, namespace: str, name: str) -> bool:
    return (
        not plugin_pods(kube, namespace, name)
        and kube.get(DEPLOYMENT, name, namespace) is None
        and kube.get(JOB, name, namespace) is None
        and kube.get(CONFIGMAP, plugins.code_configmap(name), namespace) is None
    )


def ps(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("plugin", "ps", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_a_deployed_plugin_pod_is_made_as_the_scheduler_makes_it(kube: Kube, students: Students) -> None:
    result = students.a("plugin", "deploy", "hello", IMAGE, "--", "--count", "3")
    assert result.exit_code == 0, result.output
    [pod] = eventually(lambda: plugin_pods(kube, A, "hello"), what="the plugin's pod")
    labels = pod["metadata"]["labels"]
    assert labels["role"] == "plugin"
    assert labels[plugins.TASK_LABEL] == "hello"
    assert labels[plugins.JOB_LABEL] == "Pluginctl"
    assert labels["app.kubernetes.io/name"] == "hello"
    assert labels["edu.sagecontinuum.org/student"] == "student-001"
    [init] = pod["spec"]["initContainers"]
    assert init["command"] == ["sh", "-c", plugins.REGISTER_COMMAND]
    assert 'redis-cli -h app-meta-cache SET "app-meta.$WAGGLE_APP_ID" "$APP_META"' in plugins.REGISTER_COMMAND
    app_meta = next(e["value"] for e in init["env"] if e["name"] == "APP_META")
    assert json.loads(app_meta) == {"host": "$(HOST)", "job": "Pluginctl", "task": "hello", "plugin": IMAGE}
    [container] = pod["spec"]["containers"]
    assert container["image"] == IMAGE
    assert container["args"] == ["--count", "3"]
    env = {e["name"]: e for e in container["env"]}
    assert env["WAGGLE_PLUGIN_PASSWORD"] == {
        "name": "WAGGLE_PLUGIN_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "waggle-credentials", "key": "plugin-password"}},
    }
    assert env["WAGGLE_APP_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert env["WAGGLE_PLUGIN_HOST"]["value"] == "rabbitmq"
    assert env["WAGGLE_PLUGIN_UPLOAD_PATH"]["value"] == "/run/waggle/uploads"
    # Admitted by the namespace's Pod Security level and its LimitRange, unchanged.
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"}

    def running() -> bool:
        return bool((kube.get(POD, pod["metadata"]["name"], A) or {}).get("status", {}).get("phase") == "Running")

    eventually(running, what="the plugin's pod Running")

    [row] = ps(students.a)
    assert (row["name"], row["type"], row["image"], row["status"]) == ("hello", "deployment", IMAGE, "Running")

    result = students.a("plugin", "rm", "hello")
    assert result.exit_code == 0, result.output
    eventually(lambda: gone(kube, A, "hello"), what="the plugin gone")
    assert ps(students.a) == []


def test_a_folder_deployed_as_a_job_ships_as_a_configmap_owned_by_the_job(
    kube: Kube, students: Students, tmp_path: Path
) -> None:
    result = students.a("newplugin", "counter", "--out", str(tmp_path / "counter"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "counter").iterdir()) == sorted(plugintemplate.files("counter"))
    result = students.a("plugin", "deploy", "counter", "--dir", str(tmp_path / "counter"), "--type", "job")
    assert result.exit_code == 0, result.output
    job = kube.get(JOB, "counter", A)
    configmap = kube.get(CONFIGMAP, "plugin-counter", A)
    assert job is not None
    assert configmap is not None
    assert configmap["data"]["main.py"] == (tmp_path / "counter" / "main.py").read_text()
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    [pod] = eventually(lambda: plugin_pods(kube, A, "counter"), what="the job's pod")
    assert pod["spec"]["containers"][0]["command"] == list(plugins.DIR_COMMAND)
    [row] = ps(students.a)
    assert (row["name"], row["type"]) == ("counter", "job")
    assert row["image"].startswith("--dir (waggle/plugin-base")

    result = students.a("plugin", "rm", "counter")
    assert result.exit_code == 0, result.output
    eventually(lambda: gone(kube, A, "counter"), what="the job, its pod and its files gone")


@pytest.mark.parametrize("source", ["dir", "image"])
def test_run_removes_its_pod_and_files_however_it_ends(
    kube: Kube, students: Students, tmp_path: Path, source: str
) -> None:
    folder = tmp_path / "once"
    folder.mkdir()
    (folder / "main.py").write_text("print('hello')\n")
    what = ["--dir", str(folder)] if source == "dir" else [IMAGE]
    result = students.a("plugin", "run", "once", *what, "--", "--count", "1")
    # On kwok nothing runs and no log can be read (the API server answers 404): it fails in one line,
    # and leaves nothing behind (deleted on its way out; the pod goes once its grace period is over).
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    # Progress lines (`once: Pending`) may come first; the failure is the one error line, last.
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        result.stderr.splitlines()[-1]
    ]
    eventually(lambda: gone(kube, A, "once"), timeout=45, what="the run's pod and ConfigMap gone")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "Hello", IMAGE], "plugin name 'Hello' is not a DNS label"),
        (["deploy", "hello_1", IMAGE], "is not a DNS label"),
        (["deploy", "rabbitmq", IMAGE], "taken by your node's own rabbitmq"),
        (["deploy", "hello", "registry.example.org/me/hello 0.1"], "image reference"),
        (["deploy", "hello", "hello:1\nkind: Secret"], "image reference"),
        (["deploy", "hello"], "give the plugin's IMAGE, or --dir PATH"),
        (["deploy", "hello", IMAGE, "--type", "cron"], "--type cron: must be job or deployment"),
        (["run", "hello", "--dir", "/nonexistent/folder"], "no such folder"),
        (["logs", "nothing"], "no plugin nothing is running"),
        (["exec", "nothing", "--", "ls"], "no plugin nothing is running"),
        (["rm", "nothing"], "no plugin nothing in"),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(
    kube: Kube, students: Students, args: list[str], message: str
) -> None:
    result = students.a("plugin", *args)
    assert result.exit_code == 2, result.output
    assert message in one_line(result.stderr)
    assert ps(students.a) == []


def test_a_folder_without_main_py_or_too_large_is_refused(kube: Kube, students: Students, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "app.py").write_text("")
    result = students.a("plugin", "run", "x", "--dir", str(empty))
    assert result.exit_code == 2
    assert "has no main.py" in one_line(result.stderr)
    big = tmp_path / "big"
    big.mkdir()
    (big / "main.py").write_text("")
    (big / "data.csv").write_bytes(b"1," * 600_000)
    result = students.a("plugin", "deploy", "x", "--dir", str(big))
    assert result.exit_code == 2
    assert "is too large" in one_line(result.stderr)
    assert gone(kube, A, "x")


def test_a_name_already_running_and_a_full_quota_are_refused(kube: Kube, students: Students) -> None:
    assert students.a("plugin", "deploy", "first", IMAGE).exit_code == 0
    again = students.a("plugin", "deploy", "first", IMAGE)
    assert again.exit_code == 2
    assert "a plugin named first is already running here (Deployment" in one_line(again.stderr)
    eventually(lambda: plugin_pods(kube, A, "first"), what="the first plugin's pod")
    # The quota leaves room for one plugin pod: the second is refused before anything is created.
    full = students.a("plugin", "run", "second", IMAGE)
    assert full.exit_code == 1
    assert one_line(full.stderr).startswith(f"error: quota exceeded: pods {PODS} of {PODS} used")
    assert gone(kube, A, "second")
    assert students.a("plugin", "rm", "first").exit_code == 0
    eventually(lambda: gone(kube, A, "first"), what="the first plugin gone")


def test_a_plugin_of_the_same_name_still_stopping_is_waited_for(kube: Kube, students: Students) -> None:
    """The run just before (or one just removed) may still be stopping when a student types the same
    name again: the new one waits for it, instead of "already running"."""
    held = "example.org/hold"
    kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "again", "namespace": A, "finalizers": [held]},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "again"}},
                "template": {
                    "metadata": {"labels": {"app": "again"}},
                    "spec": {"containers": [{"name": "c", "image": IMAGE}]},
                },
            },
        }
    )
    kube.delete(DEPLOYMENT, "again", A)
    stopping = kube.get(DEPLOYMENT, "again", A)
    assert stopping is not None
    assert stopping["metadata"].get("deletionTimestamp")
    released = threading.Timer(
        3.0,
        lambda: kube.request(
            "PATCH",
            DEPLOYMENT.path(A, "again"),
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        ),
    )
    released.start()
    try:
        result = students.a("plugin", "deploy", "again", IMAGE)
    finally:
        released.join()
    assert result.exit_code == 0, result.output
    assert "waiting for the last again to stop" in result.stderr
    deployment = kube.get(DEPLOYMENT, "again", A)
    assert deployment is not None
    assert deployment["metadata"]["uid"] != stopping["metadata"]["uid"]
    assert students.a("plugin", "rm", "again").exit_code == 0
    eventually(lambda: gone(kube, A, "again"), what="the plugin gone")


def test_a_student_can_neither_run_nor_list_plugins_in_another_students_namespace(
    kube: Kube, students: Students, tmp_path: Path
) -> None:
    assert students.b("plugin", "deploy", "bees", IMAGE).exit_code == 0
    try:
        assert ps(students.a) == []  # A's own view never shows B's
        sneaky = Cli(pointed_at(students.a_kubeconfig, B, tmp_path / "sneaky.kubeconfig"))
        for args in (["deploy", "mine", IMAGE], ["ps"], ["rm", "bees"], ["logs", "bees"]):
            result = sneaky("plugin", *args)
            assert result.exit_code == 4, (args, result.output)
            assert one_line(result.stderr).startswith("error: permission denied")
        assert kube.get(DEPLOYMENT, "mine", B) is None
        assert kube.get(DEPLOYMENT, "bees", B) is not None

        # The teacher sees every student's plugins.
        rows = ps(students.teacher, "--class", CLASS)
        assert [(r["student"], r["name"], r["image"]) for r in rows] == [("student-002", "bees", IMAGE)]
    finally:
        assert students.b("plugin", "rm", "bees").exit_code == 0
        eventually(lambda: gone(kube, B, "bees"), what="B's plugin gone")


def test_a_kubeconfig_without_a_namespace_is_refused(students: Students, tmp_path: Path) -> None:
    result = students.teacher("plugin", "ps")
    assert result.exit_code == 2
    assert "names no namespace" in one_line(result.stderr)


def test_a_teacher_reads_a_students_plugin_by_class_and_student(students: Students) -> None:
    result = students.teacher("plugin", "logs", "nothing", "--class", CLASS, "--student", "student-001")
    assert result.exit_code == 2
    assert f"no plugin nothing is running in {A}" in one_line(result.stderr)
    result = students.teacher("plugin", "logs", "nothing", "--class", CLASS, "--student", "carol")
    assert result.exit_code == 2
    assert f"class '{CLASS}' has no student 'carol'" in one_line(result.stderr)
    result = students.teacher("plugin", "ps", "--class", "nosuchclass")
    assert result.exit_code == 2
    assert "there is no class 'nosuchclass'" in one_line(result.stderr)
