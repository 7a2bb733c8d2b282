"""A clock tests move: the operator reads schedules and expiries against it instead of waiting days."""

from __future__ import annotations

import datetime as dt
import time

from vwclass.kube.api import Kube
from vwclass.kube.resources import CLASS


class VirtualClock:
    """Real time plus an offset: time still passes (timeouts, pods starting), and set() jumps it."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def set(self, moment: dt.datetime) -> None:
        self.offset = moment - dt.datetime.now(dt.UTC)

    def reset(self) -> None:
        self.offset = dt.timedelta(0)


def poke(kube: Kube, name: str) -> None:
    """Makes the operator look at a class now (an annotation edit), as after a jump of the clock it
    would look by itself only when its requeue, set on the clock before the jump, comes due."""
    kube.request(
        "PATCH",
        CLASS.path(None, name),
        body={"metadata": {"annotations": {"test.vwclass.edu/poked": str(time.time())}}},
        content_type="application/merge-patch+json",
    )
