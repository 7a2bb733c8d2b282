"""The one reconcile: makes every student namespace of a class match its spec, then reports status.

Level-based, as controller-runtime's: it gets a class name, never an event. A full pass lists what
exists by label (one LIST per kind for the whole class), renders what should exist, and writes only
where the two differ, so a resync of an unchanged class sends no write at all. When nothing but the
students' state can have moved since the last settled full pass (vwclass.operator.changes), a state
pass recomputes the status from the pods and node StatefulSets the watches delivered
(vwclass.operator.watched), and lists, renders and compares nothing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from vwclass.core import admission, lifecycle, names, rabbitmq, render, status
from vwclass.core.schema import InvalidClass
from vwclass.core.spec import ClassSpec, Student, parse_class
from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import CLASS, DAEMONSET, NAMESPACE, POD, STUDENT_KINDS, Resource, resource_of
from vwclass.operator import gatewaying, idling, prepulling, stopping, timekeeping
from vwclass.operator.capacity_check import capacity_shortfall, needs_capacity_check
from vwclass.operator.changes import Comparison, Key, Remembered, fingerprint, key_of
from vwclass.operator.converging import converge, list_in_operator_namespace
from vwclass.operator.publish import admission_policies_condition, publish_status
from vwclass.operator.watched import Watched, slim

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]
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


@dataclass
class Observed:
    """Everything of one class that exists now, listed once per full pass."""

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
class Memory:
    """What the operator keeps between passes: each class's last settled comparison, and the pods and
    StatefulSets its watches delivered. A reconcile without one (run alone) always makes a full pass."""

    comparisons: Remembered = field(default_factory=Remembered)
    watched: Watched = field(default_factory=Watched)
    last_messages: idling.LastMessages = field(default_factory=idling.LastMessages)


@dataclass
class StudentResult:
    state: status.StudentState
    writes: int = 0
    conflict: str = ""
    error: ApiError | None = None
    # What the student's objects were once compared (None: it stopped before), for changes.Remembered.
    fingerprints: dict[Key, str] | None = None


@dataclass
class Outcome:
    """What the controller should do next: requeue_after seconds, or nothing until an event."""

    requeue_after: float | None = None
    writes: int = 0
    # The class's students as this reconcile found them, for the metrics (None: no class to count).
    students_ready: int | None = None
    students_desired: int | None = None
    compared: bool = True  # a full pass (every object compared); False: the students' state only


def _without_managed_fields(obj: Obj) -> Obj:
    obj["metadata"].pop("managedFields", None)
    return obj


def _list_slim(kube: Kube, kind: Resource, selector: str = "") -> list[Obj]:
    """A LIST whose items keep what a reconcile compares: without managed fields (which nothing
    reads, and which are up to half of an object), read in pages, so a big class's lists take less memory."""
    # A pod is kept as its state (labels and status), as the watches keep it: its spec is most of its size.
    keep = slim if kind == POD else _without_managed_fields
    return [keep(o) for page in kube.list_pages(kind, selector, page_size=LIST_PAGE) for o in page]


def observe(kube: Kube, class_name: str, pool: Executor) -> Observed:
    selector = names.class_selector(class_name)
    # By label, not all of the cluster's: a namespace of the same name but not ours is found when
    # creating it is refused (ensure_student), which keeps the conflict check exact.
    namespaces_future = pool.submit(_list_slim, kube, NAMESPACE, selector)
    # Every pod of the class, its students' plugins too (managed by `vwclass plugin`): their activity.
    pods_future = pool.submit(_list_slim, kube, POD, f"{names.CLASS_LABEL}={class_name}")
    futures = [pool.submit(_list_slim, kube, kind, selector) for kind in STUDENT_KINDS]
    # The class's image pre-pull (its gateway's kinds are among the students' kinds, listed above).
    futures.append(pool.submit(list_in_operator_namespace, kube, DAEMONSET, selector, LIST_PAGE))
    objects = {key_of(o): o for future in futures for o in future.result()}
    pods: dict[str, list[Obj]] = defaultdict(list)
    for pod in pods_future.result():
        pods[pod["metadata"]["namespace"]].append(pod)
    namespaces = {n["metadata"]["name"]: n for n in namespaces_future.result()}
    return Observed(namespaces, objects, pods)


def owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences", []))


