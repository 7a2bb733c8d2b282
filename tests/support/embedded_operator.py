"""The operator embedded in a thread of the test process, so tests can read its controller and client."""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import Callable
from types import TracebackType

import kopf

from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.operator import handlers  # noqa: F401  (registers the handlers)


class EmbeddedOperator:
    """`with EmbeddedOperator(kubeconfig):` runs the operator in a thread until the block ends."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        resync_seconds: float = 120.0,
        liveness: str | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        """clock: what the operator takes for now (a virtual clock for schedules and expiries)."""
        self.memo = kopf.Memo(kube=connect(kubeconfig, context), resync_seconds=resync_seconds)
        if clock is not None:
            self.memo.clock = clock
        self.liveness = liveness
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="vwclass-operator", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    @property
    def kube(self) -> Kube:
        kube: Kube = self.memo.kube
        return kube

    def request(self, name: str, delay: float = 0.0) -> None:
        """Asks the operator's controller to reconcile a class, from the test's thread."""
        assert self._loop is not None, "the operator is not running"
        self._loop.call_soon_threadsafe(self.memo.controller.request, name, delay)

    async def _operator(self) -> None:
        self._loop = asyncio.get_running_loop()
        await kopf.operator(
            clusterwide=True,
            standalone=True,
            memo=self.memo,
            stop_flag=self._stop,
            ready_flag=self._ready,
            liveness_endpoint=self.liveness,
        )

    def _main(self) -> None:
        try:
            asyncio.run(self._operator())
        except BaseException as error:  # surfaced to the caller in __enter__/__exit__
            self.error = error
            self._ready.set()

    def __enter__(self) -> EmbeddedOperator:
        self._thread.start()
        if not self._ready.wait(60) or self.error:
            self._stop.set()
            raise RuntimeError(f"the operator did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(30)
