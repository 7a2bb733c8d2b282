"""A class's gateway to its students' workspaces: its ConfigMap, Deployment and Service, rendered: no I/O.

One nginx per class routes /<student>/ to that student's JupyterLab, in the student's namespace. A
check beside it (vwclass.gateway) lets a request through only with a cookie holding that student's
token, set by the login link `vwclass credentials` writes. The token is the one the student's
kubeconfig carries, so a link expires with it, and deleting the student ends both.

Why nginx of our own rather than an Ingress or a Gateway API route: neither is in every cluster (MicroK8s
has no ingress controller until its addon is enabled, and no Gateway API at all), the per-request check
would need the controller's own auth annotations, which differ from one controller to the next, and
the class's one Service can still be put behind either (spec.gateway.serviceType ClusterIP).
"""

from __future__ import annotations

import hashlib
from typing import Any

from vwclass.core import names, presets, render
from vwclass.core.spec import ClassSpec

Obj = dict[str, Any]
LISTEN_PORT = 8080
CHECK_PORT = 8081


def nginx_conf() -> str:
    """The gateway's nginx configuration: the same for every class (what differs, the check knows)."""
    return render.render_text("gateway-nginx.conf.j2", {"listen_port": LISTEN_PORT, "check_port": CHECK_PORT})


def objects(cls: ClassSpec) -> list[Obj]:
    """The class's gateway ConfigMap, Deployment and Service. It keeps running while the class is
    suspended (one small pod), so a student's link says their node is not running rather than failing."""
    conf = nginx_conf()
    context = {
        "cls": cls,
        "name": names.gateway_name(cls.name),
        "namespace": names.OPERATOR_NAMESPACE,
        "component": names.GATEWAY_COMPONENT,
        "class_label": names.CLASS_LABEL,
        "common_labels": {
            names.MANAGED_BY: names.MANAGED_BY_VALUE,
            names.PART_OF: "vwclass",
            names.CLASS_LABEL: cls.name,
        },
        "account": names.GATEWAY_SERVICE_ACCOUNT,
        "student_account": names.STUDENT_SERVICE_ACCOUNT,
        "credentials_secret": names.CREDENTIALS_SECRET,
        "namespace_prefix": cls.namespace_prefix or cls.name,
        "nginx_conf": conf,
        "config_hash_annotation": names.CONFIG_HASH_ANNOTATION,
        "config_hash": hashlib.sha256(conf.encode()).hexdigest()[:16],
        "listen_port": LISTEN_PORT,
        "check_port": CHECK_PORT,
        "nginx_resources": presets.GATEWAY_CONTAINERS["nginx"],
        "check_resources": presets.GATEWAY_CONTAINERS["check"],
        "api_version": names.API_VERSION,
        "kind": names.KIND,
    }
    return render.render_template("gateway.yaml.j2", context)
