"""The shipped admission policies, the doctor's check of them, and the class condition: pure functions."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.classes import admission_policies
from vwclass.cli import checks, manifests
from vwclass.core import admission, names

Obj = dict[str, Any]


def test_every_named_policy_ships_with_its_binding_in_the_install() -> None:
    shipped = {(d["kind"], d["metadata"]["name"]) for d in manifests.admission_policies()}
    expected = {
        (kind, name)
        for name in names.ADMISSION_POLICIES
        for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    }
    assert shipped == expected
    assert {(d["kind"], d["metadata"]["name"]) for d in admission_policies()} == expected
    assert set(checks.POLICY_GUARDS) == set(names.ADMISSION_POLICIES)


def test_every_binding_denies_and_is_scoped_to_student_namespaces() -> None:
    for binding in (d for d in admission_policies() if d["kind"] == "ValidatingAdmissionPolicyBinding"):
        spec = binding["spec"]
        assert spec["policyName"] == binding["metadata"]["name"]
        assert spec["validationActions"] == ["Deny"]
        selector = spec["matchResources"]["namespaceSelector"]
        assert selector["matchLabels"] == {names.MANAGED_BY: names.MANAGED_BY_VALUE}
        assert selector["matchExpressions"] == [{"key": names.STUDENT_LABEL, "operator": "Exists"}]


def test_every_denial_is_forbidden_with_a_message() -> None:
    for policy in (d for d in admission_policies() if d["kind"] == "ValidatingAdmissionPolicy"):
        for validation in policy["spec"]["validations"]:
            assert validation["reason"] == "Forbidden"
            assert (
                "not allowed in a vwclass student namespace" in validation["message"]
                or "64 KiB" in (validation["message"])
            )


def _policy() -> Obj:
    return copy.deepcopy(manifests.admission_policies()[0])


def test_a_missing_policy_fails_naming_it_and_the_install() -> None:
    check = checks.admission_policy(None, _policy())
    assert check.state == checks.FAILED
    assert check.name == "ValidatingAdmissionPolicy vwclass-student-pods"
    assert check.detail.startswith("missing: nothing stops students setting nodeName")
    assert check.fix == "vwclass install (or: kubectl apply --server-side -k manifests/base)"


def test_a_policy_with_server_defaults_is_as_shipped() -> None:
    installed = _policy()
    installed["spec"]["matchConstraints"]["matchPolicy"] = "Equivalent"
    installed["spec"]["matchConstraints"]["resourceRules"][0]["scope"] = "*"
    installed["spec"]["validations"][0]["message"] += "\n"
    assert checks.admission_policy(installed, _policy()).state == checks.OK


def test_a_changed_policy_fails_naming_the_field() -> None:
    installed = _policy()
    installed["spec"]["validations"][1]["expression"] = "true"
    check = checks.admission_policy(installed, _policy())
    assert check.state == checks.FAILED
    assert check.detail == "differs from this vwclass's at spec.validations[1].expression"
    fewer = _policy()
    del fewer["spec"]["validations"][0]
    assert checks.admission_policy(fewer, _policy()).detail == "differs from this vwclass's at spec.validations"


def test_the_class_condition() -> None:
    everything = set(names.ADMISSION_POLICIES)
    assert admission.missing_policies(everything, everything) == []
    installed = admission.condition(3, [])
    assert installed["status"] == "True"
    assert installed["observedGeneration"] == 3
    missing = admission.missing_policies(everything, everything - {"vwclass-student-services"})
    assert missing == ["ValidatingAdmissionPolicyBinding vwclass-student-services"]
    absent = admission.condition(3, missing)
    assert absent["status"] == "False"
    assert absent["reason"] == "PoliciesMissing"
    assert "ValidatingAdmissionPolicyBinding vwclass-student-services missing" in absent["message"]
    assert "vwclass install" in absent["message"]
    assert admission.condition(3, None)["status"] == "Unknown"


def test_every_preset_counts_objects() -> None:
    from vwclass.core.presets import PRESETS

    wanted = {
        "count/configmaps",
        "count/secrets",
        "services",
        "count/jobs.batch",
        "count/cronjobs.batch",
        "count/deployments.apps",
        "count/statefulsets.apps",
        "count/replicasets.apps",
    }
    for preset in PRESETS.values():
        counts = dict(preset.object_counts)
        assert set(counts) == wanted
        # Room for the node's own objects (2 Secrets, 5 Services and Deployments, 1 StatefulSet).
        assert counts["count/secrets"] > 2
        assert counts["services"] > 5
        assert counts["count/statefulsets.apps"] > 1
        assert counts["count/replicasets.apps"] >= 11 * counts["count/deployments.apps"]
