"""`vwclass data`, `collect` and `report` on the real API server: bad input is one line and a non-zero exit,
and nodes that do not answer are rows that say so, never a traceback. (Containers do not run on kwok
nodes: the real node's tests, tests/integration/realnode/test_teacher_commands.py, read real data.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.classes import class_body, delete_class
from tests.support.cli import Cli, one_line
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import NAMESPACE, POD

pytestmark = pytest.mark.cluster
CLASS = "teach"


@pytest.fixture(scope="module")
def suspended(cli_kube: Kube, operator: EmbeddedOperator) -> Iterator[str]:
    """A class of two whose nodes are suspended: its namespaces and Services exist, no node pod runs."""
    from vwclass.kube.resources import BY_KIND

    service = BY_KIND[("v1", "Service")]
    cli_kube.apply(class_body(CLASS, students=2, suspended=True))

    def namespaces_without_pods() -> bool:
        made = len(cli_kube.list(NAMESPACE, names.class_selector(CLASS))) == 2
        return made and all(
            cli_kube.get(POD, "node-0", f"{CLASS}-student-00{i}") is None
            and cli_kube.get(service, "data-endpoint", f"{CLASS}-student-00{i}") is not None
            for i in (1, 2)
        )

    eventually(namespaces_without_pods, timeout=90, what="the suspended class's namespaces")
    yield CLASS
    delete_class(cli_kube, CLASS)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("data", "nosuch"), "error: there is no class 'nosuch' (see `vwclass list`)\n"),
        (("report", "nosuch"), "error: there is no class 'nosuch' (see `vwclass list`)\n"),
        (("collect", "nosuch", "--out", "{tmp}/out"), "error: there is no class 'nosuch' (see `vwclass list`)\n"),
        (
            ("data", CLASS, "--since", "yesterday"),
            "error: --since 'yesterday': 'yesterday' is not a time: use RFC3339 like 2021-05-01T10:30:00Z "
            "or a relative time like -1h, -30m or -2d\n",
        ),
        (
            ("report", CLASS, "--since", "+1h"),
            "error: --since '+1h' is not in the past: use a relative time like -1h or an earlier date\n",
        ),
        (
            ("collect", CLASS, "--out", "{tmp}/out", "--since", "1h"),
            "error: --since '1h' is not in the past: use a relative time like -1h or an earlier date\n",
        ),
        (
            ("data", CLASS, "--name", "*.temperature"),
            "error: --name '*.temperature': invalid filter pattern '*.temperature': nothing to repeat before '*' "
            "(patterns are regular expressions, as on the real API: `.*` matches any text)\n",
        ),
        (("data", CLASS, "--format", "xml"), "error: --format xml: must be table, csv or ndjson\n"),
        (
            ("data", CLASS, "--student", "student-009"),
            f"error: --student student-009: class '{CLASS}' has no such student\n",
        ),
        (
            ("report", CLASS, "--student", "nobody"),
            f"error: --student nobody: class '{CLASS}' has no such student\n",
        ),
    ],
)
def test_bad_input_is_one_line_naming_it(
    cli: Cli, suspended: str, tmp_path: Path, args: tuple[str, ...], line: str
) -> None:
    result = cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == line
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_collect_refuses_an_out_it_cannot_use_and_leaves_nothing(cli: Cli, suspended: str, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "thesis.tex").write_text("mine")
    result = cli("collect", CLASS, "--out", str(full))
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == (
        f"error: --out {full} is not empty and is not a previous collect of class {CLASS}: "
        "choose a new or empty folder\n"
    )
    assert [p.name for p in full.iterdir()] == ["thesis.tex"]

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = cli("collect", CLASS, "--out", str(a_file))
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"error: --out {a_file}: is a file, not a folder\n"

    # Its parent is a file: nothing can be written there (root ignores permission bits, this it cannot).
    unwritable = a_file / "out"
    result = cli("collect", CLASS, "--out", str(unwritable))
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        f"error: --out {unwritable}: cannot write there: {a_file} is a file, not a folder\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "full"]


def test_students_whose_nodes_do_not_run_are_rows_that_say_so(cli: Cli, suspended: str, tmp_path: Path) -> None:
    result = cli("report", CLASS)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["STUDENT", "NODE", "QUEUES"]
    for student, line in zip(("student-001", "student-002"), lines[1:], strict=True):
        assert line.startswith(student)
        assert "NODE NOT READY: no node pod (suspended, or not created yet)" in line
    assert result.stderr == "0 of 2 students ok, 2 to look at\n"
    rows = json.loads(cli("report", CLASS, "-o", "json").stdout)
    assert [(r["student"], r["stored"], r["lastMessage"]) for r in rows] == [
        ("student-001", None, None),
        ("student-002", None, None),
    ]

    result = cli("data", CLASS)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "student-001: not read: its node is not running (suspended, not ready, or not created yet: `vwclass status`)",
        "student-002: not read: its node is not running (suspended, not ready, or not created yet: `vwclass status`)",
    ]


def test_collect_writes_a_manifest_even_of_nodes_that_do_not_answer_and_replaces_its_own_previous_collect(
    cli: Cli, suspended: str, tmp_path: Path
) -> None:
    out = tmp_path / "week3"
    result = cli("collect", CLASS, "--out", str(out), "--student", "student-001")
    assert result.exit_code == 1, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "vwclass-collect"
    assert manifest["class"] == CLASS
    assert manifest["students"]["student-001"]["error"].startswith("its node is not running")
    assert manifest["totals"] == {"students": 1, "records": 0, "files": 0, "failed": 1}
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "student-001"]

    # A previous collect of this class is replaced whole; no temporary folder is left beside it.
    result = cli("collect", CLASS, "--out", str(out))
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "student-001", "student-002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["week3"]

    # ... but not one of another class.
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["class"] = "other"
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = cli("collect", CLASS, "--out", str(out))
    assert result.exit_code == 2
    assert "is not a previous collect of class" in one_line(result.stderr)


def test_nodes_whose_pods_run_but_do_not_answer_are_rows_that_say_so(
    cli: Cli, cli_kube: Kube, operator: EmbeddedOperator
) -> None:
    """On kwok nodes the pods are Running and Ready, but nothing listens in them: every read fails."""
    from tests.support.classes import wait_ready

    name = "teach-kwok"
    cli_kube.apply(class_body(name, students=1))
    try:
        wait_ready(cli_kube, name, 1)
        started = time.monotonic()
        result = cli("report", name, "-o", "json")
        print(f"report of a kwok node: {time.monotonic() - started:.1f}s")
        assert result.exit_code == 0, result.output
        [row] = json.loads(result.stdout)
        assert row["node"] == "ready"
        assert row["state"].startswith("UNREACHABLE: data endpoint: "), row
        assert row["stored"] is None
        result = cli("data", name)
        assert result.exit_code == 1
        assert one_line(result.stderr).startswith("student-001: not read: ")
    finally:
        delete_class(cli_kube, name)


def test_a_student_cannot_read_the_class(cli: Cli, suspended: str, tmp_path: Path) -> None:
    """The commands are the teacher's: a student's kubeconfig may not read the class, let alone others' data."""
    result = cli("credentials", CLASS, "--out", str(tmp_path / "handout"), "--duration", "1h")
    assert result.exit_code == 0, result.output
    student = Cli(tmp_path / "handout" / "student-001.kubeconfig")
    for args in (("data", CLASS), ("report", CLASS), ("collect", CLASS, "--out", str(tmp_path / "out"))):
        result = student(*args)
        assert result.exit_code == 4, result.output
        assert one_line(result.stderr).startswith("error: permission denied: ")
        assert "virtualwaggleclasses" in result.stderr
    assert not (tmp_path / "out").exists()
