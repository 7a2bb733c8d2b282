"""What a student is handed: a kubeconfig for their ServiceAccount's short-lived token, and how to reach their node.

Pure: the token, the cluster's address and CA, and the node's plugin password come in; file contents
come out. Writing them (mode 0600) is the credentials command's job.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from vwclass.core import names

Obj = dict[str, Any]


@dataclass(frozen=True)
class Cluster:
    """How students reach the API server: its URL and how to trust it."""

    server: str
    ca_pem: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None


def kubeconfig(cluster: Cluster, class_name: str, student: str, namespace: str, token: str) -> Obj:
    """A kubeconfig that acts as the student's ServiceAccount, in the student's namespace by default."""
    entry: Obj = {"server": cluster.server}
    if cluster.ca_pem:
        entry["certificate-authority-data"] = base64.b64encode(cluster.ca_pem).decode()
    elif cluster.insecure:
        entry["insecure-skip-tls-verify"] = True
    if cluster.tls_server_name:
        entry["tls-server-name"] = cluster.tls_server_name
    name = f"{class_name}-{student}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": class_name, "cluster": entry}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": class_name, "user": name, "namespace": namespace}}],
        "current-context": name,
        "preferences": {},
    }


def notes(
    class_name: str,
    student: str,
    display_name: str,
    namespace: str,
    kubeconfig_file: str,
    expires: str,
    plugin_password: str,
    workspace_link: str | None,
) -> str:
    """The student's text file: who they are, their RabbitMQ plugin credentials, and port-forwards."""
    kubectl = f"kubectl --kubeconfig {kubeconfig_file}"
    who = f"{display_name} ({student})" if display_name else student
    lines = [
        f"Your virtual Waggle node, class {class_name}: {who}",
        f"Namespace: {namespace}",
    ]
    if workspace_link is not None:
        lines += [
            "",
            f"Your workspace in the browser (JupyterLab and a terminal on your node; expires {expires}):",
            f"  {workspace_link}",
            "  It is your login: keep it private. In its terminal, `vwclass plugin run` works as is.",
            "",
        ]
    lines += [
        f"Kubernetes access: {kubeconfig_file} (expires {expires}); keep it private.",
        f"  export KUBECONFIG=$PWD/{kubeconfig_file}    # then plain `kubectl get pods` works",
        "",
        "RabbitMQ, as your plugins log in (pywaggle):",
        "  user:     plugin",
        f"  password: {plugin_password}",
        "",
        "Reach your node from your computer (each command in a terminal of its own, left running):",
        f"  {kubectl} port-forward svc/rabbitmq 5672:5672 15672:15672",
        "      AMQP on localhost:5672; management UI on http://localhost:15672 (log in as plugin)",
        f"  {kubectl} port-forward svc/data-endpoint 8080:80",
        "      the data API on http://localhost:8080/api/v1/query (as sage-data-client queries it)",
    ]
    lines += [
        "",
        "Run a plugin on your node (no Docker needed; see `vwclass plugin --help`):",
        "  vwclass newplugin hello",
        f"  vwclass --kubeconfig {kubeconfig_file} plugin run hello --dir hello",
        "",
        "Or on your laptop against your node (with the RabbitMQ port-forward running). WAGGLE_APP_ID=laptop",
        "is registered on your node, so its messages are kept (with task and plugin `laptop`):",
        f"  WAGGLE_PLUGIN_HOST=127.0.0.1 WAGGLE_PLUGIN_PORT=5672 WAGGLE_PLUGIN_USERNAME=plugin "
        f"WAGGLE_PLUGIN_PASSWORD='{plugin_password}' WAGGLE_APP_ID={names.LAPTOP_APP_ID} python3 main.py",
        "",
    ]
    return "\n".join(lines)
