"""Hostile and bad input through the teacher's CLI: refused with one line naming the field, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from vwclass.cli.app import app
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, NAMESPACE

pytestmark = pytest.mark.cluster


def roster(*rows: str) -> str:
    return "id,name\n" + "".join(row + "\n" for row in rows)


# (case id, CLI arguments after `create hostile`, roster CSV or None, what the one error line must name)
CASES: list[tuple[str, list[str], str | None, str]] = [
    ("zero", ["--students", "0"], None, "spec.students"),
    ("too-many", ["--students", "501"], None, "spec.students"),
    ("negative", ["--students", "-3"], None, "students"),
    ("not-a-number", ["--students", "thirty"], None, "students"),
    ("neither", [], None, "spec.students"),
    ("both", ["--students", "3"], roster("ann,Ann"), "spec.students"),
    ("duplicate-ids", [], roster("ann,Ann", "bob,Bob", "ann,Ann again"), "duplicate"),
    ("uppercase-id", [], roster("Ann,Ann"), "id"),
    ("underscore-id", [], roster("ann_1,Ann"), "id"),
    ("dash-id", [], roster("-ann,Ann"), "id"),
    ("long-id", [], roster("a" * 63 + ",Long"), "longer than 62 characters"),
    ("empty-roster", [], "id,name\n", "roster"),
    ("huge-roster", [], roster(*[f"s{i},S" for i in range(501)]), "roster"),
    ("no-id-column", [], "name\nAnn\n", "id"),
    ("yaml-in-name", [], 'id,name\nann,"Ann\n  students: 500"\n', "name"),
    ("json-in-name", [], 'id,name\nann,"\u0000""}, {""id"": ""x"\n', "name"),
    ("long-name", [], roster("ann," + "n" * 129), "name"),
    ("image-space", ["--students", "2", "--image", "rabbitmq=rabbitmq 4"], None, "spec.images.rabbitmq"),
    (
        "image-newline",
        ["--students", "2", "--image", "plugin-runner=waggle/x:1\nkind: Secret"],
        None,
        "spec.images.pluginRunner",
    ),
    (
        "image-control",
        ["--students", "2", "--image", "data-endpoint=vwclass:0.1\u0007"],
        None,
        "spec.images.dataEndpoint",
    ),
    ("image-unknown", ["--students", "2", "--image", "gpu=nvidia/cuda:12"], None, "unknown component"),
    ("image-no-equals", ["--students", "2", "--image", "rabbitmq"], None, "--image"),
    ("preset", ["--students", "2", "--preset", "huge"], None, "spec.resources.preset"),
    ("pod-security", ["--students", "2", "--pod-security", "privileged"], None, "spec.podSecurity"),
    ("prefix", ["--students", "2", "--namespace-prefix", "Bad_Prefix"], None, "spec.namespacePrefix"),
    ("long-prefix", ["--students", "2", "--namespace-prefix", "p" * 52], None, "spec.namespacePrefix"),
    ("timeout", ["--students", "2", "--wait", "--timeout", "soon"], None, "--timeout"),
    ("node-selector", ["--students", "2", "--node-selector", "pool"], None, "--node-selector"),
    ("toleration-effect", ["--students", "2", "--toleration", "gpu:Sometimes"], None, "--toleration"),
    ("schedule-day", ["--students", "2", "--schedule", "Caturday 09:00-11:00"], None, "--schedule"),
    ("schedule-yaml", ["--students", "2", "--schedule", "Mon 09:00-11:00\nsuspended: true"], None, "--schedule"),
    ("schedule-backwards", ["--students", "2", "--schedule", "Mon 11:00-09:00"], None, "spec.schedule.lectures"),
    (
        "time-zone-path",
        ["--students", "2", "--schedule", "Mon 09:00-11:00", "--time-zone", "../../etc/passwd"],
        None,
        "spec.timeZone",
    ),
    (
        "lead-time",
        ["--students", "2", "--schedule", "Mon 09:00-11:00", "--lead-time", "-5m"],
        None,
        "spec.schedule.leadTime",
    ),
    ("expires-words", ["--students", "2", "--expires", "tomorrow; rm -rf /"], None, "spec.expires"),
    ("expires-impossible", ["--students", "2", "--expires", "2027-02-30"], None, "spec.expires"),
    (
        "expiry-grace",
        ["--students", "2", "--expires", "2027-01-31", "--expiry-grace", "forever"],
        None,
        "spec.expiryGracePeriod",
    ),
    ("idle-timeout", ["--students", "2", "--idle-timeout", "1s\nsuspended: true"], None, "spec.idleTimeout"),
]


@pytest.mark.parametrize(("case", "args", "csv", "field"), CASES, ids=[c[0] for c in CASES])
def test_the_cli_refuses_bad_classes_with_one_line_naming_the_field(
    kubeconfig: Path, kube: Kube, tmp_path: Path, case: str, args: list[str], csv: str | None, field: str
) -> None:
    if csv is not None:
        path = tmp_path / "students.csv"
        path.write_text(csv)
        args = [*args, "--roster", str(path)]
    result = CliRunner().invoke(app, ["--kubeconfig", str(kubeconfig), "create", "hostile", *args], prog_name="vwclass")
    assert result.exit_code == 2, result.output
    # The CLI leaves through SystemExit(2); anything else escaped it as an uncaught error.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output, result.output
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert field in lines[0], lines[0]
    assert kube.get(CLASS, "hostile") is None
    assert not kube.list(NAMESPACE, "edu.sagecontinuum.org/class=hostile")


def _value_options_of_create() -> set[str]:
    """The long names of every `vwclass create` option that takes a value (flags cannot be hostile text)."""
    # The app is a group, but get_command is typed as returning any click Command.
    create = typer.main.get_command(app).commands["create"]  # type: ignore[attr-defined]
    names: set[str] = set()
    for param in create.params:
        if param.param_type_name == "option" and not param.is_flag:
            names.update(opt for opt in param.opts if opt.startswith("--"))
    return names


def test_at_least_25_distinct_hostile_inputs_cover_every_option_of_create_that_takes_a_value() -> None:
    ids = [case for case, *_ in CASES]
    assert len(set(ids)) == len(ids), "case ids repeat"
    inputs = [(tuple(args), csv) for _, args, csv, _ in CASES]
    assert len(set(inputs)) == len(inputs), "two cases send the same input"
    assert len(CASES) >= 25
    used = {arg for _, args, _, _ in CASES for arg in args if arg.startswith("--")}
    used |= {"--roster"} if any(csv is not None for _, _, csv, _ in CASES) else set()
    options = _value_options_of_create()
    assert {"--students", "--roster", "--image", "--preset"} <= options, options
    assert options - used == set(), "options of `vwclass create` no hostile case tries"
