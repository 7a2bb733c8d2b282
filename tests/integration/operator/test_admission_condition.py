"""A class says when the admission policies guarding its students are missing, without holding back Ready."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.classes import admission_policies, class_body, condition, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from tests.support.kube import eventually
from vwclass.kube.api import Kube
from vwclass.kube.resources import BY_KIND

pytestmark = pytest.mark.cluster
BINDING = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")]
REMOVED = "vwclass-student-services"


@pytest.fixture
def binding_removed(kube: Kube) -> Iterator[dict[str, object]]:
    """A cluster installed by hand, without one binding; put back afterwards as the session had it."""
    shipped = next(d for d in admission_policies() if d["kind"] == BINDING.kind and d["metadata"]["name"] == REMOVED)
    kube.delete(BINDING, REMOVED)
    eventually(lambda: kube.get(BINDING, REMOVED) is None, what="binding gone")
    yield shipped
    kube.apply(shipped)


def test_a_class_reports_missing_policies_and_recovers_when_installed(
    kube: Kube, operator: EmbeddedOperator, binding_removed: dict[str, object]
) -> None:
    kube.apply(class_body("unguarded", students=1))
    wait_ready(kube, "unguarded", 1)  # the nodes work: Ready is not held back
    found = eventually(
        lambda: (lambda c: c if c.get("status") == "False" else None)(
            condition(kube, "unguarded", "AdmissionPoliciesInstalled")
        ),
        what="AdmissionPoliciesInstalled False",
    )
    assert found["reason"] == "PoliciesMissing"
    assert f"ValidatingAdmissionPolicyBinding {REMOVED} missing" in found["message"]
    assert "vwclass install" in found["message"]
    assert condition(kube, "unguarded")["status"] == "True"

    kube.apply(binding_removed)  # installed: the next resync (10 s here) says so
    installed = eventually(
        lambda: (lambda c: c if c.get("status") == "True" else None)(
            condition(kube, "unguarded", "AdmissionPoliciesInstalled")
        ),
        timeout=60,
        what="AdmissionPoliciesInstalled True",
    )
    assert installed["reason"] == "Installed"
    delete_class(kube, "unguarded")
