"""The kopf handlers: each only asks the controller to reconcile a class; no logic lives here.

The class's create, update and resume, and every event on an object the class owns (found by label),
lead to the same level-based reconcile; a child's event asks it to compare the class's objects only
when the event may have changed one of them (vwclass.operator.changes), not for a status update.
No finalizer, timer or daemon is registered on the class, so deleting it works while the operator is
down (garbage collection removes the namespaces).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import CLASS, DAEMONSET, NAMESPACE, POD, STUDENT_KINDS
from vwclass.operator.changes import Remembered
from vwclass.operator.controller import Controller
from vwclass.operator.metrics import OperatorMetrics
from vwclass.operator.reconcile import Memory, Outcome, reconcile_class
from vwclass.operator.timekeeping import utc_now

# Child events arrive in bursts while a class provisions; a short delay folds them into one reconcile.
CHILD_DEBOUNCE = 1.0
# Threads that bring one class's students up in parallel, shared by every class.
STUDENT_WORKERS = 16
# The kinds whose events lead to their class's reconcile, and the objects of them that are ours.
CHILD_KINDS = (NAMESPACE, POD, *STUDENT_KINDS, DAEMONSET)
CHILD_SELECTOR = f"{names.MANAGED_BY}={names.MANAGED_BY_VALUE},{names.CLASS_LABEL}"
# Pods of any manager: the students' plugin pods (`vwclass plugin`) are their activity (spec.idleTimeout).
POD_SELECTOR = names.CLASS_LABEL


class RetryForever:
    """kopf's delays between attempts of an API request, never running out.

    kopf's default gives up after about a minute; a watch that gives up is never reopened, and the
    operator would run on without noticing its classes' changes. A controller outlives any outage of
    the API server, as client-go's reflectors do. Iterable again for every request (not a generator).
    """

    def __iter__(self) -> Iterator[float]:
        yield from (1, 1, 2, 3, 5)
        yield from itertools.repeat(8.0)


class ClassDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base (the last handled spec, kept in an annotation), for the class only.

    kopf builds one for every event of every watched kind: a deep copy of the whole object (managed
    fields and all), then a diff of it against nothing, for each status update of each pod, claim and
    quota of every student. Only the class has change handlers; a child's event asks for a reconcile
    and nothing more, so its diff base is empty and costs nothing.
    """

    @staticmethod
    def _is_class(body: kopf.Body) -> bool:
        return body.get("kind") == names.KIND and body.get("apiVersion") == names.API_VERSION

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        if not self._is_class(body):
            return kopf.BodyEssence()
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return super().fetch(body=body) if self._is_class(body) else None


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Progress in annotations under our own prefix; status stays ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = ClassDiffBaseStorage(prefix=names.GROUP, key="last-handled-configuration")
    # kopf would post an Event for every successful handler: writes in a steady state. Only warnings.
    settings.posting.level = logging.WARNING
    # ...and log a line for every child event: thousands while a big class provisions.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # A watch that silently stops delivering must be noticed and reopened.
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    settings.networking.error_backoffs = RetryForever()
    # Child watches are filtered by label on the server (the handlers' labels= only filter client-side,
    # after every pod and secret of the cluster has crossed the wire and been parsed).
    for kind in CHILD_KINDS:
        group, _slash, version = kind.api_version.rpartition("/")
        settings.watching.label_selectors[group, version, kind.plural] = POD_SELECTOR if kind == POD else CHILD_SELECTOR
    if "kube" not in memo:  # started by `kopf run -m vwclass.operator.handlers`, not by our runner
        memo.kube = connect()
    kube: Kube = memo.kube
    pool = memo.student_pool = ThreadPoolExecutor(STUDENT_WORKERS, thread_name_prefix="vwclass-student")
    resync_seconds = memo.get("resync_seconds", 120.0)
    clock = memo.get("clock", utc_now)  # tests run schedules and expiries on a virtual one
    # A settled comparison stands for at most a resync: then every object is compared again.
    memory = memo.memory = Memory(comparisons=Remembered(full_pass_seconds=resync_seconds))

    def reconcile(name: str, compare: bool) -> Outcome:
        with metrics.timing_reconcile():
            outcome = reconcile_class(kube, name, pool, memory, compare, now=clock())
        metrics.class_students(name, outcome.students_ready, outcome.students_desired)
        metrics.passed(outcome.compared)
        return outcome

    def list_classes() -> list[str]:
        return [body["metadata"]["name"] for body in kube.list(CLASS)]

    controller = memo.controller = Controller(reconcile, list_classes, resync_seconds=resync_seconds)
    metrics = memo.metrics = OperatorMetrics(kube, controller.queue_depth)
    if memo.get("metrics_address"):
        metrics.serve(memo.metrics_address)
    controller.start()


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.stop()
    memo.student_pool.shutdown(wait=False, cancel_futures=True)


@kopf.on.login()
def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    cfg = memo.kube.api_client.configuration
    if cfg.refresh_api_key_hook is not None:
        # In a pod: re-read the ServiceAccount token, which the kubelet rotates, at every (re-)login.
        cfg.refresh_api_key_hook(cfg)
    # The client keeps "Bearer <token>" under BearerToken (older releases: authorization).
    keys = cfg.api_key or {}
    token = bearer_token(keys.get("BearerToken") or keys.get("authorization") or "")
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        token=token,
    )


def bearer_token(header: str) -> str | None:
    """The token of an Authorization header's value, whatever the scheme's case, or None if empty.

    The client writes "Bearer <token>" from a kubeconfig but "bearer <token>" in a pod (its in-cluster
    loader), and kopf adds its own "Bearer ": a case-sensitive strip sent "Bearer bearer ..." (401).
    """
    scheme, _, credential = header.strip().partition(" ")
    token = credential.strip() if scheme.lower() == "bearer" else header.strip()
    return token or None


@kopf.on.probe(id="reconciles")
def probe(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    result: dict[str, int] = memo.controller.healthy()
    return result


@kopf.on.resume(names.GROUP, names.VERSION, names.PLURAL)
@kopf.on.create(names.GROUP, names.VERSION, names.PLURAL)
@kopf.on.update(names.GROUP, names.VERSION, names.PLURAL)
async def class_changed(name: str, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.request(name)


async def child_changed(labels: Mapping[str, str], event: Mapping[str, Any], memo: Any, **_: Any) -> None:
    owner = labels.get(names.CLASS_LABEL)
    if owner:
        memo.memory.watched.record(event.get("type"), event["object"])
        compare = memo.memory.comparisons.asks_for_comparison(owner, event.get("type"), event["object"])
        memo.controller.request(owner, CHILD_DEBOUNCE, compare)


for _kind in CHILD_KINDS:
    _group, _, _version = _kind.api_version.rpartition("/")
    _ours = {names.CLASS_LABEL: kopf.PRESENT}
    kopf.on.event(
        _group,
        _version,
        _kind.plural,
        id=f"child-{_kind.plural}",
        labels=_ours if _kind == POD else {names.MANAGED_BY: names.MANAGED_BY_VALUE, **_ours},
    )(child_changed)
