"""Building a class from `create`/`render` options: the CRD's schema decides, the CLI names the option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vwclass.cli import classopts
from vwclass.cli.classopts import ClassOptions
from vwclass.cli.errors import CliError


def build(name: str = "geo", **options: Any) -> dict[str, Any]:
    return classopts.build_class(name, ClassOptions(**options))


def refusal(name: str = "geo", **options: object) -> str:
    with pytest.raises(CliError) as raised:
        build(name, **options)
    assert raised.value.code == 2
    return raised.value.message


def test_only_what_was_given_is_written() -> None:
    assert build(students=3) == {
        "apiVersion": "edu.sagecontinuum.org/v1alpha1",
        "kind": "VirtualWaggleClass",
        "metadata": {"name": "geo"},
        "spec": {"students": 3},
    }


def test_every_option_lands_in_its_field() -> None:
    spec = build(
        students=2,
        preset="medium",
        images=["plugin-runner=me/runner:2", "rabbitmq=rabbitmq:4"],
        namespace_prefix="g",
        workspace=True,
        playback=False,
        data_sharing_service=False,
        pod_security="restricted",
        suspended=True,
    )["spec"]
    assert spec == {
        "students": 2,
        "namespacePrefix": "g",
        "images": {"pluginRunner": "me/runner:2", "rabbitmq": "rabbitmq:4"},
        "resources": {"preset": "medium"},
        "components": {"workspace": True, "playback": False, "dataSharingService": False},
        "suspended": True,
        "podSecurity": "restricted",
    }


def test_placement_options_become_the_placement_block() -> None:
    spec = build(
        students=1,
        node_selectors=["pool=gpu", "vwclass.testenv/real-node=true"],
        tolerations=["vwclass.testenv/real-node=true:NoSchedule", "dedicated:NoExecute", "k=:PreferNoSchedule"],
    )["spec"]
    assert spec["placement"] == {
        "nodeSelector": {"pool": "gpu", "vwclass.testenv/real-node": "true"},
        "tolerations": [
            {"key": "vwclass.testenv/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
            {"key": "k", "operator": "Equal", "value": "", "effect": "PreferNoSchedule"},
        ],
    }


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"node_selectors": ["pool"]}, "--node-selector 'pool': write KEY=VALUE"),
        ({"node_selectors": ["=gpu"]}, "--node-selector '=gpu': write KEY=VALUE"),
        ({"tolerations": ["dedicated"]}, "--toleration 'dedicated': write KEY[=VALUE]:EFFECT"),
        ({"tolerations": ["dedicated=x:"]}, "--toleration 'dedicated=x:': write KEY[=VALUE]:EFFECT"),
        ({"tolerations": [":NoSchedule"]}, "--toleration ':NoSchedule': write KEY[=VALUE]:EFFECT"),
        (
            {"tolerations": ["dedicated:Never"]},
            "--toleration: spec.placement.tolerations[0].effect: 'Never' is not one of",
        ),
    ],
)
def test_bad_placement_options(options: dict[str, object], fragment: str) -> None:
    assert fragment in refusal("geo", students=1, **options)


@pytest.mark.parametrize("spelling", ["dataEndpoint", "data-endpoint", "DATAENDPOINT", "dataendpoint"])
def test_components_are_accepted_in_camel_or_kebab_case(spelling: str) -> None:
    assert classopts.parse_images([f"{spelling}=x/y:1"]) == {"dataEndpoint": "x/y:1"}


def test_image_components_come_from_the_crd() -> None:
    assert classopts.image_keys() == [
        "rabbitmq",
        "pluginRunner",
        "workspace",
        "gateway",
        "dataSharingService",
        "appMetaCache",
        "dataEndpoint",
        "playbackServer",
    ]


@pytest.mark.parametrize(
    ("images", "fragment"),
    [
        (
            ["gpu=x:1"],
            "unknown component 'gpu'; components are rabbitmq, plugin-runner, workspace, gateway, "
            "data-sharing-service, app-meta-cache, data-endpoint, playback-server",
        ),
        (["rabbitmq"], "--image 'rabbitmq': write COMPONENT=REF"),
        (["rabbitmq="], "--image 'rabbitmq=': write COMPONENT=REF"),
    ],
)
def test_bad_image_options(images: list[str], fragment: str) -> None:
    assert fragment in refusal(students=1, images=images)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        (
            "geo",
            {},
            "invalid class 'geo': --students/--roster: spec: set exactly one of spec.students (a number) and "
            "spec.roster (a list of student ids)",
        ),
        ("geo", {"students": 0}, "--students: spec.students: 0 is less than the minimum of 1"),
        (
            "Geo",
            {"students": 1},
            "NAME: metadata.name: 'Geo' is not a valid name: use lowercase letters, digits and '-'",
        ),
        (
            "g" * 52,
            {"students": 1},
            "NAME/--namespace-prefix: spec.namespacePrefix (default: the class name) must be at most 51",
        ),
        (
            "geo",
            {"students": 1, "namespace_prefix": "-x"},
            "--namespace-prefix: spec.namespacePrefix: '-x' is not a valid name",
        ),
        (
            "geo",
            {"students": 1, "preset": "xl"},
            "--preset: spec.resources.preset: 'xl' is not one of ['small', 'medium', 'large']",
        ),
        ("geo", {"students": 1, "images": ["rabbitmq=a b"]}, "--image: spec.images.rabbitmq: 'a b' does not match"),
    ],
)
def test_schema_problems_name_the_option(name: str, options: dict[str, object], expected: str) -> None:
    assert expected in refusal(name, **options)


def test_roster_from_a_spreadsheet_export(tmp_path: Path) -> None:
    roster = tmp_path / "class.csv"
    roster.write_text("\ufeffName,ID,Email\nAda Lovelace,ada,a@x\n\n , alan ,\n")
    read = classopts.read_roster(roster)
    assert read.entries == [{"id": "ada", "name": "Ada Lovelace"}, {"id": "alan"}]
    assert read.lines == [2, 4]
    assert build(roster=roster)["spec"] == {"roster": [{"id": "ada", "name": "Ada Lovelace"}, {"id": "alan"}]}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name\nAda\n", "has no `id` column: its first line must name the columns, e.g. `id,name`"),
        ("id,name\n\n", "lists no students"),
        ("id\nada\nbob\nada\n", "roster r.csv line 4 (id 'ada'): duplicate entry (id='ada')"),
        ("id\nada\nBob Smith\n", "roster r.csv line 3, column id (id 'Bob Smith'): 'Bob Smith' is not a valid name"),
        ("id,name\nada,Ada\x07\n", "roster r.csv line 2, column name (id 'ada'): 'Ada\\x07' holds a control character"),
        ("id\n" + "x" * 63 + "\n", "roster r.csv line 2"),
    ],
)
def test_bad_rosters_name_the_line(tmp_path: Path, text: str, fragment: str) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(text)
    assert fragment in refusal(roster=roster)


def test_an_unreadable_roster(tmp_path: Path) -> None:
    assert (
        refusal(roster=tmp_path / "none.csv")
        == f"cannot read roster {tmp_path / 'none.csv'}: No such file or directory"
    )
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,name\nada,Ren\xe9\n")
    assert "is not UTF-8 text" in refusal(roster=latin)
