"""The checks of `vwclass doctor`, as pure functions of what was read from the cluster.

Each returns a Check: ok, warning (works, but worth knowing) or failed (a class will not work), with
the fix a teacher can type. On MicroK8s the fixes name its addons.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from vwclass.cli.errors import Exit

Obj = dict[str, Any]
OK, WARNING, FAILED = "ok", "warning", "failed"
# ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1), which guards student namespaces, is GA in 1.30.
MIN_VERSION = (1, 30)
MICROK8S_ADDONS = "microk8s enable dns hostpath-storage rbac registry"
_DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
# Provisioners that make a volume a directory on the host: a claim's size is not enforced.
HOSTPATH_PROVISIONERS = frozenset(
    {
        "microk8s.io/hostpath",
        "rancher.io/local-path",
        "k8s.io/minikube-hostpath",
        "docker.io/hostpath",
        "kubernetes.io/host-path",
        "vwclass.testenv/local-path",  # the test environment's (vwclass.testenv.localpath.PROVISIONER)
    }
)
UNBOUNDED_CLAIMS = (
    "claim sizes are not enforced, so a student's own files on their volume can fill the host's disk "
    "(vwclass bounds what the node itself writes: records and uploads by age and size, message queues by size)"
)


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    detail: str
    fix: str = ""

    def as_dict(self) -> Obj:
        return asdict(self)


def is_microk8s(nodes: list[Obj], storage_classes: list[Obj]) -> bool:
    """MicroK8s marks its nodes (label microk8s.io/cluster, its kubelet version) and storage class."""
    for node in nodes:
        meta = node.get("metadata", {})
        marks = list(meta.get("labels", {})) + list(meta.get("annotations", {}))
        if any(mark.startswith("microk8s.io/") or "microk8s" in mark for mark in marks):
            return True
        if "microk8s" in node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "").lower():
            return True
    return any(sc.get("metadata", {}).get("name") == "microk8s-hostpath" for sc in storage_classes)


def reachable(server: str, error: str = "") -> Check:
    if error:
        return Check(
            "cluster reachable",
            FAILED,
            f"{server}: {error}",
            "check your kubeconfig context (`kubectl config current-context`) and that the cluster is running",
        )
    return Check("cluster reachable", OK, server)


def parse_version(version: Obj) -> tuple[int, int] | None:
    found = re.match(r"v?(\d+)\.(\d+)", str(version.get("gitVersion", "")))
    if found:
        return int(found.group(1)), int(found.group(2))
    try:
        return int(version["major"]), int(re.sub(r"\D", "", str(version["minor"])))
    except (KeyError, ValueError):
        return None


def kubernetes_version(version: Obj) -> Check:
    parsed = parse_version(version)
    shown = str(version.get("gitVersion", "unknown"))
    if parsed is None:
        return Check("Kubernetes version", WARNING, f"cannot tell from {shown!r}")
    if parsed < MIN_VERSION:
        return Check(
            "Kubernetes version",
            FAILED,
            f"{shown}: older than 1.30, which lacks ValidatingAdmissionPolicy (v1) that guards student namespaces",
            "upgrade the cluster to Kubernetes 1.30 or later",
        )
    return Check("Kubernetes version", OK, shown)


def rbac(served: bool, microk8s: bool) -> Check:
    if served:
        return Check("RBAC", OK, "rbac.authorization.k8s.io/v1 is served")
    return Check(
        "RBAC",
        FAILED,
        "RBAC is off: students could reach each other's namespaces",
        "microk8s enable rbac" if microk8s else "start the API server with --authorization-mode=Node,RBAC",
    )


def dns(found: str | None, microk8s: bool) -> Check:
    """found: the name of the DNS Service in kube-system, or None."""
    if found:
        return Check("cluster DNS", OK, f"Service kube-system/{found}")
    return Check(
        "cluster DNS",
        FAILED,
        "no kube-dns or coredns Service in kube-system: nodes cannot find their services",
        "microk8s enable dns" if microk8s else "install CoreDNS (most distributions ship it as an addon)",
    )


def storage(storage_classes: list[Obj], microk8s: bool) -> Check:
    defaults = [
        sc["metadata"]["name"]
        for sc in storage_classes
        if any(sc["metadata"].get("annotations", {}).get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS)
    ]
    if len(defaults) == 1:
        provisioner = next(sc.get("provisioner", "") for sc in storage_classes if sc["metadata"]["name"] == defaults[0])
        if provisioner in HOSTPATH_PROVISIONERS:
            return Check(
                "default StorageClass",
                WARNING,
                f"{defaults[0]} ({provisioner}): {UNBOUNDED_CLAIMS}",
                "watch the host's disk, or make the default a StorageClass whose provisioner enforces sizes",
            )
        return Check("default StorageClass", OK, defaults[0])
    if defaults:
        return Check(
            "default StorageClass",
            WARNING,
            f"{len(defaults)} defaults ({', '.join(defaults)}): Kubernetes picks the newest",
            "keep one default StorageClass",
        )
    fix = (
        "microk8s enable hostpath-storage"
        if microk8s
        else (
            "mark one StorageClass default: "
            "kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true"
        )
    )
    return Check("default StorageClass", FAILED, "none: students' volumes would stay Pending", fix)


def _served_versions(crd: Obj) -> list[str]:
    return [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("served")]


def _schema(crd: Obj, version: str) -> Any:
    for entry in crd.get("spec", {}).get("versions", []):
        if entry.get("name") == version:
            return entry.get("schema", {}).get("openAPIV3Schema")
    return None


def crd(installed: Obj | None, shipped: Obj) -> Check:
    """The installed CRD against the one this vwclass ships: served, Established, same schema."""
    if installed is None:
        return Check("VirtualWaggleClass CRD", FAILED, "not installed", "vwclass install")
    storage_version = next(v["name"] for v in shipped["spec"]["versions"] if v.get("storage"))
    served = _served_versions(installed)
    if storage_version not in served:
        return Check(
            "VirtualWaggleClass CRD",
            FAILED,
            f"serves {', '.join(served) or 'nothing'}, this vwclass needs {storage_version}",
            "vwclass install",
        )
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in installed.get("status", {}).get("conditions") or []
    )
    if not established:
        return Check(
            "VirtualWaggleClass CRD",
            FAILED,
            "installed but not Established",
            "kubectl describe crd " + str(shipped["metadata"]["name"]),
        )
    if _schema(installed, storage_version) != _schema(shipped, storage_version):
        return Check(
            "VirtualWaggleClass CRD",
            WARNING,
            f"{storage_version} served, but its schema differs from this vwclass's (another version installed it)",
            "vwclass install (upgrades it in place)",
        )
    return Check("VirtualWaggleClass CRD", OK, f"{storage_version}, same schema as this vwclass")


def student_role(installed: Obj | None, shipped: Obj) -> Check:
    """The ClusterRole every student RoleBinding points at: present, with this vwclass's rules."""
    if installed is None:
        return Check(
            "student role",
            FAILED,
            "no ClusterRole vwclass-student: students could do nothing in their namespace",
            "vwclass install",
        )
    if installed.get("rules") != shipped.get("rules"):
        return Check(
            "student role",
            WARNING,
            "ClusterRole vwclass-student differs from this vwclass's",
            "vwclass install (resets it)",
        )
    return Check("student role", OK, "ClusterRole vwclass-student, as shipped")


