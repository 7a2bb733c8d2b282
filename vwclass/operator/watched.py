"""The pods and StatefulSets of each class as the watches last delivered them: what a state pass reads.

The operator's watches already receive every pod and StatefulSet of its classes (filtered by label on
the API server), and kopf has decoded each one; a state pass that LISTed them again spent most of the
operator's CPU decoding the same JSON. So the handlers keep each one here, slimmed to what a student's
state is computed from (metadata, the StatefulSet's replicas, the status).

A full pass LISTs them anyway: it replaces its class's entries with what it listed, which drops what a
watch reopened after an outage never said was deleted. An event that arrived after that LIST began wins
over the LIST's copy (it may be newer; if it is older, a newer event is on its way), so nothing the
watches said is lost to a slow LIST.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from vwclass.core import names
from vwclass.operator.changes import Key, key_of

Obj = dict[str, Any]
# The image pre-pull's DaemonSet too: its pods and its status are what status.imagePrePull says; and
# the students' namespaces, whose annotation says when the teacher last woke an idle node.
KINDS = frozenset({"Pod", "StatefulSet", "DaemonSet", "Namespace"})


def slim(obj: Obj) -> Obj:
    """What a student's state is computed from: metadata (no managed fields), a StatefulSet's replicas,
    the status. A pod's spec and a StatefulSet's template are most of their size, and nothing reads them."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    kept: Obj = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}
    if obj.get("kind") == "StatefulSet":
        kept["spec"] = {"replicas": (obj.get("spec") or {}).get("replicas", 1)}
    kept["status"] = obj.get("status") or {}
    return kept


class Watched:
    """Pods and StatefulSets by class, each with the sequence number of the event that last set it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence = 0
        # A deletion is kept as None until the next full pass, so that pass's older LIST cannot bring it back.
        self._classes: dict[str, dict[Key, tuple[int, Obj | None]]] = defaultdict(dict)

    def record(self, event_type: str | None, obj: Obj) -> None:
        """A watch event of a pod or StatefulSet of a class (anything else is not kept)."""
        owner = (obj.get("metadata", {}).get("labels") or {}).get(names.CLASS_LABEL)
        if not owner or obj.get("kind") not in KINDS:
            return
        key = key_of(obj)
        with self._lock:
            self._sequence += 1
            self._classes[owner][key] = (self._sequence, None if event_type == "DELETED" else slim(obj))

    def mark(self) -> int:
        """Where the events stand now: handed back to replace() by a full pass that LISTs after this."""
        with self._lock:
            return self._sequence

    def replace(self, class_name: str, listed: list[Obj], since: int) -> None:
        """A full pass's LISTs of the class's pods and StatefulSets, begun after mark() gave `since`."""
        with self._lock:
            old = self._classes.get(class_name, {})
            fresh = {key: entry for key, entry in old.items() if entry[0] > since}  # events after the LIST began
            for obj in listed:
                key = key_of(obj)
                if key not in fresh:
                    fresh[key] = (since, slim(obj))
            self._classes[class_name] = fresh

    def forget(self, class_name: str) -> None:
        with self._lock:
            self._classes.pop(class_name, None)

    def of_class(self, class_name: str) -> tuple[dict[str, list[Obj]], dict[Key, Obj]]:
        """The class's pods by namespace, and its other objects (StatefulSets, DaemonSet, namespaces) by
        key (shared: read, do not change)."""
        pods: dict[str, list[Obj]] = defaultdict(list)
        statefulsets: dict[Key, Obj] = {}
        with self._lock:
            entries = list(self._classes.get(class_name, {}).items())
        for key, (_sequence, obj) in entries:
            if obj is None:
                continue
            if obj["kind"] == "Pod":
                pods[key[0]].append(obj)
            else:
                statefulsets[key] = obj
        return pods, statefulsets
