"""Edges of the operator: specs that slip past admission, roll-outs, liveness, and `kopf run`."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.classes import class_body, condition, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually, free_port
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND, CLASS
from vwclass.shipped import crd_path

pytestmark = pytest.mark.cluster
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]
QUOTA = BY_KIND[("v1", "ResourceQuota")]


def test_a_spec_that_slipped_past_an_older_schema_stalls_with_an_event(kube: Kube, operator: EmbeddedOperator) -> None:
    crd = yaml.safe_load(crd_path().read_text())
    older = copy.deepcopy(crd)  # as if an older CRD without the CEL rules were installed
    del older["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    kube.apply(older)
    try:
        eventually(
            lambda: kube.apply(class_body("sneaky", students=2, roster=[{"id": "ann"}])),
            timeout=30,
            what="the older schema accepting the class",
        )

        def stalled() -> dict[str, str] | None:
            found = condition(kube, "sneaky", "Stalled")
            return found if found.get("status") == "True" else None

        found = eventually(stalled, timeout=60, what="class Stalled")
        assert found["reason"] == "InvalidSpec"
        assert "exactly one of spec.students" in found["message"]
        assert not kube.list(BY_KIND[("v1", "Namespace")], names.class_selector("sneaky"))
        events = kube.request(
            "GET", "/api/v1/namespaces/default/events", query=[("fieldSelector", "involvedObject.name=sneaky")]
        )["items"]
        assert [e for e in events if e["reason"] == "InvalidSpec"]
        # One Event and one status write, not a retry storm: nothing more while nothing changes.
        writes = sum(operator.kube.writes.values())
        operator.request("sneaky")
        eventually(lambda: operator.memo.controller.reconciles["sneaky"] >= 2, timeout=30)
        assert sum(operator.kube.writes.values()) == writes
        kube.delete(CLASS, "sneaky")
    finally:
        kube.apply(crd)


def test_changing_images_and_presets_rolls_out_to_every_student(kube: Kube, operator: EmbeddedOperator) -> None:
    kube.apply(class_body("rollout", students=2))
    wait_ready(kube, "rollout", 2)
    kube.apply(
        class_body(
            "rollout",
            students=2,
            images={"workspace": "ghcr.io/sagecontinuum/vwclass-workspace:0.2.0"},
            resources={"preset": "large"},
        )
    )
    wait_ready(kube, "rollout", 2)
    for namespace in ("rollout-student-001", "rollout-student-002"):
        node = kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace)
        assert node is not None
        [container] = [c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "plugin-runner"]
        assert container["image"] == "ghcr.io/sagecontinuum/vwclass-workspace:0.2.0"
        assert container["resources"]["limits"] == {"cpu": "4", "memory": "4Gi", "ephemeral-storage": "8Gi"}
        quota = kube.get(QUOTA, "student-quota", namespace)
        assert quota is not None
        assert quota["spec"]["hard"]["limits.cpu"] == "16"
    delete_class(kube, "rollout")


def test_the_liveness_endpoint_answers_while_the_operator_runs(kubeconfig: Path, kube: Kube) -> None:
    port = free_port()
    with EmbeddedOperator(str(kubeconfig), liveness=f"http://127.0.0.1:{port}/healthz"):

        def healthy() -> bytes | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return response.read() if response.status == 200 else None

        body = eventually(healthy, timeout=30, what="liveness endpoint")
        assert b"reconciles" in body


def test_kopf_run_serves_classes_too(kubeconfig: Path, kube: Kube, tmp_path: Path) -> None:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    log = (tmp_path / "kopf.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces", "-m", "vwclass.operator.handlers"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        kube.apply(class_body("kopfrun", students=1))
        wait_ready(kube, "kopfrun", 1)
    finally:
        process.terminate()
        process.wait(30)
    delete_class(kube, "kopfrun")
