"""Starts the operator in the foreground (`vwclass operator`, `python -m vwclass.operator`, the container)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import kopf

from vwclass.kube.connect import connect
from vwclass.operator import handlers  # noqa: F401  (registers the handlers)


def configure_logging() -> None:
    """One line per event, through kopf's one handler (a second handler would print every line twice)."""
    kopf.configure(verbose=False)
    # urllib3 warns of each low-level retry; vwclass.kube already logs the request that is retried.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # A line per kubelet probe of /healthz (every 10 s in a pod) buries the operator's own lines.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("kopf.activities.probe").setLevel(logging.WARNING)


# glibc's mallopt() parameter that caps how many malloc arenas the process makes.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Caps glibc's malloc arenas, before the operator's threads start; False where there is no glibc.

    glibc gives threads that allocate at once arenas of their own, up to 8 per core, and memory freed
    in one arena serves only that arena: the student threads of a reconcile, each decoding answers of
    the API server, left the process holding several arenas' worth of free memory after a big class.
    (The same as MALLOC_ARENA_MAX in the environment, but wherever the operator is started from.)
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl or another libc: nothing to cap
        return False


def run(
    kubeconfig: str | None = None,
    context: str | None = None,
    liveness: str | None = "http://0.0.0.0:8080/healthz",
    resync_seconds: float = 120.0,
    metrics_address: str | None = None,
) -> None:
    """Runs until interrupted. One replica: kopf peering is off on purpose (standalone).

    Prometheus metrics are served on metrics_address (host:port; None: not served).
    """
    limit_malloc_arenas()
    configure_logging()
    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=liveness,
        memo=kopf.Memo(
            kube=connect(kubeconfig, context), resync_seconds=resync_seconds, metrics_address=metrics_address
        ),
    )