def _decode(secret: Obj) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def _credentials(kube: Kube, cls: ClassSpec, student: Student, observed: Observed) -> tuple[dict[str, str], Obj, int]:
    """The node's passwords and their Secret: read if they exist, else generated and created once
    (never replaced); and the writes that took."""
    existing = observed.objects.get((student.namespace, "v1", "Secret", names.CREDENTIALS_SECRET))
    if existing is not None and all(k in (existing.get("data") or {}) for k in names.CREDENTIAL_KEYS):
        return _decode(existing), existing, 0
    generated = {key: secrets.token_urlsafe(24) for key in names.CREDENTIAL_KEYS}
    created = kube.create(render.credentials_secret(cls, student, generated))
    if created is not None:
        return generated, created, 1
    # Someone (an earlier run of ours) created it between our list and now: theirs wins, unchanged.
    current = kube.get(resource_of({"apiVersion": "v1", "kind": "Secret"}), names.CREDENTIALS_SECRET, student.namespace)
    if current is None:
        raise ApiError(409, "Conflict", f"credentials of {student.namespace} appeared and vanished; retrying")
    return _decode(current), current, 0


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
    values, secret, wrote = _credentials(kube, cls, student, observed)
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
        current[key], wrote = converge(kube, obj, actual)
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
    current[key_of(secret)] = secret
    state = student_state(cls, student, current, observed.pods)
    return StudentResult(state, writes, fingerprints={key: fingerprint(obj) for key, obj in current.items()})


def _node_key(student: Student) -> Key:
    return (student.namespace, "apps/v1", "StatefulSet", names.NODE_WORKLOAD)


def student_state(
    cls: ClassSpec, student: Student, objects: dict[Key, Obj], pods: dict[str, list[Obj]]
) -> status.StudentState:
    """A student's state from its node StatefulSet and its pods."""
    return status.student_state(
        student.id,
        objects.get(_node_key(student)),
        render.expected_components(cls),
        pods.get(student.namespace, []),
        0 if cls.suspended else 1,
    )


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


