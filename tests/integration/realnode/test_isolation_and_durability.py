"""On the real node, a student's node is isolated by the kernel and survives the loss of its pods.

- Isolation: from A's plugin runner and from a pod A creates (as A), connections to B's RabbitMQ, B's
  data endpoint and B's pod IPs are refused or time out, while DNS answers and everything in A's own
  namespace connects. (kube-router, firewall only, enforces the NetworkPolicies with iptables and ipset.)
  The same probe from B's runner reaches B's targets: they listen, and only the policies keep A out.
- Durability: every pod of A's node deleted; once it is back, no stored record is lost, the uploaded
  file is still served, and A's kubeconfig and RabbitMQ plugin credentials (from the notes) still work.

Behaviour, not layout: targets are B's Services and every pod IP of B's node, whatever their number.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.classes import wait_ready
from tests.support.kube import eventually, unique
from tests.support.realnode import (
    ON_THE_REAL_NODE,
    RUNNER,
    RealClass,
    Student,
    class_on_the_real_node,
    container_exits,
    probe,
    query_in_runner,
    runner_image,
    stored,
)
from vwclass.kube.api import Kube
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode

BLOCKED = ("refused", "timeout")


@pytest.fixture(scope="module")
def course(cluster: Cluster, teacher: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClass]:
    handout = tmp_path_factory.mktemp("handout") / "out"
    with class_on_the_real_node(teacher, cluster, unique("iso"), handout, students=2) as course:
        yield course


def pod_ips(student: Student) -> list[str]:
    return sorted({p["status"]["podIP"] for p in student.node_pods() if p.get("status", {}).get("podIP")})


def targets_of(owner: Student) -> list[tuple[str, str, int]]:
    """Where `owner`'s node listens: its Services by DNS name, and each pod IP of its node."""
    ns = owner.namespace
    found = [
        ("rabbitmq service", f"rabbitmq.{ns}.svc.cluster.local", 5672),
        ("data-endpoint service", f"data-endpoint.{ns}.svc.cluster.local", 80),
        ("app-meta-cache service", f"app-meta-cache.{ns}.svc.cluster.local", 6379),
    ]
    for ip in pod_ips(owner):
        found += [(f"pod {ip} amqp", ip, 5672), (f"pod {ip} data api", ip, 8080), (f"pod {ip} redis", ip, 6379)]
    return found


def resolves(student: Student, pod: str, container: str, names: list[str]) -> dict[str, str]:
    code = "import json, socket, sys\nprint(json.dumps({n: socket.gethostbyname(n) for n in sys.argv[1:]}))"
    out = student.kubectl("exec", pod, "-c", container, "--", "python3", "-c", code, *names)
    answers: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return answers


