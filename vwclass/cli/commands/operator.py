"""`vwclass operator`: runs the operator in the foreground (what the container image runs)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from vwclass.cli import manifests, output, session

if TYPE_CHECKING:
    from vwclass.kube.api import Kube


def _in_cluster_operator_running(kube: Kube) -> bool:
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import BY_KIND

    try:
        deployment = kube.get(
            BY_KIND[("apps/v1", "Deployment")], manifests.OPERATOR_DEPLOYMENT, manifests.OPERATOR_NAMESPACE
        )
    except ApiError:
        return False  # not ours to read: nothing to warn about
    return bool(deployment and int(deployment.get("status", {}).get("readyReplicas") or 0) > 0)


def operator(
    ctx: typer.Context,
    liveness: Annotated[
        str,
        typer.Option(
            "--liveness",
            metavar="URL",
            help="Liveness endpoint, probed in-cluster; empty for none.",
        ),
    ] = "http://0.0.0.0:8080/healthz",
    resync_seconds: Annotated[
        float,
        typer.Option(
            "--resync-seconds",
            metavar="SECONDS",
            help="How often every class is compared with what exists.",
            min=1.0,
        ),
    ] = 120.0,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            metavar="HOST:PORT",
            help="Serve Prometheus metrics there (the Deployment: 0.0.0.0:9090); empty for none.",
        ),
    ] = "",
) -> None:
    """Run the operator in the foreground (until Ctrl-C).

    What the in-cluster Deployment runs; run it on your machine instead with `vwclass install --without-operator`.
    """
    where = session.target(ctx)
    kube = session.connect(ctx)
    # Fail here, in one line, rather than retrying inside kopf when the cluster cannot be reached.
    kube.request("GET", "/version", attempts=2, timeout=10.0)
    in_a_pod = "KUBERNETES_SERVICE_HOST" in os.environ and not where.kubeconfig
    if not in_a_pod and _in_cluster_operator_running(kube):
        output.note(
            f"warning: the in-cluster operator ({manifests.OPERATOR_NAMESPACE}/{manifests.OPERATOR_DEPLOYMENT}) is "
            "running too; two operators do the same work twice (stop it with `kubectl -n vwclass-system scale "
            "deployment vwclass-operator --replicas=0`)"
        )
    from vwclass.operator.runner import run

    run(where.kubeconfig, where.context, liveness or None, resync_seconds, metrics or None)
