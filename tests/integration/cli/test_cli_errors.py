"""Bad input, an unreachable cluster and a user without permission: one line on stderr and the documented code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.cli import Cli, invoke, one_line, run_vwclass
from tests.support.kube import token_kubeconfig, unique
from vwclass.kube.api import Kube
from vwclass.kube.resources import NAMESPACE

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory, kubeconfig: Path) -> Path:
    """The test cluster's kubeconfig, pointed at a port where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path_factory.mktemp("unreachable") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def roster_with_duplicates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("roster") / "students.csv"
    path.write_text("id,name\nada,Ada Lovelace\nalan,Alan Turing\nada,Ada again\n")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("status", "physics"),
        ("scale", "physics", "--students", "3"),
        ("delete", "physics", "--yes"),
        ("install",),
    ],
)
def test_an_unreachable_cluster_is_exit_3_naming_it(cli: Cli, unreachable: Path, args: tuple[str, ...]) -> None:
    server = yaml.safe_load(unreachable.read_text())["clusters"][0]["cluster"]["server"]
    result = cli(*args, kubeconfig=unreachable)
    assert result.exit_code == 3, result.output
    assert one_line(result.stderr) == f"error: cannot reach the cluster at {server}: connection refused\n"
    assert result.stdout == ""


def test_doctor_on_an_unreachable_cluster_fails_its_first_check(cli: Cli, unreachable: Path) -> None:
    result = cli("doctor", "-o", "json", kubeconfig=unreachable)
    assert result.exit_code == 3
    import json

    checks = json.loads(result.stdout)
    assert [(c["name"], c["state"]) for c in checks] == [("cluster reachable", "failed")]
    assert "connection refused" in checks[0]["detail"]


def test_no_kubeconfig_or_no_context_is_exit_3(cli: Cli, tmp_path: Path, kubeconfig: Path) -> None:
    missing = cli("list", kubeconfig=tmp_path / "nowhere")
    assert missing.exit_code == 3
    assert one_line(missing.stderr) == f"error: kubeconfig {tmp_path / 'nowhere'} does not exist\n"
    context = invoke("--kubeconfig", str(kubeconfig), "--context", "no-such-context", "list")
    assert context.exit_code == 3
    assert "no usable kubeconfig" in one_line(context.stderr)
    assert "no-such-context" in context.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ("create", "Physics!", "--students", "3"),
            "invalid class 'Physics!': NAME: metadata.name: 'Physics!' is not a valid name",
        ),
        (("create", "physics", "--students", "0"), "--students: spec.students: 0 is less than the minimum of 1"),
        (
            ("create", "physics", "--students", "501"),
            "--students: spec.students: 501 is greater than the maximum of 500",
        ),
        (("create", "physics"), "--students/--roster: spec: set exactly one of spec.students"),
        (
            ("create", "physics", "--students", "3", "--image", "gpu=nvidia/cuda:12"),
            "--image: unknown component 'gpu'; components are rabbitmq, plugin-runner, workspace, gateway, ",
        ),
        (
            ("create", "physics", "--students", "3", "--image", "plugin-runner=bad image"),
            "--image: spec.images.pluginRunner",
        ),
        (
            ("create", "physics", "--students", "3", "--preset", "huge"),
            "--preset: spec.resources.preset: 'huge' is not one of",
        ),
        (("create", "physics", "--students", "3", "--pod-security", "privileged"), "--pod-security: spec.podSecurity"),
        (("create", "physics", "--students", "3", "--timeout", "soon"), "--timeout 'soon' is not a duration"),
        (("scale", "physics", "--students", "0"), "--students 0: spec.students: 0 is less than the minimum of 1"),
        (("credentials", "physics", "--out", "x", "--duration", "5m"), "--duration 5m: must be between 10m"),
        (("credentials", "physics", "--out", "x", "--duration", "30d"), "--duration 30d: must be between 10m"),
        (
            ("create", "physics", "--roster", "no-such-file.csv"),
            "cannot read roster no-such-file.csv: No such file or directory",
        ),
    ],
)
def test_bad_input_is_exit_2_before_any_request(
    cli: Cli, unreachable: Path, args: tuple[str, ...], fragment: str
) -> None:
    # Against an unreachable cluster: a 2 (not a 3) proves the input was refused before any request.
    result = cli(*args, kubeconfig=unreachable)
    assert result.exit_code == 2, result.output
    assert fragment in one_line(result.stderr), result.stderr
    assert result.stdout == ""


