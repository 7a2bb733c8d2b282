"""A pod as a student starts one beside their node: restricted, as a student namespace's Pod Security demands."""

from __future__ import annotations

from typing import Any


def student_pod(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A pause container, non-root, no privilege escalation, every capability dropped; no requests of
    its own (the namespace's LimitRange gives it its defaults)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "plugin",
                    "image": "registry.k8s.io/pause:3.10",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