def own_pod(student: Student, image: str) -> str:
    """A pod the student creates as themselves (placed with the class, which their namespace allows)."""
    name = "probe"
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probe"}},
        "spec": {
            **ON_THE_REAL_NODE,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "command": ["sleep", "infinity"],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    student.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    student.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=180s", timeout=200)
    return name


def test_another_students_node_is_unreachable_while_dns_and_the_own_namespace_work(course: RealClass) -> None:
    started = time.monotonic()
    a, b = course.students
    theirs = targets_of(b)
    ours = [
        ("own rabbitmq", "rabbitmq", 5672),
        ("own data endpoint", "data-endpoint", 80),
        ("own app-meta cache", "app-meta-cache", 6379),
        *[(f"own pod {ip}", ip, 5672) for ip in pod_ips(a)],
    ]
    # The control: B's own runner reaches all of B's targets, so they listen (class_on_the_real_node
    # has waited for every Service to route).
    b_results = probe(b, b.runner_pod(), RUNNER, theirs)
    assert set(b_results.values()) == {"connected"}, b_results

    probe_pod = own_pod(a, runner_image(a))
    # A new pod's packets pass once the policy enforcer has seen it (about a second): wait for that.
    eventually(
        lambda: set(probe(a, probe_pod, "probe", ours).values()) == {"connected"},
        timeout=60,
        interval=1,
        what="A's new pod admitted by the network and A's targets connected",
    )
    for pod, container in ((a.runner_pod(), RUNNER), (probe_pod, "probe")):
        results = probe(a, pod, container, theirs + ours)
        print(f"\nfrom A's {container}: {json.dumps(results, sort_keys=True)}")
        for what, _, _ in theirs:
            assert results[what] in BLOCKED, (pod, what, results)
        for what, _, _ in ours:
            assert results[what] == "connected", (pod, what, results)
        # DNS answers, for B's names too (a name is no secret; a connection is what is refused).
        names = [f"rabbitmq.{b.namespace}.svc.cluster.local", "kubernetes.default.svc.cluster.local", "rabbitmq"]
        answers = resolves(a, pod, container, names)
        assert all(answers[n] for n in names), answers
    a.kubectl("delete", "pod", probe_pod, "--wait=false")
    print(f"\nisolation checked from A's runner and A's own pod: {time.monotonic() - started:.1f}s")


LOGIN = """
import os, sys, pika
params = pika.ConnectionParameters(
    host="rabbitmq", port=5672, credentials=pika.PlainCredentials("plugin", sys.argv[1]),
    connection_attempts=3, retry_delay=2,
)
connection = pika.BlockingConnection(params)
print("logged in" if connection.is_open else "closed")
connection.close()
"""


def plugin_password(student: Student) -> str:
    """The RabbitMQ password the notes give the student."""
    [line] = [line for line in student.notes.read_text().splitlines() if line.strip().startswith("password:")]
    return line.split(":", 1)[1].strip()


def test_deleting_the_nodes_pods_loses_no_record_and_the_credentials_still_work(
    course: RealClass, tmp_path: Path
) -> None:
    started = time.monotonic()
    a = course.students[0]
    a.python_in_runner(
        "from pathlib import Path\nfrom waggle.plugin import Plugin\n"
        "p = Path.home() / 'kept.txt'\np.write_text('kept\\n')\n"
        "with Plugin() as plugin:\n"
        "    for i in range(5):\n        plugin.publish('durable.count', i)\n"
        "    plugin.upload_file(str(p))\n"
    )
    stored(a, "durable.count", count=5)
    stored(a, "upload")
    before = query_in_runner(a, {}, start="-24h")
    assert len(before) >= 6
    old_uids = {p["metadata"]["uid"] for p in a.node_pods()}
    assert old_uids

    # As A: every pod of A's node (A may delete pods in their namespace).
    with container_exits(a) as exits:
        for pod in a.node_pods():
            a.kubectl("delete", "pod", pod["metadata"]["name"], "--wait=true", timeout=200)
    # Each service stopped on the kubelet's SIGTERM (exit 0), none was killed when the grace period ran
    # out (137): RabbitMQ, stopped last, flushed its queues, and the deletion did not wait 30 s.
    for uid in old_uids:
        assert exits.get(uid), f"the watch saw no container of pod {uid}"
        assert all(code == 0 for code in exits[uid].values()), exits[uid]
    eventually(
        lambda: a.node_pods() and not ({p["metadata"]["uid"] for p in a.node_pods()} & old_uids),
        timeout=120,
        what="A's node pods replaced",
    )
    wait_ready(course.teacher, course.name, students=2, timeout=300)
    a.runner_pod()
    print(f"\nA's node Ready again {time.monotonic() - started:.1f}s after the first publish")

    # The kubeconfig still works (every kubectl above and below uses it), and so does the notes' password.
    assert "logged in" in a.python_in_runner(LOGIN.replace("sys.argv[1]", repr(plugin_password(a))))

    def key(record: dict[str, Any]) -> tuple[str, str, str]:
        return (str(record["timestamp"]), str(record["name"]), json.dumps(record["value"]))

    def answering() -> list[dict[str, Any]] | None:
        found = query_in_runner(a, {}, start="-24h")
        return found if len(found) >= len(before) else None

    after = eventually(answering, timeout=120, interval=3, what="A's data API answering after the restart")
    missing = {key(r) for r in before} - {key(r) for r in after}
    assert not missing, missing
    [upload] = [r for r in after if r["name"] == "upload"]
    downloaded = a.in_runner(
        "python3",
        "-c",
        "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())",
        upload["value"],
    )
    assert downloaded.strip() == "kept"
    # And the node still takes new data, from a plugin logging in with those credentials.
    a.python_in_runner("from waggle.plugin import Plugin\nwith Plugin() as p:\n    p.publish('durable.after', 1)\n")
    stored(a, "durable.after")
    print(f"\ndurability checked: {time.monotonic() - started:.1f}s")
