"""An unchanged, Ready class costs the API server no writes: not on resync, not on a reconcile."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.operator.reconcile import reconcile_class

pytestmark = pytest.mark.cluster


def test_resyncs_of_a_ready_class_send_no_write(kube: Kube, kubeconfig: Path) -> None:
    with EmbeddedOperator(str(kubeconfig), resync_seconds=3.0) as operator:
        kube.apply(class_body("quiet", students=3))
        wait_ready(kube, "quiet", 3)
        time.sleep(6)  # let the last child events settle
        before = sum(operator.kube.writes.values())
        reconciles = sum(operator.memo.controller.reconciles.values())
        time.sleep(12)  # four resyncs
        assert sum(operator.memo.controller.reconciles.values()) >= reconciles + 3
        assert sum(operator.kube.writes.values()) == before

    fresh = connect(str(kubeconfig))
    with ThreadPoolExecutor(8) as pool:
        outcome = reconcile_class(fresh, "quiet", pool)
    assert outcome.writes == 0
    assert outcome.requeue_after is None
    assert sum(fresh.writes.values()) == 0
    delete_class(kube, "quiet")
