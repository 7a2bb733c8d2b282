"""Runs reconciles: one at a time per class, coalescing requests, with backoff on failure and resync.

Handlers only ask for a class to be reconciled; this queue decides when. A request that arrives while
that class is being reconciled runs once more afterwards, so no change is ever lost, and a burst of
child events (a class of 300 becoming ready) costs a few reconciles, not thousands. A request says
whether the class's objects must be compared again (compare), or only its students' state may have
moved; the next reconcile compares if any request since the last one began asked it to.

What a reconcile does, and how the classes are listed for the resync, is handed in (as controller-runtime
hands a reconciler to its controller), so the queue can be tested alone with fake reconciles.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from vwclass.kube.api import ApiError

log = logging.getLogger("vwclass.controller")
# Short enough that a class recovers within a minute of an outage ending.
MAX_BACKOFF = 60.0
TRANSIENT_BACKOFF = 8.0


class Result(Protocol):
    """What a reconcile returns: when to look again (None: on the next event), and how many writes it sent."""

    @property
    def requeue_after(self) -> float | None: ...

    @property
    def writes(self) -> int: ...

    @property
    def compared(self) -> bool: ...


Reconcile = Callable[[str, bool], Result]
"""Makes one class (by name) match its spec, comparing its objects if the flag says so (else it may
look at its students' state alone); blocking, so it runs in a thread; raises to be retried."""
ListClasses = Callable[[], Iterable[str]]
"""The names of every class, for the resync; blocking."""


def backoff(failures: int, error: Exception) -> float:
    """Seconds before the next attempt of a class that failed `failures` times in a row."""
    # An unreachable or overloaded API server is nobody's mistake: keep trying often, so the
    # class moves on soon after it is back. Anything else backs off further each time.
    cap = TRANSIENT_BACKOFF if isinstance(error, ApiError) and error.transient else MAX_BACKOFF
    return min(2.0**failures, cap)


class Controller:
    def __init__(
        self,
        reconcile: Reconcile,
        list_classes: ListClasses,
        *,
        parallel_classes: int = 4,
        resync_seconds: float = 120.0,
    ) -> None:
        self.reconcile = reconcile
        self.list_classes = list_classes
        self.resync_seconds = resync_seconds
        self.reconciles: Counter[str] = Counter()
        self.comparisons: Counter[str] = Counter()  # those of the reconciles that were full passes
        self.failures: Counter[str] = Counter()
        self._slots = asyncio.Semaphore(parallel_classes)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._compare: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._resync = asyncio.get_running_loop().create_task(self._resync_forever())

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._resync:
            self._resync.cancel()
        for task in list(self._tasks):
            task.cancel()

    def request(self, name: str, delay: float = 0.0, compare: bool = True) -> None:
        """Reconcile `name` in `delay` seconds, or sooner if already due sooner; compare: its objects
        may differ from the spec (False: only its students' state may have moved)."""
        if compare:
            self._compare.add(name)
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if name in self._timers and self._due[name] <= due:
            return
        if name in self._timers:
            self._timers[name].cancel()
        self._due[name] = due
        self._timers[name] = loop.call_at(due, self._fire, name)

    def queue_depth(self) -> int:
        """Classes waiting for a reconcile (due now or later) or being reconciled."""
        return len(self._timers.keys() | self._running | self._again)

    def healthy(self) -> dict[str, int]:
        return {
            "reconciles": sum(self.reconciles.values()),
            "failing_classes": sum(1 for v in self.failures.values() if v),
        }

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self._due.pop(name, None)
        if name in self._running:
            self._again.add(name)
            return
        task = asyncio.get_running_loop().create_task(self._reconcile(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, name: str) -> None:
        self._running.add(name)
        try:
            async with self._slots:
                compare = name in self._compare
                self._compare.discard(name)
                outcome = await asyncio.to_thread(self.reconcile, name, compare)
            self.reconciles[name] += 1
            self.comparisons[name] += outcome.compared
            self.failures[name] = 0
            if outcome.writes:
                log.info("class %s: %d writes", name, outcome.writes)
            if outcome.requeue_after is not None:
                self.request(name, outcome.requeue_after, compare=False)  # the reconcile knows what it left
        except ApiError as error:
            self._retry(name, error)
        except Exception as error:  # a bug must not stop every other class: log it and back off
            log.exception("class %s: reconcile failed", name)
            self._retry(name, error)
        finally:
            self._running.discard(name)
            if name in self._again:
                self._again.discard(name)
                self.request(name, 0.5, compare=False)  # what the request meanwhile asked is kept

    def _retry(self, name: str, error: Exception) -> None:
        self.failures[name] += 1
        delay = backoff(self.failures[name], error)
        log.warning("class %s: %s; retrying in %.0fs", name, error, delay)
        self.request(name, delay)

    async def _resync_forever(self) -> None:
        """The level-triggered safety net: every class is compared with the cluster now and then."""
        while True:
            await asyncio.sleep(self.resync_seconds)
            try:
                classes = await asyncio.to_thread(lambda: list(self.list_classes()))
            except ApiError as error:
                log.warning("resync: cannot list classes: %s", error)
                continue
            for name in classes:
                self.request(name)
