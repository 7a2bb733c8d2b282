"""Connects to the cluster of a kubeconfig (and context), or in-cluster when running in a pod."""

from __future__ import annotations

import os

from kubernetes import client, config

from vwclass.kube.api import Kube

# Enough connections for the operator's bounded fan-out across students (the default is 5 x CPUs).
POOL_SIZE = 32


def configuration(kubeconfig: str | None = None, context: str | None = None) -> client.Configuration:
    """The client configuration: explicit kubeconfig, else $KUBECONFIG/~/.kube/config, else in-cluster."""
    cfg = client.Configuration()
    default_path = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
    if kubeconfig or context or os.path.exists(default_path) or "KUBERNETES_SERVICE_HOST" not in os.environ:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    else:
        config.load_incluster_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = POOL_SIZE
    return cfg


def context_namespace(kubeconfig: str | None = None, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's (current or named) context names; None when it names none."""
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = (chosen or {}).get("context", {}).get("namespace")
    return str(namespace) if namespace else None


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    return Kube(client.ApiClient(configuration(kubeconfig, context)))
