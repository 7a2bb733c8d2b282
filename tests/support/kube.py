"""Small waiting and naming helpers for tests that talk to the real API server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vwclass.kube.api import ApiError, Kube
from vwclass.testenv.processes import free_port as free_port  # the tests' one port picker

T = TypeVar("T")


def status_of(call: Callable[[], object]) -> int:
    """The HTTP status a request got: 200 when it succeeded."""
    try:
        call()
    except ApiError as error:
        return error.status
    return 200


def as_student(kube: Kube, namespace: str) -> Kube:
    """A client holding a TokenRequest token of the namespace's `student` account, as handed out."""
    from kubernetes import client

    token = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/student/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )["status"]["token"]
    teacher = kube.api_client.configuration
    configuration = client.Configuration()
    configuration.host = teacher.host
    configuration.ssl_ca_cert = teacher.ssl_ca_cert
    configuration.verify_ssl = teacher.verify_ssl
    configuration.api_key = {"BearerToken": f"Bearer {token}"}
    return Kube(client.ApiClient(configuration))


def get_text(kube: Kube, path: str) -> str:
    """A plain-text GET, such as the API server's /metrics (the operator never needs one)."""
    response = kube.api_client.call_api(
        "GET", kube.api_client.configuration.host + path, {"Accept": "text/plain"}, None, _request_timeout=60
    )
    data = response.read()
    if not 200 <= response.status < 300:
        raise ApiError(response.status, response.reason or "", data.decode(errors="replace"))
    return str(data.decode())


def unique(prefix: str) -> str:
    """A DNS-1123 name unlikely to collide with other tests' objects."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def eventually(check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.5, what: str = "") -> T:
    """Polls check() until it returns a truthy value (which is returned) or raises at the timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except Exception as error:  # the condition may not be checkable yet (404 and the like)
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}: last {last!r}")
        time.sleep(interval)


def token_kubeconfig(kube: Kube, namespace: str, account: str, path: Path, seconds: int = 3600) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount (a user with only the permissions it is given)."""
    token = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}},
    )["status"]["token"]
    cfg = kube.api_client.configuration
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": cfg.host, "certificate-authority": cfg.ssl_ca_cert}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account}}],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
