"""`vwclass create` warns before it makes a class that cannot fit; `vwclass doctor` shows each node's free
room and the largest class that fits with each preset: on one kwok node of a kubelet's 110 pods."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.classes import class_body
from tests.support.cli import Cli
from tests.support.nodes import only_node
from vwclass.core import capacity
from vwclass.core.presets import PRESETS
from vwclass.core.spec import parse_class
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS
from vwclass.testenv.cluster import Cluster, NodeShape


@pytest.fixture(scope="module")
def classroom_node(testenv_cluster: Cluster | None, cli_kube: Kube) -> Iterator[str]:
    if testenv_cluster is None:
        pytest.skip("shaping nodes needs the local control plane's kwok, not VWCLASS_TEST_KUBECONFIG")
    with only_node(testenv_cluster, cli_kube, NodeShape(cpu="48", memory="187Gi", pods=110)) as name:
        yield name


def largest(preset: str) -> int:
    cls = parse_class(class_body("sizing", students=1, resources={"preset": preset}))
    room = capacity.NodeRoom("n", 110, 48000, 187 * 2**30)
    # Beside the class's image pre-pull pod and its gateway's, which take slots of the node too.
    return capacity.largest_class(
        capacity.class_need(cls).pods_per_student, capacity.room_beside_shared_pods(cls, [room])
    )


def test_create_warns_in_one_line_when_the_class_cannot_fit_and_creates_it_anyway(
    cli: Cli, cli_kube: Kube, classroom_node: str
) -> None:
    students = largest("small") + 1
    pods = len(capacity.class_need(parse_class(class_body("x", students=1))).pods_per_student)
    try:
        result = cli("create", "toobig", "--students", str(students))
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1, result.stderr
        # Its students' pods, its pre-pull pod and its gateway's.
        assert f"needs {students * pods + 2} pods; the nodes can take 110 more" in warnings[0]
        assert cli_kube.get(CLASS, "toobig") is not None
        fits = cli("create", "fits", "--students", "2")
        assert fits.exit_code == 0, fits.output
        assert "warning" not in fits.stderr
    finally:
        cli_kube.delete(CLASS, "toobig")
        cli_kube.delete(CLASS, "fits")


def test_doctor_shows_each_nodes_free_room_and_the_largest_class_per_preset(cli: Cli, classroom_node: str) -> None:
    result = cli("doctor", "-o", "json")
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks[f"node {classroom_node}"] == {
        "name": f"node {classroom_node}",
        "state": "ok",
        "detail": "free: 110 pods, 48 CPUs, 187.0Gi",
        "fix": "",
    }
    others = [c for name, c in checks.items() if name.startswith("node ") and name != f"node {classroom_node}"]
    assert others
    assert all(c["detail"] == "not usable by a class: cordoned or tainted" for c in others)
    expected = ", ".join(f"{largest(p)} students ({p})" for p in PRESETS)
    assert checks["room for a class"]["detail"] == f"largest class that fits now: {expected}"
