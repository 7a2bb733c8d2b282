"""Flux's kstatus and Argo CD's health script, run by their own code on real classes at every moment of
their life: neither calls a class ready before the operator has observed its generation and found it Ready."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import class_body, delete_class
from tests.support.gitops import Health, both, flux_health_checks
from tests.support.kube import unique
from tests.support.operator_process import OperatorProcess
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS, NAMESPACE
from vwclass.testenv import build

pytestmark = pytest.mark.cluster
READY_FOR_GITOPS = ("Current", "Healthy", "Suspended")


@pytest.fixture
def operator_process(kubeconfig: Path, kube: Kube, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator as a separate process, not yet started: each test starts and stops it."""
    process = OperatorProcess(kubeconfig, tmp_path / "operator.log", resync_seconds=10.0)
    try:
        yield process
    finally:
        process.stop()


class Moment:
    """One read of the class, and what each tool made of that very read."""

    def __init__(self, kube: Kube, binary: Path, name: str) -> None:
        self.flux, self.argocd, self.obj = both(kube, binary, name)

    @property
    def generation(self) -> int:
        return int((self.obj or {}).get("metadata", {}).get("generation", 0))

    @property
    def status(self) -> dict[str, Any]:
        return dict((self.obj or {}).get("status") or {})

    def ready_condition(self) -> dict[str, Any]:
        return next((c for c in self.status.get("conditions", []) if c["type"] == "Ready"), {})

    def operator_found_it_ready(self) -> bool:
        """The operator observed this generation and said Ready: the only time a tool may say so."""
        ready = self.ready_condition()
        return (
            self.status.get("observedGeneration") == self.generation
            and ready.get("status") == "True"
            and ready.get("observedGeneration") == self.generation
        )

    def check_never_early(self) -> Moment:
        if self.flux.status == "Current" or self.argocd.status in ("Healthy", "Suspended"):
            assert self.operator_found_it_ready(), (self.flux, self.argocd, self.status)
        return self

    def not_ready(self) -> Moment:
        self.check_never_early()
        assert self.flux.status == "InProgress", self.flux
        assert self.argocd.status == "Progressing", self.argocd
        return self

    def __repr__(self) -> str:
        return f"flux={self.flux} argocd={self.argocd} status={self.status}"


def watch_until(kube: Kube, binary: Path, name: str, done: Any, timeout: float = 120.0) -> Moment:
    """Reads the class again and again, checks every read against both tools, until done(moment)."""
    deadline = time.monotonic() + timeout
    moment = Moment(kube, binary, name).check_never_early()
    while not done(moment):
        assert time.monotonic() < deadline, f"timed out; last {moment!r}"
        time.sleep(0.3)
        moment = Moment(kube, binary, name).check_never_early()
    return moment


def phase(expected: str, generation: int) -> Any:
    return lambda m: m.status.get("phase") == expected and m.status.get("observedGeneration") == generation


def kubectl_wait_ready(kubeconfig: Path, name: str, timeout: str) -> bool:
    kubectl = build.bin_dir() / "kubectl"
    command = [str(kubectl), "--kubeconfig", str(kubeconfig), "wait", "--for=condition=Ready", f"vwc/{name}"]
    return subprocess.run([*command, f"--timeout={timeout}"], capture_output=True).returncode == 0


def set_students(kube: Kube, name: str, students: int, **spec: Any) -> int:
    """Edits the class as a GitOps tool would (server-side apply); returns its new generation."""
    applied = kube.apply(class_body(name, students=students, **spec))
    return int(applied["metadata"]["generation"])


def test_a_class_created_or_edited_while_the_operator_is_down_is_not_ready_until_it_has_looked(
    kube: Kube, kstatus_binary: Path, kubeconfig: Path, operator_process: OperatorProcess
) -> None:
    name = unique("gh-down")
    created = kube.create(class_body(name, students=2))
    assert created is not None
    for _ in range(2):  # now, and still a while later: nothing but the operator can change it
        moment = Moment(kube, kstatus_binary, name).not_ready()
        assert moment.flux.message == "VirtualWaggleClass generation is 1, but latest observed generation is 0"
        assert moment.argocd.message == "the operator has not yet observed generation 1 of this class"
        assert moment.ready_condition()["status"] == "Unknown"
        time.sleep(2)
    # The API server dropped any status on create and filled the CRD's defaults in, in its reply too.
    assert created["status"]["observedGeneration"] == 0
    assert not kubectl_wait_ready(kubeconfig, name, "2s")

    operator_process.start()
    ready = watch_until(kube, kstatus_binary, name, phase("Ready", 1))
    assert (ready.flux, ready.argocd) == (
        Health("Current", "Resource is Ready"),
        Health("Healthy", "all 2 students' virtual Waggle nodes are ready"),
    )
    assert kubectl_wait_ready(kubeconfig, name, "30s")

    # A busy or stopped operator: the edit is not observed, and both tools keep saying so.
    operator_process.stop()
    generation = set_students(kube, name, 3)
    assert generation == 2
    for _ in range(2):
        moment = Moment(kube, kstatus_binary, name).not_ready()
        assert moment.flux.message == "VirtualWaggleClass generation is 2, but latest observed generation is 1"
        assert "generation 2" in moment.argocd.message
        assert moment.ready_condition()["status"] == "True"  # the old generation's Ready: it counts for nothing
        time.sleep(2)
    assert not kubectl_wait_ready(kubeconfig, name, "2s")

    operator_process.start()
    ready = watch_until(kube, kstatus_binary, name, phase("Ready", 2))
    assert (ready.flux.status, ready.argocd.status) == ("Current", "Healthy")
    assert ready.status["students"]["ready"] == 3
    operator_process.stop()
    delete_class(kube, name)


