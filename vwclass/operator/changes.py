"""What a class's last comparison left, and whether a child's event asks for another one.

A full pass renders every student and compares each of its objects with the cluster: the right thing
when something of the class may differ from its spec, and most of the operator's cost. While a class
provisions, almost every event is a pod, StatefulSet, claim or quota status changing, which moves a
student's state and nothing the pass compares. So a full pass remembers a fingerprint of each object it
compared (its content without status and bookkeeping), and an event asks for a comparison only when its
object's fingerprint differs from that memory, or something remembered is deleted. Other events lead to
a state pass: the status recomputed from the pods and node StatefulSets the watches delivered.

Nothing here reads the cluster; the reconcile and the handlers feed it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # (namespace, apiVersion, kind, name)
# What changes without anyone changing the object's desired content: written by the API server and by
# the controllers through the status subresource.
_BOOKKEEPING = ("resourceVersion", "managedFields", "generation", "creationTimestamp")
# Kinds a pass never changes once made (a claim's spec is immutable, and its binding is the controllers'
# business): only their coming and going matters.
KEPT_AS_MADE = frozenset({"PersistentVolumeClaim"})


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), obj["apiVersion"], obj["kind"], meta["name"])


def fingerprint(obj: Obj) -> str:
    """A digest of an object's content, status and bookkeeping left out: equal for the object we
    wrote and for its later status updates, different after anyone's edit of it (removals too)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _BOOKKEEPING}
    content = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    text = json.dumps([meta, content], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class Comparison:
    """One class's last full pass that left nothing to do: whose class and spec, when, and what it saw."""

    uid: str
    generation: int
    at: float
    fingerprints: dict[Key, str]


@dataclass
class Remembered:
    """The last settled comparison of each class, by name (shared by the handlers and the reconciles)."""

    full_pass_seconds: float = 120.0
    classes: dict[str, Comparison] = field(default_factory=dict)

    def settled(self, name: str, comparison: Comparison | None) -> None:
        """A full pass of `name` ended with nothing left to write (or, None, it did not)."""
        if comparison is None:
            self.classes.pop(name, None)
        else:
            self.classes[name] = comparison

    def still_valid(self, name: str, uid: str, generation: int) -> bool:
        """Whether a state pass may stand in for a full pass of this class now."""
        comparison = self.classes.get(name)
        return (
            comparison is not None
            and comparison.uid == uid
            and comparison.generation == generation
            and time.monotonic() - comparison.at < self.full_pass_seconds
        )

    def asks_for_comparison(self, name: str, event_type: str | None, obj: Obj) -> bool:
        """Whether a child's event may have changed something a full pass compares."""
        if obj.get("kind") == "Pod":
            return False  # pods are the StatefulSet controller's: only their state is read
        comparison = self.classes.get(name)
        if comparison is None:
            return True
        remembered = comparison.fingerprints.get(key_of(obj))
        if event_type == "DELETED":
            return remembered is not None  # gone, and wanted; unknown ones were ours to remove
        if obj.get("kind") in KEPT_AS_MADE:
            return remembered is None
        return remembered != fingerprint(obj)
