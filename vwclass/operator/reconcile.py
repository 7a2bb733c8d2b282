"""The one reconcile: makes every student namespace of a class match its spec, then reports status.

Level-based, as controller-runtime's: it gets a class name, never an event. It lists what exists by
label (one LIST per kind for the whole class), renders what should exist, and writes only where the two
differ, so a resync of an unchanged class sends no write at all.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import secrets
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from vwclass.core import admission, capacity, drift, names, rabbitmq, render, status
from vwclass.core.schema import InvalidClass
from vwclass.core.spec import ClassSpec, Student, parse_class
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import BY_KIND, CLASS, NAMESPACE, NODE, POD, STUDENT_KINDS, Resource, resource_of

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # (namespace, apiVersion, kind, name)
PROVISIONING_RECHECK = 5.0
STALLED_RECHECK = 60.0
# Nodes are not watched: room that comes back without a pod event (a node Ready again after a restart,
# a node added or uncordoned) is seen at the next look, so a class short of room looks sooner.
CAPACITY_RECHECK = 15.0
# The claim of the RabbitMQ StatefulSet of the layout before the node was one pod. Deleted on upgrade:
# the broker's state is keyed by its old pod's host name, so the new broker cannot read it, and its
# users, exchanges and queues come from the rabbitmq-config Secret.
LEGACY_RABBITMQ_CLAIM = "data-rabbitmq-0"
# Items per page of a reconcile's LISTs: a class of 500 is read in pages, each slimmed before the next.
LIST_PAGE = 200


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), obj["apiVersion"], obj["kind"], meta["name"])


@dataclass
class Observed:
    """Everything of one class that exists now, listed once per reconcile."""

    namespaces: dict[str, Obj]
    objects: dict[Key, Obj]
    pods: dict[str, list[Obj]]
    # The objects by namespace, indexed once: each student's lookup scanned the whole class before.
    _by_namespace: dict[str, list[Obj]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_namespace = defaultdict(list)
        for (namespace, *_rest), obj in self.objects.items():
            self._by_namespace[namespace].append(obj)

    def in_namespace(self, namespace: str) -> list[Obj]:
        return list(self._by_namespace.get(namespace, ()))


@dataclass
class StudentResult:
    state: status.StudentState
    writes: int = 0
    conflict: str = ""
    error: ApiError | None = None


@dataclass
class Outcome:
    """What the controller should do next: requeue_after seconds, or nothing until an event."""

    requeue_after: float | None = None
    writes: int = 0
    # The class's students as this reconcile found them, for the metrics (None: no class to count).
    students_ready: int | None = None
    students_desired: int | None = None


def _without_managed_fields(obj: Obj) -> Obj:
    obj["metadata"].pop("managedFields", None)
    return obj


def _pod_state(pod: Obj) -> Obj:
    """What a reconcile reads of a pod (its labels and status); its spec is most of its size."""
    _without_managed_fields(pod)
    return {
        "apiVersion": pod["apiVersion"],
        "kind": pod["kind"],
        "metadata": pod["metadata"],
        "status": pod.get("status") or {},
    }


def _list_slim(kube: Kube, kind: Resource, selector: str = "") -> list[Obj]:
    """A LIST whose items keep what a reconcile compares: without managed fields (which nothing
    reads, and which are up to half of an object), read in pages, so a big class's lists take less memory."""
    slim = _pod_state if kind == POD else _without_managed_fields
    return [slim(o) for page in kube.list_pages(kind, selector, page_size=LIST_PAGE) for o in page]


def observe(kube: Kube, class_name: str, pool: Executor) -> Observed:
    selector = names.class_selector(class_name)
    # By label, not all of the cluster's: a namespace of the same name but not ours is found when
    # creating it is refused (ensure_student), which keeps the conflict check exact.
    namespaces_future = pool.submit(_list_slim, kube, NAMESPACE, selector)
    pods_future = pool.submit(_list_slim, kube, POD, selector)
    futures = [pool.submit(_list_slim, kube, kind, selector) for kind in STUDENT_KINDS]
    objects = {key_of(o): o for future in futures for o in future.result()}
    pods: dict[str, list[Obj]] = defaultdict(list)
    for pod in pods_future.result():
        pods[pod["metadata"]["namespace"]].append(pod)
    namespaces = {n["metadata"]["name"]: n for n in namespaces_future.result()}
    return Observed(namespaces, objects, pods)