def test_a_roster_with_duplicates_names_the_line(cli: Cli, unreachable: Path, roster_with_duplicates: Path) -> None:
    result = cli("create", "physics", "--roster", str(roster_with_duplicates), kubeconfig=unreachable)
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        "error: invalid class 'physics': roster students.csv line 4 (id 'ada'): duplicate entry (id='ada')\n"
    )


def test_usage_errors_are_one_line_and_exit_2(cli: Cli) -> None:
    missing = invoke("create", "--students", "3")
    assert missing.exit_code == 2
    assert one_line(missing.stderr) == "error: Missing argument 'NAME'. (see `vwclass create --help`)\n"
    bad_format = invoke("list", "-o", "xml")
    assert bad_format.exit_code == 2
    assert "'xml' is not one of" in one_line(bad_format.stderr)
    unknown = invoke("enrol")
    assert unknown.exit_code == 2
    assert "No such command 'enrol'" in one_line(unknown.stderr)


def test_the_installed_script_reports_the_same_way(unreachable: Path) -> None:
    result = run_vwclass("--kubeconfig", str(unreachable), "list")
    assert result.returncode == 3
    assert one_line(result.stderr).startswith("error: cannot reach the cluster at https://127.0.0.1:")
    bad = run_vwclass("--kubeconfig", str(unreachable), "create", "x", "--students", "-1")
    assert bad.returncode == 2
    assert "minimum of 1" in one_line(bad.stderr)


@pytest.fixture(scope="module")
def nobody(cli_kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig for a ServiceAccount that nobody granted anything."""
    namespace = unique("cli-nobody")
    cli_kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cli_kube.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody", "namespace": namespace}}
    )
    yield token_kubeconfig(cli_kube, namespace, "nobody", tmp_path_factory.mktemp("nobody") / "kubeconfig")
    cli_kube.delete(NAMESPACE, namespace)


@pytest.mark.parametrize(
    ("args", "verb"),
    [
        (("list",), "list"),
        (("create", "denied", "--students", "1"), "create"),
        (("status", "denied"), "get"),
        (("suspend", "denied"), "get"),
    ],
)
def test_a_user_without_permission_is_told_which_verb_was_denied(
    cli: Cli, nobody: Path, args: tuple[str, ...], verb: str
) -> None:
    result = cli(*args, kubeconfig=nobody)
    assert result.exit_code == 4, result.output
    line = one_line(result.stderr)
    assert line.startswith("error: permission denied: ")
    assert f'cannot {verb} resource "virtualwaggleclasses" in API group "edu.sagecontinuum.org"' in line
    assert "system:serviceaccount:cli-nobody-" in line


def test_credentials_need_permission_to_read_the_class(cli: Cli, nobody: Path, tmp_path: Path) -> None:
    result = cli("credentials", "denied", "--out", str(tmp_path / "out"), kubeconfig=nobody)
    assert result.exit_code == 4
    assert 'cannot get resource "virtualwaggleclasses"' in one_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_status_of_a_missing_class_is_exit_2(cli: Cli) -> None:
    for args in (
        ("status", "no-such-class"),
        ("scale", "no-such-class", "-n", "2"),
        ("resume", "no-such-class"),
        ("delete", "no-such-class", "--yes"),
        ("credentials", "no-such-class", "--out", "/tmp/x"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert one_line(result.stderr) == "error: there is no class 'no-such-class' (see `vwclass list`)\n"
