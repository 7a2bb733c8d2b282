"""A class of two students, and an API client for each student's ServiceAccount token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube


@pytest.fixture(scope="module")
def classroom(kube: Kube, kubeconfig: Path) -> Iterator[str]:
    with EmbeddedOperator(str(kubeconfig)):
        kube.apply(class_body("sec", students=2))
        wait_ready(kube, "sec", 2)
        yield "sec"
        delete_class(kube, "sec")
