"""Runs reconciles: one at a time per class, coalescing requests, with backoff on failure and resync.

Handlers only ask for a class to be reconciled; this queue decides when. A request that arrives while
that class is being reconciled runs once more afterwards, so no change is ever lost, and a burst of
child events (a class of 300 becoming ready) costs a few reconciles, not thousands.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from vwclass.kube.api import ApiError, Kube
from vwclass.kube.resources import CLASS
from vwclass.operator.reconcile import reconcile_class

log = logging.getLogger("vwclass.controller")
# Short enough that a class recovers within a minute of an outage ending.
MAX_BACKOFF = 60.0
TRANSIENT_BACKOFF = 8.0


class Controller:
    def __init__(
        self, kube: Kube, *, student_workers: int = 16, parallel_classes: int = 4, resync_seconds: float = 120.0
    ) -> None:
        self.kube = kube
        self.pool = ThreadPoolExecutor(student_workers, thread_name_prefix="vwclass-student")
        self.resync_seconds = resync_seconds
        self.reconciles: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._slots = asyncio.Semaphore(parallel_classes)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._resync: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._resync = self._loop.create_task(self._resync_forever())

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        if self._resync:
            self._resync.cancel()
        for task in list(self._tasks):
            task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def request(self, name: str, delay: float = 0.0) -> None:
        """Reconcile `name` in `delay` seconds, or sooner if already due sooner."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if name in self._timers and self._due[name] <= due:
            return
        if name in self._timers:
            self._timers[name].cancel()
        self._due[name] = due
        self._timers[name] = loop.call_at(due, self._fire, name)

    def request_from_thread(self, name: str, delay: float = 0.0) -> None:
        """request(), from a thread other than the operator's event loop."""
        assert self._loop is not None, "the controller is not started"
        self._loop.call_soon_threadsafe(self.request, name, delay)

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
                outcome = await asyncio.to_thread(reconcile_class, self.kube, name, self.pool)
            self.reconciles[name] += 1
            self.failures[name] = 0
            if outcome.writes:
                log.info("class %s: %d writes", name, outcome.writes)
            if outcome.requeue_after is not None:
                self.request(name, outcome.requeue_after)
        except ApiError as error:
            self._retry(name, error)
        except Exception as error:  # a bug must not stop every other class: log it and back off
            log.exception("class %s: reconcile failed", name)
            self._retry(name, error)
        finally:
            self._running.discard(name)
            if name in self._again:
                self._again.discard(name)
                self.request(name, 0.5)

    def _retry(self, name: str, error: Exception) -> None:
        self.failures[name] += 1
        # An unreachable or overloaded API server is nobody's mistake: keep trying often, so the
        # class moves on soon after it is back. Anything else backs off further each time.
        cap = TRANSIENT_BACKOFF if isinstance(error, ApiError) and error.transient else MAX_BACKOFF
        delay = min(2.0 ** self.failures[name], cap)
        log.warning("class %s: %s; retrying in %.0fs", name, error, delay)
        self.request(name, delay)

    async def _resync_forever(self) -> None:
        """The level-triggered safety net: every class is compared with the cluster now and then."""
        while True:
            await asyncio.sleep(self.resync_seconds)
            try:
                classes = await asyncio.to_thread(self.kube.list, CLASS)
            except ApiError as error:
                log.warning("resync: cannot list classes: %s", error)
                continue
            for body in classes:
                self.request(body["metadata"]["name"])
