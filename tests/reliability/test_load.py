"""Load: ten classes of 30 at once, and one class of 300, on the real control plane."""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.classes import class_body, condition, delete_class, wait_ready
from tests.reliability.checks import assert_exactly_the_class
from tests.support.operator_process import OperatorProcess
from vwclass.kube.api import Kube

pytestmark = [pytest.mark.cluster, pytest.mark.reliability]
_SAMPLE = re.compile(r'^apiserver_request_total\{(.*)\} (\S+)$')


def requests_by(kube: Kube, key: str) -> Counter[str]:
    """apiserver_request_total summed by one label (verb or code)."""
    totals: Counter[str] = Counter()
    for line in kube.get_text("/metrics").splitlines():
        found = _SAMPLE.match(line)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
            totals[labels.get(key, "")] += int(float(found.group(2)))
    return totals


def test_ten_classes_of_thirty_at_once_all_become_ready_without_throttling(
    kube: Kube, kubeconfig: Path, tmp_path: Path
) -> None:
    names = [f"load{i:02d}" for i in range(10)]
    verbs_before, codes_before = requests_by(kube, "verb"), requests_by(kube, "code")
    with OperatorProcess(kubeconfig, tmp_path / "operator.log", resync_seconds=60.0):
        started = time.monotonic()
        for name in names:
            kube.apply(class_body(name, students=30))
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda n: wait_ready(kube, n, 30, timeout=900), names))
        elapsed = time.monotonic() - started
    verbs = requests_by(kube, "verb") - verbs_before
    codes = requests_by(kube, "code") - codes_before
    for name in names:
        assert condition(kube, name, "Stalled")["status"] == "False"
        assert_exactly_the_class(kube, name, 30)
    # The operator's own requests: every retried 429 or 5xx is logged by vwclass.kube.
    retried = [line for line in (tmp_path / "operator.log").read_text().splitlines() if "vwclass.kube" in line]
    assert not [line for line in retried if ": 429 " in line], retried[:5]
    print(f"\n10 x 30 students Ready in {elapsed:.0f}s; API-server requests by verb (all clients): {dict(verbs)}; "
          f"by code: {dict(codes)}; the operator's retried requests: {len(retried)}")
    for name in names:
        delete_class(kube, name, timeout=600)


def test_a_class_of_three_hundred_becomes_ready_and_is_deleted_cleanly(kube: Kube, kubeconfig: Path, tmp_path: Path) -> None:
    with OperatorProcess(kubeconfig, tmp_path / "operator.log", resync_seconds=60.0):
        started = time.monotonic()
        kube.apply(class_body("huge", students=300))
        wait_ready(kube, "huge", 300, timeout=900)
        ready = time.monotonic() - started
        assert_exactly_the_class(kube, "huge", 300)
        started = time.monotonic()
        delete_class(kube, "huge", timeout=900)
        gone = time.monotonic() - started
    print(f"\n300 students: Ready in {ready:.0f}s, every namespace gone {gone:.0f}s after deletion")
