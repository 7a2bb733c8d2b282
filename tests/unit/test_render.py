"""The render core: whole student nodes from a spec, with names, labels, toggles and escaping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from vwclass.core import names, render
from vwclass.core.rabbitmq import NodeCredentials
from vwclass.core.spec import ClassSpec, parse_class


def make_class(**spec: Any) -> ClassSpec:
    if "roster" not in spec:
        spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


CREDS = NodeCredentials(admin="adm-secret", service="svc-secret", plugin="plg-secret")


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_generated_students_keep_three_digit_ids_at_any_size() -> None:
    assert [s.id for s in make_class(students=3).students] == ["student-001", "student-002", "student-003"]
    assert make_class(students=120).students[99].namespace == "bio101-student-100"


def node_pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [node] = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert (node["kind"], node["metadata"]["name"]) == ("StatefulSet", names.NODE_WORKLOAD)
    spec: dict[str, Any] = node["spec"]["template"]["spec"]
    return spec


def containers(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every container of the node's pod by name, the init containers included."""
    spec = node_pod_spec(objects)
    return {c["name"]: c for c in spec.get("initContainers", []) + spec["containers"]}


def test_a_default_node_is_one_pod_with_every_component_and_no_optional_one() -> None:
    cls = make_class(components={"workspace": False})
    objects = render.student_objects(cls, cls.students[0], CREDS)
    rendered = kinds(objects)
    assert rendered[0] == ("Namespace", "bio101-student-001")
    for expected in [
        ("Service", "rabbitmq"),
        ("Service", "app-meta-cache"),
        ("Service", "data-endpoint"),
        ("NetworkPolicy", "isolate-ingress"),
        ("ResourceQuota", "student-quota"),
        ("RoleBinding", "student"),
    ]:
        assert expected in rendered
    assert list(containers(objects)) == [
        "rabbitmq",
        "app-meta-cache",
        "register-app-meta",
        "data-sharing-service",
        "data-endpoint",
        "plugin-runner",
    ]
    assert ("Service", "playback-server") not in rendered
    assert ("Service", "workspace") not in rendered


def test_rabbitmq_is_a_native_sidecar_that_starts_before_the_others() -> None:
    cls = make_class()
    spec = node_pod_spec(render.student_objects(cls, cls.students[0], CREDS))
    rabbitmq = spec["initContainers"][0]
    assert rabbitmq["name"] == "rabbitmq"
    assert rabbitmq["restartPolicy"] == "Always"
    # The others start once its AMQP listener accepts, which RabbitMQ opens last in its boot.
    assert rabbitmq["startupProbe"]["tcpSocket"]["port"] == "amqp"
    # The one-shot registration runs after the sidecars it talks to, and keeps no restart policy.
    assert "restartPolicy" not in spec["initContainers"][-1]


@pytest.mark.parametrize("components", [{}, {"workspace": True, "playback": True}])
def test_no_probe_of_a_running_node_starts_a_vm_or_an_interpreter(components: dict[str, bool]) -> None:
    # Each rabbitmq-diagnostics call starts an Erlang VM (0.5-1 CPU-s) and each python3 about 0.2 CPU-s:
    # as periodic probes they were 3/4 of an idle node's CPU. Startup probes stop once they pass.
    cls = make_class(components=components)
    for name, container in containers(render.student_objects(cls, cls.students[0], CREDS)).items():
        for kind in ("readinessProbe", "livenessProbe"):
            command = container.get(kind, {}).get("exec", {}).get("command", [])
            words = " ".join(command).split()
            assert not {"rabbitmq-diagnostics", "python3", "python"} & set(words), (name, kind, command)


