"""The CLI's small pure parts: durations, ages, errors to exit codes, status rows, student handouts."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from vwclass.cli import access, durations, errors, output, studentview
from vwclass.cli.errors import CliError, Exit
from vwclass.core import render, status
from vwclass.core.schema import InvalidClass, Problem
from vwclass.core.spec import parse_class

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8h", 28800),
        ("10m", 600),
        ("1h30m", 5400),
        ("90s", 90),
        ("2d", 172800),
        ("600", 600),
        ("1.5h", 5400),
        (" 2H ", 7200),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert durations.parse(text, "--duration") == seconds


@pytest.mark.parametrize("text", ["", "soon", "8 hours", "h", "-5m", "10x"])
def test_bad_durations_are_exit_2(text: str) -> None:
    with pytest.raises(CliError) as raised:
        durations.parse(text, "--timeout")
    assert raised.value.code == Exit.BAD_INPUT
    assert raised.value.message.startswith(f"--timeout {text!r} is not a duration")


def test_durations_shown() -> None:
    assert [durations.show(s) for s in (0, 45, 600, 5400, 90, 86400 + 60)] == [
        "0s",
        "45s",
        "10m",
        "1h30m",
        "1m30s",
        "1d1m",
    ]


def test_ages_like_kubectl() -> None:
    now = datetime.datetime(2026, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)
    ago = {
        "2026-01-10T11:59:15Z": "45s",
        "2026-01-10T11:48:00Z": "12m",
        "2026-01-10T09:00:00Z": "3h",
        "2026-01-05T12:00:00Z": "5d",
        "garbage": "-",
    }
    assert {stamp: output.age(stamp, now) for stamp in ago} == ago


@pytest.mark.parametrize(
    ("status", "message", "code", "line"),
    [
        (
            0,
            "HTTPSConnectionPool(host='h', port=1): Max retries exceeded (Caused by NewConnectionError("
            "'<x>: Failed to establish a new connection: [Errno 111] Connection refused'))",
            Exit.UNREACHABLE,
            "cannot reach the cluster at https://h:1: connection refused",
        ),
        (
            0,
            "Read timed out. (read timeout=30)",
            Exit.UNREACHABLE,
            "cannot reach the cluster at https://h:1: timed out",
        ),
        (
            403,
            'namespaces is forbidden: User "u" cannot list resource "namespaces"',
            Exit.FORBIDDEN,
            'permission denied: namespaces is forbidden: User "u" cannot list resource "namespaces"',
        ),
        (
            403,
            'serviceaccounts "x" is forbidden: unable to create new content in namespace vwclass-system because it is '
            "being terminated",
            Exit.FAILED,
            'serviceaccounts "x" is forbidden: unable to create new content in namespace '
            "vwclass-system because it is being terminated: try again once it is gone",
        ),
        (
            401,
            "Unauthorized",
            Exit.FORBIDDEN,
            "the cluster refused your credentials (401 Unauthorized): check your kubeconfig; a token may have expired",
        ),
        (404, "b'404 page not found\\n'", Exit.UNREACHABLE, errors.NOT_INSTALLED),
        (
            422,
            "spec.students: Invalid value",
            Exit.BAD_INPUT,
            "the API server refused the request: spec.students: Invalid value",
        ),
        (
            500,
            "etcdserver: request timed out",
            Exit.FAILED,
            "the API server answered 500 Unauthorized: etcdserver: request timed out",
        ),
    ],
)
def test_api_errors_become_one_line_and_a_code(status: int, message: str, code: Exit, line: str) -> None:
    error = errors.from_api_error(status, "Unauthorized", message, "https://h:1")
    assert (error.code, error.message) == (code, line)


def test_describe_knows_only_what_it_can_explain() -> None:
    assert errors.describe(ValueError("bug")) is None
    invalid = errors.describe(InvalidClass([Problem("spec.students", "too many")]))
    assert invalid is not None
    assert invalid.code == Exit.BAD_INPUT
    assert invalid.message == "invalid class: spec.students: too many"


def _class(**spec: Any) -> Any:
    return parse_class(render.class_manifest("geo", spec))


def _workload(name: str, kind: str = "Deployment", ready: int = 1, replicas: int = 1) -> Obj:
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": "geo-student-001", "generation": 1},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
            "availableReplicas": ready,
        },
    }


def _container(name: str, waiting: str = "", restarts: int = 0, ready: bool = True) -> Obj:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"name": name, "state": state, "restartCount": restarts, "ready": ready and not waiting}


def _node_pod(sidecars: list[Obj], containers: list[Obj]) -> Obj:
    return {
        "metadata": {"namespace": "geo-student-001", "labels": {"app.kubernetes.io/name": "node"}},
        "status": {"initContainerStatuses": sidecars, "containerStatuses": containers},
    }


def test_status_rows_show_each_component_and_why() -> None:
    cls = _class(students=2, components={"dataSharingService": False})
    components = ["rabbitmq", "data-endpoint", "plugin-runner"]
    namespace = {"metadata": {"name": "geo-student-001", "labels": {"edu.sagecontinuum.org/class": "geo"}}}
    node = _workload("node", "StatefulSet", ready=0)
    pod = _node_pod(
        [_container("rabbitmq", restarts=2)],
        [_container("data-endpoint"), _container("plugin-runner", "ImagePullBackOff", restarts=1)],
    )
    plugin = {"metadata": {"namespace": "geo-student-001", "labels": {"app.kubernetes.io/name": "my-plugin"}}}
    body = {"status": {"notReady": [{"student": "student-002", "reason": "node: not created yet"}]}}
    first, second = studentview.student_rows(cls, components, body, [namespace], [node], [plugin, pod])
    assert first == studentview.StudentRow(
        "student-001",
        "",
        "geo-student-001",
        False,
        {"rabbitmq": "ready", "data-endpoint": "ready", "plugin-runner": "ImagePullBackOff"},
        3,
        "plugin-runner: ImagePullBackOff",
    )
    assert second == studentview.StudentRow(
        "student-002", "", "geo-student-002", False, dict.fromkeys(components, "-"), 0, "node: not created yet"
    )


def test_a_component_not_ready_yet_is_named_from_its_container() -> None:
    node = _workload("node", "StatefulSet", ready=0)
    pod = _node_pod([_container("rabbitmq", ready=False)], [_container("data-endpoint", ready=False)])
    assert studentview.component_state("rabbitmq", node, [pod], 1) == "running, not ready yet"
    assert studentview.component_state("plugin-runner", node, [pod], 1) == "starting"
    state = status.student_state("s", node, ["rabbitmq", "data-endpoint"], [pod], 1)
    assert (state.ready, state.reason) == (False, "rabbitmq: running, not ready yet")


def test_suspended_and_missing_components() -> None:
    assert studentview.component_state("rabbitmq", None, [], 1) == "missing"
    assert studentview.component_state("rabbitmq", _workload("node", "StatefulSet", 0, 0), [], 0) == "suspended"
    assert studentview.component_state("rabbitmq", _workload("node", "StatefulSet", 0), [], 1) == "starting"


def test_a_student_kubeconfig_and_note() -> None:
    cluster = access.Cluster("https://k8s.school:6443", b"-----BEGIN CERTIFICATE-----\n")
    config = access.kubeconfig(cluster, "geo", "ada", "geo-ada", "TOKEN")
    assert config["clusters"] == [
        {
            "name": "geo",
            "cluster": {
                "server": "https://k8s.school:6443",
                "certificate-authority-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode(),
            },
        }
    ]
    assert config["users"] == [{"name": "geo-ada", "user": {"token": "TOKEN"}}]
    assert config["contexts"][0]["context"] == {"cluster": "geo", "user": "geo-ada", "namespace": "geo-ada"}
    assert config["current-context"] == "geo-ada"
    insecure = access.kubeconfig(access.Cluster("https://x", None, insecure=True), "geo", "ada", "geo-ada", "T")
    assert insecure["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
    note = access.notes("geo", "ada", "Ada L", "geo-ada", "ada.kubeconfig", "2026-01-01T08:00:00Z", "PW", None)
    assert "port-forward svc/rabbitmq 5672:5672 15672:15672" in note
    assert "svc/data-endpoint 8080:80" in note
    assert "workspace" not in note
    assert "  password: PW\n" in note
    link = "http://gw:30080/_login/ada?token=T"
    assert f"\n  {link}\n" in access.notes("geo", "ada", "", "geo-ada", "a", "t", "PW", link)
