"""Faults while a class provisions: the operator SIGKILLed, the API server down, etcd restarted."""

from __future__ import annotations

import datetime
import random
import re
import time
from pathlib import Path

import pytest

from tests.reliability.checks import assert_exactly_the_class, credentials
from tests.support.classes import class_body, class_namespaces, delete_class, wait_ready
from tests.support.kube import eventually
from tests.support.operator_process import OperatorProcess
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS
from vwclass.testenv.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.reliability]
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]
SERVICE = BY_KIND[("v1", "Service")]


def test_ten_sigkills_during_provisioning_leave_a_ready_class_with_unchanged_credentials(
    kube: Kube, kubeconfig: Path, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    chooser = random.Random(seed)
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log")
    seen: dict[str, dict[str, str]] = {}
    kube.apply(class_body("kills", students=30))
    started = time.monotonic()
    try:
        for _ in range(10):
            operator.start()
            time.sleep(chooser.uniform(0.5, 4.0))
            operator.kill()
            for namespace, data in credentials(kube, "kills").items():
                assert seen.setdefault(namespace, data) == data, f"credentials of {namespace} changed (seed {seed})"
        operator.start()
        wait_ready(kube, "kills", 30, timeout=240)
        recovered = time.monotonic() - started
    finally:
        operator.stop()
    final = credentials(kube, "kills")
    assert len(final) == 30
    for namespace, data in seen.items():
        assert final[namespace] == data, f"credentials of {namespace} changed after the kills (seed {seed})"
    assert_exactly_the_class(kube, "kills", 30)
    print(
        f"\n10 SIGKILLs (seed {seed}): {len(seen)} credentials created before a kill, all unchanged; "
        f"Ready {recovered:.0f}s after the class was created"
    )
    delete_class(kube, "kills")


def first_reconcile_after(log: Path, class_name: str, moment: datetime.datetime) -> datetime.timedelta:
    """How soon after moment the operator's log shows a reconcile of the class that wrote something."""
    pattern = re.compile(rf"^\[([\d-]+ [\d:]+),(\d+)\] vwclass\.controller .* class {class_name}: \d+ writes$")
    for line in log.read_text().splitlines():
        found = pattern.match(line)
        if found:
            at = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(
                microsecond=int(found.group(2)) * 1000
            )
            if at > moment:
                return at - moment
    raise AssertionError(f"no reconcile of {class_name} after {moment} in {log}")


# 75 s outlasts kopf's own retries of a watch (about a minute), which the operator replaces with its own.
@pytest.mark.parametrize(("component", "outage"), [("kube-apiserver", 20.0), ("kube-apiserver", 75.0), ("etcd", 3.0)])
def test_the_operator_recovers_by_itself_when_the_control_plane_comes_back(
    kube: Kube, kubeconfig: Path, local_cluster: Cluster, tmp_path: Path, component: str, outage: float
) -> None:
    name = f"outage{outage:.0f}" if component == "kube-apiserver" else "etcdrestart"
    # No resync within the test: only reopened watches can tell the operator that its pods became ready.
    with OperatorProcess(kubeconfig, tmp_path / "operator.log", resync_seconds=3600.0):
        kube.apply(class_body(name, students=10))
        time.sleep(1.5)  # mid-provisioning
        local_cluster.stop(component)
        time.sleep(outage)
        local_cluster.start(component)
        local_cluster.wait_apiserver()
        back, started = datetime.datetime.now(), time.monotonic()
        wait_ready(kube, name, 10, timeout=240)
        recovered = time.monotonic() - started
    assert_exactly_the_class(kube, name, 10)
    resumed = first_reconcile_after(tmp_path / "operator.log", name, back)
    print(
        f"\n{component} stopped {outage:.0f}s mid-provisioning: the operator's first reconcile "
        f"{resumed.total_seconds():.0f}s after it came back, the class Ready after {recovered:.0f}s"
    )
    delete_class(kube, name)


def test_deleting_a_class_without_the_operator_and_starting_it_again_recreates_nothing(
    kube: Kube, kubeconfig: Path, tmp_path: Path
) -> None:
    with OperatorProcess(kubeconfig, tmp_path / "operator.log"):
        kube.apply(class_body("gone", students=3))
        wait_ready(kube, "gone", 3)
    delete_class(kube, "gone")  # garbage collection alone
    with OperatorProcess(kubeconfig, tmp_path / "operator.log"):
        time.sleep(8)
        assert kube.get(CLASS, "gone") is None
        assert not class_namespaces(kube, "gone")


def test_a_students_workload_is_restored_and_their_own_objects_are_never_touched(
    kube: Kube, kubeconfig: Path, tmp_path: Path
) -> None:
    namespace = "hands-student-001"
    with OperatorProcess(kubeconfig, tmp_path / "operator.log", resync_seconds=5.0):
        kube.apply(class_body("hands", students=1))
        wait_ready(kube, "hands", 1)
        own = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "my-plugin", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "mine"}},
                "template": {
                    "metadata": {"labels": {"app": "mine"}},
                    "spec": {"containers": [{"name": "p", "image": "waggle/plugin-base:1.1.1-base"}]},
                },
            },
        }
        mine = kube.create(own)
        assert mine is not None
        kube.delete(SERVICE, "data-endpoint", namespace)
        kube.request(
            "PATCH",
            STATEFULSET.path(namespace, names.NODE_WORKLOAD) + "/scale",
            body={"spec": {"replicas": 0}},
            content_type="application/merge-patch+json",
        )
        kube.request(
            "PATCH",
            STATEFULSET.path(namespace, names.NODE_WORKLOAD),
            body={
                "spec": {
                    "template": {
                        "spec": {
                            "initContainers": [
                                {"name": "app-meta-cache", "image": "redis:evil", "env": [{"name": "X", "value": "1"}]}
                            ]
                        }
                    }
                }
            },
            content_type="application/strategic-merge-patch+json",
        )

        def restored() -> bool:
            endpoint = kube.get(SERVICE, "data-endpoint", namespace)
            node = kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace) or {}
            [redis] = [c for c in node["spec"]["template"]["spec"]["initContainers"] if c["name"] == "app-meta-cache"]
            return (
                bool(endpoint)
                and node["spec"]["replicas"] == 1
                and redis["image"] != "redis:evil"
                and "env" not in redis
            )

        eventually(restored, timeout=60, what="workloads restored")
        wait_ready(kube, "hands", 1)
        time.sleep(6)  # a resync more
        after = kube.get(DEPLOYMENT, "my-plugin", namespace)
        assert after is not None
        assert after["metadata"]["generation"] == mine["metadata"]["generation"]
        assert after["metadata"]["uid"] == mine["metadata"]["uid"]
    delete_class(kube, "hands")