_POLICIES = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")]
_BINDINGS = BY_KIND[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")]


def admission_policies_condition(kube: Kube, generation: int) -> Obj:
    """Whether the admission policies of student namespaces are installed: two small labelled LISTs."""
    selector = f"{names.PART_OF}=vwclass"
    try:
        policies = {p["metadata"]["name"] for p in kube.list(_POLICIES, selector)}
        bindings = {b["metadata"]["name"] for b in kube.list(_BINDINGS, selector)}
    except ApiError as error:
        if error.status == 404:  # a server without the v1 API: nothing guards the namespaces
            return admission.condition(generation, admission.missing_policies(set(), set()))
        if error.status == 403:
            return admission.condition(generation, None)
        raise
    return admission.condition(generation, admission.missing_policies(policies, bindings))


def owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences", []))


def _decode(secret: Obj) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def _credentials(kube: Kube, cls: ClassSpec, student: Student, observed: Observed) -> tuple[dict[str, str], int]:
    """The node's passwords: read if they exist, else generated and created once (never replaced)."""
    existing = observed.objects.get((student.namespace, "v1", "Secret", names.CREDENTIALS_SECRET))
    if existing is not None and all(k in (existing.get("data") or {}) for k in names.CREDENTIAL_KEYS):
        return _decode(existing), 0
    generated = {key: secrets.token_urlsafe(24) for key in names.CREDENTIAL_KEYS}
    created = kube.create(render.credentials_secret(cls, student, generated))
    if created is not None:
        return generated, 1
    # Someone (an earlier run of ours) created it between our list and now: theirs wins, unchanged.
    current = kube.get(resource_of({"apiVersion": "v1", "kind": "Secret"}), names.CREDENTIALS_SECRET, student.namespace)
    if current is None:
        raise ApiError(409, "Conflict", f"credentials of {student.namespace} appeared and vanished; retrying")
    return _decode(current), 0


def _converge(kube: Kube, desired: Obj, actual: Obj | None) -> tuple[Obj, int]:
    """Applies desired if actual differs; replaces it when an apply cannot remove what others added."""
    if not drift.differs(desired, actual):
        assert actual is not None
        return actual, 0
    applied = kube.apply(desired)
    if not drift.differs(desired, applied):
        return applied, 1
    log.info(
        "replacing %s/%s %s: fields added by another manager",
        desired["metadata"].get("namespace"),
        desired["metadata"]["name"],
        desired["kind"],
    )
    return kube.replace(desired, applied["metadata"]["resourceVersion"]), 2


def ensure_student(kube: Kube, cls: ClassSpec, student: Student, observed: Observed) -> StudentResult:
    namespace = observed.namespaces.get(student.namespace)
    writes = 0
    if namespace is None:
        # Created, never applied: an apply would take over a namespace that is not the class's. The
        # class's namespaces were listed by label, so a refusal means one without them (someone else's,
        # or ours with its labels taken off): read that one and judge it below.
        namespace = kube.create(render.student_namespace(cls, student))
        if namespace is None:
            namespace = kube.get(NAMESPACE, student.namespace)
            if namespace is None:
                message = f"namespace {student.namespace} appeared and vanished meanwhile; looking again"
                return StudentResult(status.StudentState(student.id, False, message))
        else:
            writes += 1
    if not owned_by(namespace, cls.uid):
        message = f"namespace {student.namespace} already exists and is not managed by class {cls.name}; left untouched"
        return StudentResult(status.StudentState(student.id, False, message, failing=True), conflict=message)
    if namespace["metadata"].get("deletionTimestamp"):
        return StudentResult(status.StudentState(student.id, False, "namespace is still being deleted"))
    values, wrote = _credentials(kube, cls, student, observed)
    writes += wrote
    credentials = rabbitmq.NodeCredentials(
        values["admin-password"], values["service-password"], values["plugin-password"]
    )
    legacy_claims = frozenset(c for c in render.LEGACY_CLAIMS if _claim_key(student, c) in observed.objects)
    desired = render.student_objects(cls, student, credentials, legacy_claims=legacy_claims)
    current: dict[Key, Obj] = {}
    for obj in desired:
        key = key_of(obj)
        actual = namespace if obj["kind"] == "Namespace" else observed.objects.get(key)
        if obj["kind"] == "PersistentVolumeClaim" and actual is not None:
            # A claim's spec is immutable (growing it needs an expandable storage class): one made by
            # an older version keeps its size, and its data.
            current[key] = actual
            continue
        current[key], wrote = _converge(kube, obj, actual)
        writes += wrote
    # What we made once but no longer want (a component switched off, the workloads of the layout
    # before the node was one pod) goes, once the node that replaces it is applied. The credentials
    # stay; so do claims, which hold a student's data, but the old RabbitMQ's, which nothing reads.
    for obj in observed.in_namespace(student.namespace):
        key = key_of(obj)
        labels = obj["metadata"].get("labels", {})
        if (
            key not in current
            and labels.get(names.CREDENTIALS_LABEL) != "true"
            and (obj["kind"] != "PersistentVolumeClaim" or obj["metadata"]["name"] == LEGACY_RABBITMQ_CLAIM)
        ):
            kube.delete(resource_of(obj), obj["metadata"]["name"], student.namespace, uid=obj["metadata"]["uid"])
            writes += 1
    node = current.get((student.namespace, "apps/v1", "StatefulSet", names.NODE_WORKLOAD))
    state = status.student_state(
        student.id,
        node,
        render.expected_components(cls),
        observed.pods.get(student.namespace, []),
        0 if cls.suspended else 1,
    )
    return StudentResult(state, writes)


def _claim_key(student: Student, name: str) -> Key:
    return (student.namespace, "v1", "PersistentVolumeClaim", name)


def _quota_exceeded(error: ApiError) -> bool:
    return error.status == 403 and "exceeded quota" in error.message


def ensure_student_safely(kube: Kube, cls: ClassSpec, student: Student, observed: Observed) -> StudentResult:
    """ensure_student, with an API error kept to this student: the others go on."""
    try:
        return ensure_student(kube, cls, student, observed)
    except ApiError as error:
        reason = "quota exceeded" if _quota_exceeded(error) else error.reason or f"HTTP {error.status}"
        state = status.StudentState(student.id, False, f"{reason}: {error.message}", failing=not error.transient)
        return StudentResult(state, error=error)


def _remove_students(kube: Kube, cls: ClassSpec, observed: Observed) -> int:
    wanted = {s.namespace for s in cls.students}
    removed = 0
    for name, namespace in observed.namespaces.items():
        labels = namespace["metadata"].get("labels", {})
        if (
            name not in wanted
            and labels.get(names.CLASS_LABEL) == cls.name
            and owned_by(namespace, cls.uid)
            and not namespace["metadata"].get("deletionTimestamp")
        ):
            kube.delete(NAMESPACE, name, uid=namespace["metadata"]["uid"])
            removed += 1
    return removed


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_times(block: Obj | None) -> Obj:
    block = dict(block or {})
    block["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in block.get("conditions", [])
    ]
    return block


def _stalled(block: Obj | None) -> bool:
    return status.condition(block, "Stalled").get("status") == "True"


def publish_status(kube: Kube, body: Obj, new: Obj) -> int:
    """Patches status only when it changed; posts an Event when the class becomes Stalled."""
    old = body.get("status")
    if _without_times(old) == _without_times(new):
        return 0
    kube.patch_class_status(body["metadata"]["name"], status.with_transition_times(new, old, _now()))
    writes = 1
    if _stalled(new) and not _stalled(old):
        stalled = status.condition(new, "Stalled")
        post_event(kube, body, "Warning", stalled["reason"], stalled["message"])
        writes += 1
    return writes


def post_event(kube: Kube, body: Obj, kind: str, reason: str, message: str) -> None:
    meta = body["metadata"]
    now = _now()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": "default"},
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
        "type": kind,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "vwclass-operator"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        kube.create(event)
    except ApiError as error:  # an Event is a courtesy: never fail a reconcile over one
        log.warning("could not post event for %s: %s", meta["name"], error)


def _unschedulable(pods: dict[str, list[Obj]]) -> bool:
    return any(
        c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
        for namespace_pods in pods.values()
        for pod in namespace_pods
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def needs_capacity_check(body: Obj, cls: ClassSpec, observed: Observed) -> bool:
    """Whether this reconcile looks at the nodes: a spec the operator has not yet checked, a pod the
    scheduler could not place, or a class already short (to see it recover). A class whose pods all
    run costs no node or pod list at all."""
    if cls.suspended:
        return False
    old = body.get("status") or {}
    return (
        old.get("observedGeneration") != body["metadata"].get("generation")
        or status.condition(old, "Stalled").get("reason") == status.Stalled.INSUFFICIENT_CAPACITY
        or _unschedulable(observed.pods)
    )


def capacity_shortfall(kube: Kube, body: Obj, cls: ClassSpec) -> str:
    """The shortfall when the class's missing pods do not fit its usable nodes ("" when they do).

    One LIST of nodes and one of the pods holding room (finished ones filtered out on the server); the
    class's own placed pods count as used, so only its missing pods are weighed.
    """
    try:
        nodes = kube.list(NODE)
        pods = kube.list(POD, field_selector=capacity.HOLDING_ROOM)
    except ApiError as error:  # an install without the nodes rule: the class just goes unchecked
        log.warning("class %s: cannot check capacity: %s", cls.name, error)
        return ""
    verdict = capacity.assess(cls, nodes, pods, *capacity.placement_of(body.get("spec") or {}))
    return "" if verdict.fits else verdict.message


def reconcile_class(kube: Kube, name: str, pool: Executor) -> Outcome:
    body = kube.get(CLASS, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return Outcome()  # garbage collection removes the namespaces; nothing of ours to do
    generation = int(body["metadata"].get("generation", 0))
    try:
        cls = parse_class(body)
    except InvalidClass as invalid:
        # It slipped past admission (an older CRD, or a write that skipped validation): say so, once.
        message = f"invalid spec: {invalid}"
        new = status.class_status(
            generation, [], bool(body.get("spec", {}).get("suspended")), status.Stalled.INVALID_SPEC, message
        )
        return Outcome(writes=publish_status(kube, body, new))
    try:
        observed = observe(kube, name, pool)
    except ApiError as error:
        if error.status == 403:  # cannot even look: every student is unknown, and the class says why
            unknown = [
                status.StudentState(s.id, False, "not reconciled: the operator lacks a permission")
                for s in cls.students
            ]
            # Not even allowed to say so: the controller's log still does.
            with contextlib.suppress(ApiError):
                publish_status(
                    kube,
                    body,
                    status.class_status(
                        generation, unknown, cls.suspended, status.Stalled.PERMISSION_DENIED, error.message
                    ),
                )
        raise
    shortfall = capacity_shortfall(kube, body, cls) if needs_capacity_check(body, cls, observed) else ""
    results = list(pool.map(lambda s: ensure_student_safely(kube, cls, s, observed), cls.students))
    writes = sum(r.writes for r in results) + _remove_students(kube, cls, observed)
    conflicts = [r.conflict for r in results if r.conflict]
    errors = [r.error for r in results if r.error is not None]
    # Missing RBAC does not fix itself: the class says which verb on which resource was refused.
    denied = [e for e in errors if e.status == 403 and not _quota_exceeded(e)]
    stalled_reason: status.Stalled | None = None
    stalled_message = ""
    if denied:
        stalled_reason, stalled_message = status.Stalled.PERMISSION_DENIED, denied[0].message
    elif conflicts:
        stalled_reason = status.Stalled.NAMESPACE_CONFLICT
        stalled_message = "; ".join(conflicts[:5]) + (f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else "")
    elif shortfall and not all(r.state.ready for r in results):
        # Pods would wait Pending without a word; the class names what the nodes lack instead.
        stalled_reason, stalled_message = status.Stalled.INSUFFICIENT_CAPACITY, shortfall
    new = status.class_status(generation, [r.state for r in results], cls.suspended, stalled_reason, stalled_message)
    new["conditions"].append(admission_policies_condition(kube, generation))
    try:
        writes += publish_status(kube, body, new)
    except ApiError as error:
        if not errors:
            raise
        log.warning("class %s: cannot publish status: %s", name, error)
    if errors:
        raise errors[0]  # after the status says why: the controller backs off and tries again
    counts = {"students_ready": new["students"]["ready"], "students_desired": new["students"]["desired"]}
    if writes == 0 and all(r.state.ready for r in results):
        return Outcome(writes=0, **counts)
    # Waiting on a person (a name conflict, a bad image) needs no fast polling; provisioning does.
    if writes == 0 and stalled_reason is status.Stalled.INSUFFICIENT_CAPACITY:
        recheck = CAPACITY_RECHECK
    elif writes == 0 and all(r.state.ready or r.state.failing for r in results):
        recheck = STALLED_RECHECK
    else:
        recheck = PROVISIONING_RECHECK
    return Outcome(requeue_after=recheck, writes=writes, **counts)
