"""A class of two students, and an API client for each student's ServiceAccount token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.classes import class_body, delete_class, wait_ready
from tests.support.embedded_operator import EmbeddedOperator
from vwclass.kube.api import Kube


@pytest.fixture(scope="module")
def classroom(kube: Kube, kubeconfig: Path) -> Iterator[str]:
    with EmbeddedOperator(str(kubeconfig)):
        kube.apply(class_body("sec", students=2))
        wait_ready(kube, "sec", 2)
        yield "sec"
        delete_class(kube, "sec")


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
