"""A class of two students, each with the kubeconfig `vwclass credentials` hands out, to run plugins with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.cli import Cli
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube

CLASS = "plug"
A, B = "plug-student-001", "plug-student-002"
# The node is one pod; two leave room for exactly one plugin pod (the quota test relies on it).
PODS = 2


@dataclass(frozen=True)
class Students:
    teacher: Cli
    a: Cli
    b: Cli
    a_kubeconfig: Path
    b_kubeconfig: Path


@pytest.fixture(scope="module")
def students(kube: Kube, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Students]:
    with EmbeddedOperator(str(kubeconfig)):
        # Pod Security "restricted" (the stricter level): a plugin pod that appears meets either level.
        body = class_body(
            CLASS, students=2, podSecurity="restricted", resources={"preset": "small", "quota": {"pods": PODS}}
        )
        kube.apply(body)
        wait_ready(kube, CLASS, 2)
        teacher = Cli(kubeconfig)
        out = tmp_path_factory.mktemp("handout") / "out"
        result = teacher("credentials", CLASS, "--out", str(out), "--duration", "1h")
        assert result.exit_code == 0, result.output
        a, b = out / "student-001.kubeconfig", out / "student-002.kubeconfig"
        yield Students(teacher, Cli(a), Cli(b), a, b)
        delete_class(kube, CLASS)


def pointed_at(kubeconfig: Path, namespace: str, path: Path) -> Path:
    """A copy of a student's kubeconfig whose context names another namespace (a student may edit theirs)."""
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