def reconcile_class(
    kube: Kube,
    name: str,
    pool: Executor,
    memory: Memory | None = None,
    compare: bool = True,
    now: dt.datetime | None = None,
) -> Outcome:
    """Reconciles one class: a full pass, or a state pass when nothing but state changed since the
    last settled one (compare False, and `memory` holds a comparison still valid for this spec).

    now: the clock the class's schedule and expiry are read against (tests pass a virtual one)."""
    body = kube.get(CLASS, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        if memory is not None:
            memory.comparisons.settled(name, None)
            memory.watched.forget(name)
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
    moment = now or timekeeping.utc_now()
    plan = lifecycle.plan(cls.suspended, cls.schedule, cls.expiry, moment)
    if plan.delete:
        return Outcome(writes=timekeeping.delete_expired(kube, body, cls))
    cls = timekeeping.in_effect(cls, plan)
    outcome = None
    # The clock suspending or resuming the class changes what should exist: then everything is compared.
    state_only = not compare and not timekeeping.clock_moved(body, plan)
    if state_only and memory is not None and memory.comparisons.still_valid(name, cls.uid, generation):
        outcome = _state_pass(kube, body, cls, plan, pool, memory, moment)
    if outcome is None:
        outcome = _full_pass(kube, body, cls, plan, pool, memory, moment)
    outcome.requeue_after = timekeeping.next_look(outcome.requeue_after, plan, moment)
    return outcome


def _full_pass(
    kube: Kube,
    body: Obj,
    cls: ClassSpec,
    plan: lifecycle.Plan,
    pool: Executor,
    memory: Memory | None,
    now: dt.datetime,
) -> Outcome:
    """Every student rendered and each of its objects compared with the cluster, written where they differ."""
    # The last comparison stays until this one settles: events meanwhile are judged against it, so
    # the pods' churn during a long pass asks for no other, and what this pass writes does.
    try:
        return _compare_all(kube, body, cls, plan, pool, memory, now)
    except Exception:
        if memory is not None:
            memory.comparisons.settled(cls.name, None)  # a pass cut short leaves nothing to trust
        raise


def _compare_all(
    kube: Kube,
    body: Obj,
    cls: ClassSpec,
    plan: lifecycle.Plan,
    pool: Executor,
    memory: Memory | None,
    now: dt.datetime,
) -> Outcome:
    generation = int(body["metadata"].get("generation", 0))
    since = memory.watched.mark() if memory is not None else 0
    cls = gatewaying.with_api_endpoints(kube, cls)
    try:
        observed = observe(kube, cls.name, pool)
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
    if memory is not None:
        listed = [pod for pods in observed.pods.values() for pod in pods]
        listed += [obj for key, obj in observed.objects.items() if key[2] in ("StatefulSet", DAEMONSET.kind)]
        listed += list(observed.namespaces.values())
        memory.watched.replace(cls.name, listed, since)
    shortfall = capacity_shortfall(kube, body, cls) if needs_capacity_check(body, cls, observed.pods) else ""
    messages = memory.last_messages if memory is not None else idling.LastMessages()
    idle = idling.idle_students(kube, cls, body.get("status"), observed.pods, observed.namespaces, messages, pool, now)

    def ensure(student: Student) -> StudentResult:
        result = ensure_student_safely(kube, idle.in_effect(cls, student), student, observed)
        result.state = idle.mark(result.state)
        return result

    results = list(pool.map(ensure, cls.students))
    images = prepulling.ensure(kube, cls, observed.objects)
    entry = gatewaying.ensure(kube, cls, observed.objects)
    writes = sum(r.writes for r in results) + _remove_students(kube, cls, observed) + images.writes + entry.writes
    writes += stopping.stop_or_restore(kube, body, cls)
    admission_condition = admission_policies_condition(kube, generation)
    extra = {
        "imagePrePull": prepulling.status_block(cls, images.daemonset, observed.pods, images.problem),
        **_idle_status(idle),
    }
    outcome = _conclude(kube, body, cls, plan, results, shortfall, admission_condition, writes, extra)
    outcome.requeue_after = timekeeping.sooner(outcome.requeue_after, idle.next_idle, now)
    fingerprints = [r.fingerprints for r in results] + [images.fingerprints, entry.fingerprints]
    if memory is not None:
        settled = not any(r.conflict or r.error for r in results) and None not in fingerprints
        seen = {key: value for each in fingerprints if each is not None for key, value in each.items()}
        # Dated from its end: a big class's first pass (every object created) outlasts a resync period.
        comparison = Comparison(cls.uid, generation, time.monotonic(), seen) if settled else None
        memory.comparisons.settled(cls.name, comparison)
    return outcome


def _state_pass(
    kube: Kube,
    body: Obj,
    cls: ClassSpec,
    plan: lifecycle.Plan,
    pool: Executor,
    memory: Memory,
    now: dt.datetime,
) -> Outcome | None:
    """The students' state from their pods and node StatefulSets as the watches delivered them: nothing
    listed, rendered or compared. None when a student's node is not there, or should now run or stop
    for being idle or not (then a full pass is due)."""
    pods, nodes = memory.watched.of_class(cls.name)
    if any(_node_key(student) not in nodes for student in cls.students):
        return None
    namespaces = {key[3]: obj for key, obj in nodes.items() if key[2] == NAMESPACE.kind}
    idle = idling.idle_students(kube, cls, body.get("status"), pods, namespaces, memory.last_messages, pool, now)
    for student in cls.students:
        wanted = 0 if idle.in_effect(cls, student).suspended else 1
        if int((nodes[_node_key(student)].get("spec") or {}).get("replicas", 1)) != wanted:
            return None
    results = [StudentResult(idle.mark(student_state(idle.in_effect(cls, s), s, nodes, pods))) for s in cls.students]
    shortfall = capacity_shortfall(kube, body, cls) if needs_capacity_check(body, cls, pods) else ""
    generation = int(body["metadata"].get("generation", 0))
    admission_condition = status.condition(body.get("status"), admission.CONDITION)
    if admission_condition.get("observedGeneration") != generation:
        admission_condition = admission_policies_condition(kube, generation)
    extra = {"imagePrePull": prepulling.watched_status_block(cls, body, pods, nodes), **_idle_status(idle)}
    outcome = _conclude(kube, body, cls, plan, results, shortfall, admission_condition, 0, extra)
    outcome.requeue_after = timekeeping.sooner(outcome.requeue_after, idle.next_idle, now)
    outcome.compared = False
    return outcome


def _idle_status(idle: idling.Verdict) -> Obj:
    """status.runningSince, for a class whose students can be idle (spec.idleTimeout)."""
    return {"runningSince": lifecycle.timestamp(idle.running_since)} if idle.running_since else {}


def _conclude(
    kube: Kube,
    body: Obj,
    cls: ClassSpec,
    plan: lifecycle.Plan,
    results: list[StudentResult],
    shortfall: str,
    admission_condition: Obj,
    writes: int,
    extra: Obj,
) -> Outcome:
    """The class's status from its students' results (and the extra fields that are not None),
    published; and when to look again."""
    generation = int(body["metadata"].get("generation", 0))
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
    new = status.with_lifecycle(new, plan, cls.expiry, generation)
    new["conditions"].append(admission_condition)
    new.update({key: value for key, value in extra.items() if value is not None})
    try:
        writes += publish_status(kube, body, new)
    except ApiError as error:
        if not errors:
            raise
        log.warning("class %s: cannot publish status: %s", cls.name, error)
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
