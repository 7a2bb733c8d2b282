"""Read commands and student credentials on one shared roster class (alice, bob; Jupyter on).

The credentials test is a security test: what a student's kubeconfig may and may not do is asked of
the real API server, which answers 403 for everything outside the student's own namespace and for
whatever isolates it.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import Cli, kubectl, one_line, run_vwclass
from tests.support.kube import status_of, unique
from vwclass.core import names
from vwclass.kube.api import Kube
from vwclass.kube.connect import connect
from vwclass.kube.resources import BY_KIND, CLASS

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]
COMPONENTS = ["rabbitmq", "data-endpoint", "plugin-runner", "app-meta-cache", "data-sharing-service"]


@pytest.fixture(scope="module")
def roster_class(cli: Cli, tmp_path_factory: pytest.TempPathFactory, operator: Any) -> Iterator[str]:
    roster = tmp_path_factory.mktemp("roster") / "students.csv"
    # A spreadsheet's export: a byte-order mark, an extra column, a blank line.
    roster.write_text("\ufeffid,name,email\nalice,Alice Liddell,a@example.org\n\nbob,Bob Dylan,b@example.org\n")
    name = unique("read")
    result = cli("create", name, "--roster", str(roster), "--workspace", "--wait", "--timeout", "2m")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"class {name} created: 2 students ({name}-alice ... {name}-bob)\n")
    yield name
    cli("delete", name, "--yes")


def test_list_in_every_format(cli: Cli, roster_class: str) -> None:
    table = cli("list")
    assert table.exit_code == 0
    row = next(line.split() for line in table.stdout.splitlines() if line.startswith(roster_class + " "))
    assert row[1:4] == ["2/2", "Ready", "-"]  # EXPIRES: never
    assert row[4][-1] in "smhd"
    as_json = {c["name"]: c for c in json.loads(cli("list", "-o", "json").stdout)}
    assert as_json[roster_class] | {"created": "-"} == {
        "name": roster_class,
        "ready": 2,
        "desired": 2,
        "phase": "Ready",
        "upToDate": True,
        "suspended": False,
        "suspendedBy": None,
        "nextLecture": None,
        "expires": None,
        "deletesAt": None,
        "created": "-",
    }
    as_yaml = {c["name"]: c for c in yaml.safe_load(cli("list", "-o", "yaml").stdout)}
    assert as_yaml[roster_class] == as_json[roster_class]


def test_status_shows_every_component_of_every_student(cli: Cli, roster_class: str) -> None:
    result = cli("status", roster_class)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"class {roster_class}: Ready, 2/2 students ready"
    assert lines[1].split() == [
        "STUDENT",
        "NAME",
        "NAMESPACE",
        "RABBITMQ",
        "ENDPOINT",
        "RUNNER",
        "APP-META",
        "SHARING",
        "RESTARTS",
        "REASON",
    ]
    assert lines[2].split() == ["alice", "Alice", "Liddell", f"{roster_class}-alice", *["ready"] * 5, "0", "-"]
    assert lines[3].split() == ["bob", "Bob", "Dylan", f"{roster_class}-bob", *["ready"] * 5, "0", "-"]
    data = json.loads(cli("status", roster_class, "-o", "json").stdout)
    assert data["students"][0] == {
        "student": "alice",
        "name": "Alice Liddell",
        "namespace": f"{roster_class}-alice",
        "ready": True,
        "components": dict.fromkeys(COMPONENTS, "ready"),
        "restarts": 0,
        "reason": "",
    }


def test_status_as_a_real_subprocess(kubeconfig: Path, roster_class: str) -> None:
    result = run_vwclass("--kubeconfig", str(kubeconfig), "status", roster_class, "-o", "yaml")
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert (data["phase"], data["ready"], data["desired"]) == ("Ready", 2, 2)
    assert [s["student"] for s in data["students"]] == ["alice", "bob"]


def test_shell_completion_offers_the_cluster_s_classes(kubeconfig: Path, roster_class: str) -> None:
    import os
    import subprocess

    from tests.support.cli import VWCLASS

    env = {
        **os.environ,
        "_VWCLASS_COMPLETE": "complete_bash",
        "COMP_CWORD": "4",
        "COMP_WORDS": f"vwclass --kubeconfig {kubeconfig} status {roster_class[:6]}",
    }
    result = subprocess.run([str(VWCLASS)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert roster_class in result.stdout.split()


def test_a_roster_class_cannot_be_scaled_by_number(cli: Cli, cli_kube: Kube, roster_class: str) -> None:
    result = cli("scale", roster_class, "--students", "5")
    assert result.exit_code == 2
    assert "lists its students by name (a roster), so --students cannot resize it" in one_line(result.stderr)
    body = cli_kube.get(CLASS, roster_class)
    assert body is not None
    assert "students" not in body["spec"]
    assert len(body["spec"]["roster"]) == 2


def test_credentials_for_an_unknown_student_are_refused(cli: Cli, roster_class: str, tmp_path: Path) -> None:
    result = cli("credentials", roster_class, "--student", "carol", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert (
        one_line(result.stderr) == f"error: class '{roster_class}' has no student 'carol' (its students: alice, bob)\n"
    )
    assert not (tmp_path / "out").exists()


def test_credentials_never_go_into_a_shared_directory(cli: Cli, roster_class: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "notes.md").write_text("someone else's")
    result = cli("credentials", roster_class, "--out", str(shared))
    assert result.exit_code == 2
    assert "is open to other users and holds other files" in one_line(result.stderr)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert sorted(p.name for p in shared.iterdir()) == ["notes.md"]


def _jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_credentials_confine_each_student_to_their_own_namespace(
    cli: Cli,
    cli_kube: Kube,
    roster_class: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "handout"
    issued_at = time.time()
    result = cli("credentials", roster_class, "--out", str(out), "--duration", "10m")
    assert result.exit_code == 0, result.output
    alice_ns, bob_ns = f"{roster_class}-alice", f"{roster_class}-bob"

    # Files: private, one pair per student; nothing secret on the terminal.
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert sorted(p.name for p in out.iterdir()) == [
        "alice.kubeconfig",
        "alice.link",
        "alice.txt",
        "bob.kubeconfig",
        "bob.link",
        "bob.txt",
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())
    config = yaml.safe_load((out / "alice.kubeconfig").read_text())
    token = config["users"][0]["user"]["token"]
    secret = cli_kube.get(BY_KIND[("v1", "Secret")], names.CREDENTIALS_SECRET, alice_ns)
    assert secret is not None
    password = base64.b64decode(secret["data"]["plugin-password"]).decode()
    jupyter_token = base64.b64decode(secret["data"]["jupyter-token"]).decode()
    for secret_text in (token, password, jupyter_token):
        assert secret_text not in result.stdout
        assert secret_text not in result.stderr
    assert config["contexts"][0]["context"]["namespace"] == alice_ns
    assert config["clusters"][0]["cluster"]["server"] == cli_kube.api_client.configuration.host
    assert "certificate-authority-data" in config["clusters"][0]["cluster"]

    # The note: RabbitMQ plugin credentials and how to reach the node.
    note = (out / "alice.txt").read_text()
    assert "Alice Liddell (alice)" in note
    assert f"Namespace: {alice_ns}" in note
    assert "  user:     plugin\n" in note
    assert f"  password: {password}\n" in note
    for forward in ("svc/rabbitmq 5672:5672 15672:15672", "svc/data-endpoint 8080:80"):
        assert f"kubectl --kubeconfig alice.kubeconfig port-forward {forward}" in note
    # The workspace's login link: the class gateway's node port, the kubeconfig's own token (so it expires
    # with it); the node's Jupyter token is the gateway's to add, never handed out.
    gateway = cli_kube.get(BY_KIND[("v1", "Service")], names.gateway_name(roster_class), names.OPERATOR_NAMESPACE)
    assert gateway is not None
    assert gateway["spec"]["type"] == "NodePort"
    link = (out / "alice.link").read_text().strip()
    node_port = gateway["spec"]["ports"][0]["nodePort"]
    assert re.fullmatch(rf"http://[0-9.]+:{node_port}/_login/alice\?token=[-_.A-Za-z0-9%]+", link), link
    assert link.endswith(f"token={token}")
    assert f"\n  {link}\n" in note
    assert jupyter_token not in note
    assert link not in result.stdout

    # A short-lived token: exp as --duration said (10m), and no long-lived token Secret anywhere.
    claims = _jwt_claims(token)
    assert abs(claims["exp"] - (issued_at + 600)) < 60
    assert claims["sub"] == f"system:serviceaccount:{alice_ns}:student"
    review = cli_kube.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == f"system:serviceaccount:{alice_ns}:student"
    token_secrets = [
        s
        for s in cli_kube.list(BY_KIND[("v1", "Secret")], namespace=alice_ns)
        if s.get("type") == "kubernetes.io/service-account-token"
    ]
    assert token_secrets == []

    # As alice: her default namespace works with plain kubectl.
    pods = kubectl(out / "alice.kubeconfig", "get", "pods", "-o", "name")
    assert pods.returncode == 0, pods.stderr
    assert pods.stdout.split() == [f"pod/{names.NODE_WORKLOAD}-0"]  # the whole node: one pod
    alice = connect(str(out / "alice.kubeconfig"))

    # Allowed: a Deployment of her own, and reading her pods' logs.
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "my-plugin", "namespace": alice_ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "my-plugin"}},
            "template": {
                "metadata": {"labels": {"app": "my-plugin"}},
                "spec": {"containers": [{"name": "plugin", "image": "python:3.12-slim"}]},
            },
        },
    }
    created = alice.request("POST", f"/apis/apps/v1/namespaces/{alice_ns}/deployments", body=deployment)
    assert created["metadata"]["name"] == "my-plugin"
    access = alice.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log", "namespace": alice_ns}
            },
        },
    )
    assert access["status"]["allowed"] is True
    # No kubelet behind kwok's pods: the log request may fail there, but it is authorized.
    assert (
        status_of(lambda: alice.request("GET", f"/api/v1/namespaces/{alice_ns}/pods/rabbitmq-0/log", attempts=1)) != 403
    )
    assert (
        status_of(lambda: alice.request("DELETE", f"/apis/apps/v1/namespaces/{alice_ns}/deployments/my-plugin")) == 200
    )

    # Denied by the API server itself: everything beyond her namespace, and what isolates it.
    merge = "application/merge-patch+json"
    denied = {
        "list namespaces": lambda: alice.request("GET", "/api/v1/namespaces"),
        "list bob's pods": lambda: alice.request("GET", f"/api/v1/namespaces/{bob_ns}/pods"),
        "read bob's credentials": lambda: alice.request(
            "GET", f"/api/v1/namespaces/{bob_ns}/secrets/{names.CREDENTIALS_SECRET}"
        ),
        "read kube-system's secrets": lambda: alice.request("GET", "/api/v1/namespaces/kube-system/secrets"),
        "read default's secrets": lambda: alice.request("GET", "/api/v1/namespaces/default/secrets"),
        "read the class": lambda: alice.request("GET", CLASS.path(None, roster_class)),
        "edit the class": lambda: alice.request(
            "PATCH", CLASS.path(None, roster_class), body={"spec": {"suspended": True}}, content_type=merge
        ),
        "edit her NetworkPolicy": lambda: alice.request(
            "PATCH",
            f"/apis/networking.k8s.io/v1/namespaces/{alice_ns}/networkpolicies/isolate-ingress",
            body={"spec": {"ingress": [{}]}},
            content_type=merge,
        ),
        "delete her NetworkPolicy": lambda: alice.request(
            "DELETE", f"/apis/networking.k8s.io/v1/namespaces/{alice_ns}/networkpolicies/limit-egress"
        ),
        "edit her ResourceQuota": lambda: alice.request(
            "PATCH",
            f"/api/v1/namespaces/{alice_ns}/resourcequotas/student-quota",
            body={"spec": {"hard": {"pods": "1000"}}},
            content_type=merge,
        ),
        "edit her RoleBinding": lambda: alice.request(
            "PATCH",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{alice_ns}/rolebindings/student",
            body={"metadata": {"labels": {"mine": "yes"}}},
            content_type=merge,
        ),
        "bind herself to cluster-admin": lambda: alice.request(
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{alice_ns}/rolebindings",
            body={
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "root"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "student", "namespace": alice_ns}],
            },
        ),
    }
    assert {what: status_of(call) for what, call in denied.items()} == dict.fromkeys(denied, 403)
    # Bob's own kubeconfig, by contrast, reads bob's namespace.
    bob = connect(str(out / "bob.kubeconfig"))
    assert status_of(lambda: bob.request("GET", f"/api/v1/namespaces/{bob_ns}/pods")) == 200


def test_credentials_for_one_student_only(cli: Cli, roster_class: str, tmp_path: Path) -> None:
    out = tmp_path / "bob-only"
    result = cli("credentials", roster_class, "--student", "bob", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["bob.kubeconfig", "bob.link", "bob.txt"]
    assert result.stdout.splitlines()[0].split() == ["STUDENT", "NAMESPACE", "KUBECONFIG", "NOTES", "EXPIRES"]
    claims = _jwt_claims(yaml.safe_load((out / "bob.kubeconfig").read_text())["users"][0]["user"]["token"])
    assert abs(claims["exp"] - (time.time() + 8 * 3600)) < 120  # the default duration, 8h