def test_every_moment_of_a_class_with_the_operator_running(
    kube: Kube, kstatus_binary: Path, kubeconfig: Path, operator_process: OperatorProcess
) -> None:
    operator_process.start()
    name = unique("gh-life")
    set_students(kube, name, 2)
    Moment(kube, kstatus_binary, name).not_ready()  # just created: status defaulted, or Provisioning

    provisioning = watch_until(kube, kstatus_binary, name, phase("Provisioning", 1)).not_ready()
    assert "not ready" in provisioning.argocd.message
    assert provisioning.flux.message == provisioning.argocd.message  # both the operator's own words

    ready = watch_until(kube, kstatus_binary, name, phase("Ready", 1))
    assert (ready.flux.status, ready.argocd.status) == ("Current", "Healthy")
    assert kubectl_wait_ready(kubeconfig, name, "30s")

    # Just edited (2 -> 3 students): not ready again at once, for both, until the new student is.
    assert set_students(kube, name, 3) == 2
    Moment(kube, kstatus_binary, name).not_ready()
    if kubectl_wait_ready(kubeconfig, name, "1s"):
        # One pod per student on kwok can be Ready within that second: then only because the operator
        # has observed generation 2 and found it Ready, never on generation 1's condition.
        observed = (kube.get(CLASS, name) or {})["status"]
        assert observed["observedGeneration"] == 2
        assert {c["type"]: c["observedGeneration"] for c in observed["conditions"]}["Ready"] == 2
    ready = watch_until(kube, kstatus_binary, name, phase("Ready", 2))
    assert (ready.flux.status, ready.argocd.status) == ("Current", "Healthy")

    # Suspended: scaling down is progress; scaled to zero is what was asked (Flux) and Suspended (Argo CD).
    assert set_students(kube, name, 3, suspended=True) == 3
    Moment(kube, kstatus_binary, name).not_ready()
    suspended = watch_until(kube, kstatus_binary, name, phase("Suspended", 3))
    assert suspended.flux.status == "Current"
    assert suspended.argocd == Health("Suspended", "all 3 students' workloads are scaled to zero")

    # Deleted: while something still holds it, both say it is going; once gone, NotFound and Missing.
    kube.request(
        "PATCH",
        CLASS.path(None, name),
        body={"metadata": {"finalizers": ["test.vwclass.edu/hold"]}},
        content_type="application/merge-patch+json",
    )
    kube.delete(CLASS, name)
    deleting = Moment(kube, kstatus_binary, name)
    assert deleting.flux == Health("Terminating", "Resource scheduled for deletion")
    assert deleting.argocd == Health("Progressing", "Pending deletion")
    kube.request(
        "PATCH",
        CLASS.path(None, name),
        body={"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    gone = watch_until(kube, kstatus_binary, name, lambda m: m.obj is None, timeout=30)
    assert gone.flux == Health("NotFound", "Resource not found")
    assert gone.argocd.status == "Missing"
    delete_class(kube, name)  # waits until its namespaces are gone too


def test_a_stalled_class_is_failed_for_flux_and_degraded_for_argo_cd_with_the_reason(
    kube: Kube, kstatus_binary: Path, operator_process: OperatorProcess
) -> None:
    name = unique("gh-stall")
    foreign = f"{name}-student-002"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": foreign}})
    operator_process.start()
    set_students(kube, name, 3)

    def stalled(moment: Moment) -> bool:
        return any(c["type"] == "Stalled" and c["status"] == "True" for c in moment.status.get("conditions", []))

    moment = watch_until(kube, kstatus_binary, name, stalled)
    assert moment.flux.status == "Failed"
    assert moment.argocd.status == "Degraded"
    assert foreign in moment.flux.message
    assert moment.argocd.message == moment.flux.message  # the Stalled condition's message, for both
    operator_process.stop()
    delete_class(kube, name)
    kube.delete(NAMESPACE, foreign)


def test_the_tools_read_the_object_the_flux_example_health_checks(kube: Kube, kstatus_binary: Path) -> None:
    # Every read above goes to the path built from the Flux example's healthChecks entry: a wrong
    # apiVersion or kind there reads nothing here.
    [check] = flux_health_checks()
    name = unique("gh-path")
    kube.create(class_body(name, students=1))
    moment = Moment(kube, kstatus_binary, name).not_ready()
    assert moment.obj is not None
    assert (moment.obj["apiVersion"], moment.obj["kind"]) == (check["apiVersion"], check["kind"])
    delete_class(kube, name)
