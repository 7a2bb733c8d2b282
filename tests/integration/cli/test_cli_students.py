"""One student at a time through the CLI, with the operator running: `reset` (with and without
--keep-data) gives one student a fresh node and leaves the others as they were; `roster add|remove`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.support.cli import Cli, one_line
from tests.support.kube import eventually, unique
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, NAMESPACE

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]
SECRET = BY_KIND[("v1", "Secret")]
CLAIM = BY_KIND[("v1", "PersistentVolumeClaim")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]


def credentials(kube: Kube, namespace: str) -> dict[str, str]:
    secret = eventually(lambda: kube.get(SECRET, names.CREDENTIALS_SECRET, namespace), what="credentials")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def uid(kube: Kube, resource: object, name: str, namespace: str) -> str:
    found = kube.get(resource, name, namespace)  # type: ignore[arg-type]
    assert found is not None, (name, namespace)
    return str(found["metadata"]["uid"])


def test_reset_gives_one_student_a_fresh_node_and_leaves_the_others(cli: Cli, cli_kube: Kube) -> None:
    name = unique("mend")
    created = cli("create", name, "--students", "2", "--no-data-sharing-service", "--wait", "--timeout", "90s")
    assert created.exit_code == 0, created.output
    a, b = f"{name}-student-001", f"{name}-student-002"
    try:
        before = {ns: credentials(cli_kube, ns) for ns in (a, b)}
        claims = {ns: uid(cli_kube, CLAIM, "data-endpoint", ns) for ns in (a, b)}
        b_node = uid(cli_kube, STATEFULSET, names.NODE_WORKLOAD, b)

        kept = cli("reset", name, "--student", "student-001", "--keep-data", "--yes", "--wait", "--timeout", "90s")
        assert kept.exit_code == 0, kept.output
        assert kept.stdout.endswith("student-001's new node is ready\n")
        assert f"vwclass credentials {name} --student student-001" in kept.stderr
        assert credentials(cli_kube, a) != before[a]  # new broker credentials
        assert uid(cli_kube, CLAIM, "data-endpoint", a) == claims[a]  # the same claim: data kept

        fresh = cli("reset", name, "--student", "student-001", "--yes", "--wait", "--timeout", "90s")
        assert fresh.exit_code == 0, fresh.output
        assert "1 claim deleted" in fresh.stdout
        new_claim = eventually(lambda: cli_kube.get(CLAIM, "data-endpoint", a), what="the new claim")
        assert new_claim["metadata"]["uid"] != claims[a]

        # The other student: nothing of theirs was touched.
        assert credentials(cli_kube, b) == before[b]
        assert uid(cli_kube, CLAIM, "data-endpoint", b) == claims[b]
        assert uid(cli_kube, STATEFULSET, names.NODE_WORKLOAD, b) == b_node

        unknown = cli("reset", name, "--student", "student-009", "--yes")
        assert unknown.exit_code == 2
        assert one_line(unknown.stderr) == f"error: class {name!r} has no student 'student-009'\n"
        refused = cli("reset", name, "--student", "student-002", input="n\n")
        assert refused.exit_code == 1
        assert credentials(cli_kube, b) == before[b]
    finally:
        cli("delete", name, "--yes")


def test_roster_add_and_remove_named_students(cli: Cli, cli_kube: Kube, tmp_path: Path) -> None:
    name = unique("named")
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nann,Ann A.\nbob,Bob B.\n")
    created = cli("create", name, "--roster", str(roster), "--no-data-sharing-service")
    assert created.exit_code == 0, created.output
    try:
        more = tmp_path / "more.csv"
        more.write_text("id,name\ndee,Dee D.\nann,Ann A.\n")
        added = cli("roster", "add", name, "cara", "--csv", str(more))
        assert added.exit_code == 0, added.output
        assert added.stdout == f"class {name} has 4 students: added cara, dee\n"
        eventually(lambda: cli_kube.get(NAMESPACE, f"{name}-dee"), timeout=60, what="dee's namespace")

        kept = cli("roster", "remove", name, "bob", input="n\n")
        assert kept.exit_code == 1
        assert cli_kube.get(NAMESPACE, f"{name}-bob") is not None
        removed = cli("roster", "remove", name, "bob", "--yes")
        assert removed.exit_code == 0, removed.output
        assert removed.stdout == f"class {name} has 3 students: removed bob\n"

        def gone() -> bool:
            namespace = cli_kube.get(NAMESPACE, f"{name}-bob")
            return namespace is None or bool(namespace["metadata"].get("deletionTimestamp"))

        eventually(gone, timeout=60, what="bob's namespace deleted")
        assert cli_kube.get(NAMESPACE, f"{name}-ann") is not None

        nobody = cli("roster", "remove", name, "zed", "--yes")
        assert nobody.exit_code == 2
        assert one_line(nobody.stderr) == f"error: class {name!r} has no student 'zed'\n"
        numbered = unique("numbered")
        assert cli("create", numbered, "--students", "1").exit_code == 0
        try:
            wrong = cli("roster", "add", numbered, "eve")
            assert wrong.exit_code == 2
            assert "numbered students (spec.students), not a roster" in one_line(wrong.stderr)
        finally:
            cli("delete", numbered, "--yes")
    finally:
        cli("delete", name, "--yes")