# What each shipped admission policy stops a student from doing, for the line that says it is missing.
POLICY_GUARDS = {
    "vwclass-student-pods": (
        "setting nodeName, priorityClassName or tolerations (any node, evicting others) or allowPrivilegeEscalation"
    ),
    "vwclass-student-services": "setting a Service's externalIPs (capturing other pods' traffic)",
    "vwclass-student-volumes": "setting a claim's volumeName (binding someone else's volume)",
    "vwclass-student-data": "service-account token Secrets and ConfigMaps/Secrets over 64 KiB",
}
INSTALL_FIX = "vwclass install (or: kubectl apply --server-side -k manifests/base)"


def first_difference(actual: Any, shipped: Any, path: str = "") -> str | None:
    """The path of the first field of shipped that actual lacks or holds differently, else None.

    Only what shipped says is compared: the API server adds defaults (matchPolicy, scopes, ...).
    """
    if isinstance(shipped, dict):
        if not isinstance(actual, dict):
            return path or "."
        for key, value in shipped.items():
            found = first_difference(actual.get(key), value, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(shipped, list):
        if not isinstance(actual, list) or len(actual) != len(shipped):
            return path
        for index, (mine, theirs) in enumerate(zip(actual, shipped, strict=True)):
            found = first_difference(mine, theirs, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(shipped, str) and isinstance(actual, str):
        # YAML folded scalars end with a newline the server keeps; the words are what matter.
        return None if " ".join(actual.split()) == " ".join(shipped.split()) else path
    return None if actual == shipped else path


def admission_policy(installed: Obj | None, shipped: Obj) -> Check:
    """One shipped ValidatingAdmissionPolicy or its binding: present, and saying what this vwclass says."""
    kind, name = shipped["kind"], shipped["metadata"]["name"]
    check = f"{kind} {name}"
    guards = POLICY_GUARDS.get(name, "what it denies")
    if installed is None:
        return Check(check, FAILED, f"missing: nothing stops students {guards}", INSTALL_FIX)
    differs = first_difference(installed.get("spec"), shipped.get("spec"), "spec")
    if differs:
        return Check(check, FAILED, f"differs from this vwclass's at {differs}", INSTALL_FIX + " (resets it)")
    return Check(check, OK, "as shipped")


def operator(deployment: Obj | None) -> Check:
    if deployment is None:
        return Check(
            "operator",
            WARNING,
            "not installed in the cluster (no Deployment vwclass-system/vwclass-operator)",
            "vwclass install (deploys it), or run it from this machine: vwclass operator",
        )
    status = deployment.get("status", {})
    available: Obj = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
    ready = f"{status.get('readyReplicas', 0)}/{deployment.get('spec', {}).get('replicas', 1)} ready"
    if available.get("status") == "True" and status.get("readyReplicas", 0) >= 1:
        image = deployment["spec"]["template"]["spec"]["containers"][0].get("image", "")
        return Check("operator", OK, f"Deployment vwclass-system/vwclass-operator Available ({ready}, {image})")
    why = available.get("message") or "no ready replica"
    return Check(
        "operator",
        FAILED,
        f"Deployment vwclass-system/vwclass-operator not Available ({ready}): {why}",
        "kubectl -n vwclass-system describe deployment vwclass-operator; kubectl -n vwclass-system logs "
        "deployment/vwclass-operator",
    )


def access(denied: list[str]) -> Check:
    """denied: what the current user may not do of what a teacher does (from SelfSubjectAccessReviews)."""
    if not denied:
        return Check("your permissions", OK, "you may create classes and hand out student credentials")
    return Check(
        "your permissions",
        WARNING,
        f"you may not {'; '.join(denied)}",
        "ask the cluster's admin for a role that allows it",
    )


def microk8s_note(checks: list[Check]) -> Check:
    failing = [c for c in checks if c.state == FAILED and c.fix.startswith("microk8s enable")]
    if failing:
        return Check("MicroK8s", WARNING, "addons missing: " + ", ".join(c.name for c in failing), MICROK8S_ADDONS)
    return Check("MicroK8s", OK, "detected; the addons vwclass needs are on")


def exit_code(checks: list[Check]) -> Exit:
    """OK when nothing failed, UNREACHABLE when the cluster cannot be reached, else FAILED."""
    if any(c.name == "cluster reachable" and c.state == FAILED for c in checks):
        return Exit.UNREACHABLE
    return Exit.FAILED if any(c.state == FAILED for c in checks) else Exit.OK


def node_room(nodes: list[Obj], pods: list[Obj]) -> list[Check]:
    """One row per node with its free pod slots, CPU and memory, then the largest class that fits with
    each preset (default components) on the nodes a class without placement may use."""
    from vwclass.core import capacity, names
    from vwclass.core.presets import PRESETS
    from vwclass.core.spec import parse_class

    rooms = {room.name: room for room in capacity.node_rooms(nodes, pods)}
    rows = []
    for node in nodes:
        name = node["metadata"]["name"]
        room = rooms.get(name)
        if room is None:
            rows.append(Check(f"node {name}", OK, "not usable by a class: cordoned or tainted"))
        elif room.pods == 0:
            rows.append(Check(f"node {name}", WARNING, f"full: {capacity.node_free(room)} free", "add a node"))
        else:
            rows.append(Check(f"node {name}", OK, f"free: {capacity.node_free(room)}"))
    largest = {}
    for preset in PRESETS:
        body = {"metadata": {"name": "sizing"}, "spec": {"students": 1, "resources": {"preset": preset}}}
        cls = parse_class({"apiVersion": names.API_VERSION, "kind": names.KIND, **body})
        usable = capacity.room_beside_shared_pods(cls, rooms.values())
        largest[preset] = capacity.largest_class(capacity.class_need(cls).pods_per_student, usable)
    detail = "largest class that fits now: " + ", ".join(f"{n} students ({p})" for p, n in largest.items())
    if not any(largest.values()):
        rows.append(Check("room for a class", FAILED, detail, "add nodes, or free room on them"))
    else:
        rows.append(Check("room for a class", OK, detail))
    return rows