def test_every_service_selects_the_one_pod_of_the_node() -> None:
    cls = make_class(components={"workspace": True, "playback": True})
    objects = render.student_objects(cls, cls.students[0], CREDS)
    pod_labels = next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert set(services) == {"rabbitmq", "app-meta-cache", "data-endpoint", "playback-server", "workspace"}
    ports = {p["name"] for c in containers(objects).values() for p in c.get("ports", [])}
    for service in services.values():
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_one_pod_keeps_each_containers_user_and_the_restricted_security_context() -> None:
    cls = make_class(components={"playback": True})
    users = {
        name: (c["securityContext"]["runAsUser"], c["securityContext"]["runAsGroup"])
        for name, c in containers(render.student_objects(cls, cls.students[0], CREDS)).items()
    }
    assert users["rabbitmq"] == (100, 101)
    assert users["app-meta-cache"] == (999, 999)
    assert users["data-endpoint"] == users["plugin-runner"] == users["playback-server"] == (1000, 1000)
    for container in containers(render.student_objects(cls, cls.students[0], CREDS)).values():
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}


def _millicores(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


def test_the_pod_requests_what_the_capacity_bench_measured() -> None:
    # bench/realnode_capacity_bench.py, idle on the real node: rabbitmq 8-10m and 104-110 MiB, the data
    # endpoint 4-5m and 21 MiB, the data-sharing service 0.2m and 19 MiB, the app-meta cache 3m and 4 MiB.
    # Requests cover that with headroom; the runner's (the student's code) comes from the preset.
    cls = make_class(components={"playback": True})
    total = sum(
        _millicores(c["resources"]["requests"]["cpu"])
        for name, c in containers(render.student_objects(cls, cls.students[0], CREDS)).items()
        if name != "register-app-meta"  # a one-shot init container: not counted beside the others
    )
    # rabbitmq 25m, app-meta 10m, sharing 10m, endpoint 10m, playback 20m, runner (small) 100m.
    assert total == 175
    memory = containers(render.student_objects(cls, cls.students[0], CREDS))["rabbitmq"]["resources"]["requests"]
    assert memory["memory"] == "160Mi"


def mounts(objects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each container's volume mounts by mount path."""
    return {c["name"]: {m["mountPath"]: m for m in c.get("volumeMounts", [])} for c in containers(objects).values()}


def test_a_student_has_one_claim_and_the_node_mounts_it_by_subpath() -> None:
    cls = make_class(components={"workspace": True})
    objects = render.student_objects(cls, cls.students[0], CREDS)
    assert [name for kind, name in kinds(objects) if kind == "PersistentVolumeClaim"] == ["data-endpoint"]
    volumes = {v["name"]: v for v in node_pod_spec(objects)["volumes"] if "persistentVolumeClaim" in v}
    assert {v["persistentVolumeClaim"]["claimName"] for v in volumes.values()} == {"data-endpoint"}
    found = mounts(objects)
    assert found["rabbitmq"]["/var/lib/rabbitmq"]["subPath"] == "rabbitmq"
    assert found["data-endpoint"]["/data"]["subPath"] == "records"
    assert found["data-endpoint"]["/run/waggle/uploads"]["subPath"] == "uploads"
    assert found["plugin-runner"]["/run/waggle/uploads"]["subPath"] == "uploads"
    assert found["plugin-runner"]["/home/student"]["subPath"] == "workspace"


def test_a_class_from_before_one_pod_keeps_its_claims_and_its_records_where_they_were() -> None:
    cls = make_class()
    objects = render.student_objects(cls, cls.students[0], CREDS, legacy_claims=frozenset({"uploads", "workspace"}))
    volumes = {v["name"]: v for v in node_pod_spec(objects)["volumes"]}
    assert volumes["legacy-uploads"]["persistentVolumeClaim"]["claimName"] == "uploads"
    assert volumes["legacy-workspace"]["persistentVolumeClaim"]["claimName"] == "workspace"
    found = mounts(objects)
    assert found["plugin-runner"]["/home/student"] == {"name": "legacy-workspace", "mountPath": "/home/student"}
    for container in ("data-endpoint", "plugin-runner"):
        assert found[container]["/run/waggle/uploads"] == {"name": "legacy-uploads", "mountPath": "/run/waggle/uploads"}
    # The records stay at the claim's root, where the data endpoint of the old layout kept them.
    assert found["data-endpoint"]["/data"] == {"name": "node-data", "mountPath": "/data"}
    assert found["rabbitmq"]["/var/lib/rabbitmq"]["subPath"] == "rabbitmq"


def test_turning_off_the_data_sharing_service_saves_three_containers_and_switches_the_endpoint_mode() -> None:
    cls = make_class(components={"dataSharingService": False})
    objects = render.student_objects(cls, cls.students[0], CREDS)
    assert list(containers(objects)) == ["rabbitmq", "data-endpoint", "plugin-runner"]
    assert ("Service", "app-meta-cache") not in kinds(objects)
    env = {e["name"]: e.get("value") for e in containers(objects)["data-endpoint"]["env"]}
    assert env["VWCLASS_DATA_MODE"] == "validator"
    assert env["VWCLASS_DATA_RABBITMQ_HOST"] == "127.0.0.1"


def test_every_object_is_labelled_with_its_class_student_and_manager() -> None:
    cls = make_class(components={"workspace": True, "playback": True})
    for obj in render.student_objects(cls, cls.students[1], CREDS):
        labels = obj["metadata"]["labels"]
        assert labels[names.MANAGED_BY] == "vwclass"
        assert labels[names.CLASS_LABEL] == "bio101"
        assert labels[names.STUDENT_LABEL] == "student-002"
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "bio101-student-002"


def test_only_the_namespace_is_owned_by_the_class() -> None:
    cls = make_class()
    objects = render.student_objects(cls, cls.students[0], CREDS)
    assert objects[0]["metadata"]["ownerReferences"] == [
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": "bio101",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert all("ownerReferences" not in o["metadata"] for o in objects[1:])


def test_suspended_scales_the_node_to_zero() -> None:
    cls = make_class(suspended=True, components={"playback": True})
    workloads = [
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert [w["spec"]["replicas"] for w in workloads] == [0]


def test_passwords_appear_only_in_secrets_and_runner_reads_them_by_reference() -> None:
    cls = make_class(components={"workspace": True})
    for obj in render.student_objects(cls, cls.students[0], CREDS):
        if obj["kind"] != "Secret":
            text = json.dumps(obj)
            assert not any(p in text for p in ("adm-secret", "svc-secret", "plg-secret")), obj["metadata"]["name"]
    runner = containers(render.student_objects(cls, cls.students[0], CREDS))["plugin-runner"]
    env = {e["name"]: e for e in runner["env"]}
    assert env["WAGGLE_PLUGIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == names.CREDENTIALS_SECRET
    assert env["WAGGLE_PLUGIN_USERNAME"]["value"] == "plugin"


def test_the_rabbitmq_config_secret_carries_the_students_definitions() -> None:
    cls = make_class()
    secret = next(
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["metadata"]["name"] == "rabbitmq-config"
    )
    definitions = json.loads(base64.b64decode(secret["data"]["definitions.json"]))
    users = {u["name"]: u["password"] for u in definitions["users"]}
    assert users == {"admin": "adm-secret", "service": "svc-secret", "plugin": "plg-secret"}
    assert {e["name"] for e in definitions["exchanges"]} >= {"to-validator", "to-beehive", "data.topic"}


def test_a_new_password_rolls_rabbitmq_and_the_same_one_does_not() -> None:
    cls = make_class()

    def config_hash(creds: NodeCredentials) -> str:
        sts = next(o for o in render.student_objects(cls, cls.students[0], creds) if o["kind"] == "StatefulSet")
        return str(sts["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION])

    first = config_hash(CREDS)
    render._cached_student_objects.cache_clear()  # rendered again, not served from the cache
    assert config_hash(CREDS) == first
    assert config_hash(CREDS) != config_hash(NodeCredentials("a", "b", "c"))


@pytest.mark.parametrize(
    "display_name",
    [
        'Ann "the" Ann',
        "Bob: {kind: Secret}",
        "Eve\u2028---\u2029x",
        "Zoë 😀 \\ / ' `",
        "a: b\\n- c",
    ],
)
def test_a_display_name_cannot_change_any_other_field(display_name: str) -> None:
    plain = make_class(roster=[{"id": "ann"}])
    crafted = make_class(roster=[{"id": "ann", "name": display_name}])
    normal = render.student_objects(plain, plain.students[0], CREDS)
    hostile = render.student_objects(crafted, crafted.students[0], CREDS)
    assert hostile[0]["metadata"]["annotations"][names.DISPLAY_NAME_ANNOTATION] == display_name
    del hostile[0]["metadata"]["annotations"]
    assert hostile == normal


def test_node_identities_are_stable_and_unique() -> None:
    cls = make_class(students=300)
    ids = [render.node_identity(cls, s) for s in cls.students]
    assert len({i for i, _ in ids}) == 300
    assert len({v for _, v in ids}) == 300
    assert ids[0][1] == "V001"
    assert ids == [render.node_identity(cls, s) for s in cls.students]
    roster = make_class(roster=[{"id": "ann"}])
    assert render.node_identity(roster, roster.students[0])[1] == "V-ANN"


def test_the_rendered_class_manifest_round_trips_through_yaml() -> None:
    manifest = render.class_manifest("bio101", {"students": 30})
    assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest
    assert parse_class(manifest).students[-1].id == "student-030"


def test_changing_a_rendered_object_does_not_change_the_next_rendering() -> None:
    cls = make_class()
    pristine = render.student_objects(cls, cls.students[0], CREDS)
    first = render.student_objects(cls, cls.students[0], CREDS)
    assert first == pristine
    assert first is not pristine
    first[0]["metadata"]["labels"]["edited"] = "yes"
    del first[-1]["spec"]
    first.pop()
    assert render.student_objects(cls, cls.students[0], CREDS) == pristine
    assert "edited" not in render.student_objects(cls, cls.students[0], CREDS)[0]["metadata"]["labels"]


def test_placement_lands_on_every_pod_template() -> None:
    selector = {"pool": "gpu", "vwclass.testenv/real-node": "true"}
    tolerations = [
        {"key": "vwclass.testenv/real-node", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
    ]
    cls = make_class(
        components={"playback": True, "workspace": True},
        placement={"nodeSelector": selector, "tolerations": tolerations},
    )
    workloads = [
        o for o in render.student_objects(cls, cls.students[0], CREDS) if o["kind"] in ("Deployment", "StatefulSet")
    ]
    assert workloads, "no pod template rendered"
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == selector, workload["metadata"]["name"]
        assert pod["tolerations"] == tolerations, workload["metadata"]["name"]


def test_without_placement_no_pod_names_a_node_or_a_taint() -> None:
    cls = make_class()
    for obj in render.student_objects(cls, cls.students[0], CREDS):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            assert "nodeSelector" not in obj["spec"]["template"]["spec"]
            assert "tolerations" not in obj["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "components",
    [{}, {"dataSharingService": False}, {"playback": True, "workspace": True}],
    ids=["default", "no-data-sharing", "playback-jupyter"],
)
def test_no_two_containers_of_a_node_listen_on_one_port(components: dict[str, bool]) -> None:
    """The node is one pod: its containers share one network, so a port taken twice crash-loops one of
    them (the data-sharing service's metrics once sat on the data endpoint's 8080; kwok never noticed)."""
    cls = make_class(components=components)
    (node,) = [o for o in render.student_objects(cls, cls.students[0], CREDS) if o["kind"] == "StatefulSet"]
    pod = node["spec"]["template"]["spec"]
    ports = [p["containerPort"] for c in pod.get("initContainers", []) + pod["containers"] for p in c.get("ports", [])]
    assert ports
    assert len(ports) == len(set(ports)), sorted(ports)


def test_the_namespace_alone_is_the_first_object_of_a_student() -> None:
    cls = make_class(
        roster=[{"id": "ada", "name": "Ada L."}],
        placement={"tolerations": [{"key": "gpu", "operator": "Exists"}]},
    )
    assert render.student_namespace(cls, cls.students[0]) == render.student_objects(cls, cls.students[0], CREDS)[0]
