"""Starts the operator in the foreground (`vwclass operator`, `python -m vwclass.operator`, the container)."""

from __future__ import annotations

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
    configure_logging()
    kopf.run(
        clusterwide=True,
        standalone=True,
        liveness_endpoint=liveness,
        memo=kopf.Memo(
            kube=connect(kubeconfig, context), resync_seconds=resync_seconds, metrics_address=metrics_address
        ),
    )
