"""The class condition that says whether the admission policies guarding student namespaces are installed."""

from __future__ import annotations

from typing import Any

from vwclass.core import names

Obj = dict[str, Any]
CONDITION = "AdmissionPoliciesInstalled"
INSTALL_HINT = "install them with `vwclass install` (or: kubectl apply --server-side -k manifests/base)"


def missing_policies(policies: set[str], bindings: set[str]) -> list[str]:
    """What of the shipped policies and their bindings is absent, as 'Kind name', in a stable order."""
    missing = []
    for name in names.ADMISSION_POLICIES:
        if name not in policies:
            missing.append(f"ValidatingAdmissionPolicy {name}")
        if name not in bindings:
            missing.append(f"ValidatingAdmissionPolicyBinding {name}")
    return missing


def condition(generation: int, missing: list[str] | None) -> Obj:
    """True when nothing is missing; False naming what is; Unknown (missing=None) when it cannot be read.

    It never holds back Ready: the students' nodes work without the policies. It tells the teacher
    (and `kubectl wait`, Argo CD, Flux, which read only Ready) that students can reach past their
    namespace, so a cluster installed by hand is not silently open.
    """
    if missing is None:
        status, reason = "Unknown", "CannotRead"
        message = "the operator may not read ValidatingAdmissionPolicies; grant it get/list on them (manifests/base)"
    elif missing:
        status, reason = "False", "PoliciesMissing"
        message = (
            f"students are not fully isolated: {', '.join(missing)} missing (nothing stops a student from setting "
            f"nodeName, priorityClassName, externalIPs or a claim's volumeName); {INSTALL_HINT}"
        )
    else:
        status, reason = "True", "Installed"
        message = f"the {len(names.ADMISSION_POLICIES)} admission policies that guard student namespaces are in place"
    return {"type": CONDITION, "status": status, "reason": reason, "message": message, "observedGeneration": generation}
