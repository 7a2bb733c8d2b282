"""What the clock does to a class in a reconcile: suspends or resumes it by its schedule and expiry,
deletes it once expired past its grace, and says when to look again.

The decisions are vwclass.core.lifecycle's; this is the I/O around them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from vwclass.core import lifecycle
from vwclass.core.spec import ClassSpec
from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS
from vwclass.operator.publish import post_event

log = logging.getLogger("vwclass.reconcile")
Obj = dict[str, Any]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def in_effect(cls: ClassSpec, plan: lifecycle.Plan) -> ClassSpec:
    """The class as it should run now: suspended when the teacher, its schedule or its expiry says so."""
    suspended = plan.suspended_by is not None
    return cls if suspended == cls.suspended else dataclasses.replace(cls, suspended=suspended)


def clock_moved(body: Obj, plan: lifecycle.Plan) -> bool:
    """The plan suspends or resumes the class since its last status: what should exist changed."""
    published = (body.get("status") or {}).get("suspendedBy")
    return published != (str(plan.suspended_by) if plan.suspended_by else None)


def next_look(requeue_after: float | None, plan: lifecycle.Plan, now: dt.datetime) -> float | None:
    """The sooner of the reconcile's own requeue and the plan's next change (at least a second away)."""
    return sooner(requeue_after, plan.next_change, now)


def sooner(requeue_after: float | None, moment: dt.datetime | None, now: dt.datetime) -> float | None:
    """The sooner of a requeue and a moment to look again at (at least a second away)."""
    if moment is None:
        return requeue_after
    due = max(1.0, (moment - now).total_seconds())
    return due if requeue_after is None else min(requeue_after, due)


def delete_expired(kube: Kube, body: Obj, cls: ClassSpec) -> int:
    """Deletes an expired class whose grace is over (garbage collection takes its namespaces); the writes."""
    assert cls.expiry is not None
    expired, grace = lifecycle.timestamp(cls.expiry.at), body["spec"].get("expiryGracePeriod")
    message = f"deleting the class with its students' namespaces and data: it expired at {expired}, {grace} ago"
    log.warning("class %s: %s", cls.name, message)
    post_event(kube, body, "Warning", "ExpiredClassDeleted", message)
    kube.delete(CLASS, cls.name, uid=cls.uid or None)
    return 2
