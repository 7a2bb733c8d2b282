"""Starts the operator: in the foreground (`vwclass operator`, the container) or embedded in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import TracebackType

import kopf

from vwclass.kube.connect import connect
from vwclass.operator import handlers  # noqa: F401  (registers the handlers)


def _memo(kubeconfig: str | None, context: str | None, resync_seconds: float) -> kopf.Memo:
    return kopf.Memo(kube=connect(kubeconfig, context), resync_seconds=resync_seconds)


def configure_logging() -> None:
    """One line per event, through kopf's one handler (a second handler would print every line twice)."""
    kopf.configure(verbose=False)
    # urllib3 warns of each low-level retry; vwclass.kube already logs the request that is retried.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def run(
    kubeconfig: str | None = None,
    context: str | None = None,
    liveness: str | None = "http://0.0.0.0:8080/healthz",
    resync_seconds: float = 120.0,
) -> None:
    """Runs until interrupted. One replica: kopf peering is off on purpose (standalone)."""
    configure_logging()
    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=liveness,
        memo=_memo(kubeconfig, context, resync_seconds),
    )


class EmbeddedOperator:
    """`with EmbeddedOperator(kubeconfig):` runs the operator in a thread until the block ends."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        resync_seconds: float = 120.0,
        liveness: str | None = None,
    ) -> None:
        self.memo = _memo(kubeconfig, context, resync_seconds)
        self.liveness = liveness
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="vwclass-operator", daemon=True)
        self.error: BaseException | None = None

    @property
    def kube(self):  # type: ignore[no-untyped-def]
        return self.memo.kube

    def _main(self) -> None:
        try:
            asyncio.run(
                kopf.operator(
                    clusterwide=True,
                    standalone=True,
                    memo=self.memo,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    liveness_endpoint=self.liveness,
                )
            )
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
