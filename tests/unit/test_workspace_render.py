"""What components.workspace renders: the student's JupyterLab in their node, their kubeconfig and
policies, and the class's gateway in vwclass-system (vwclass.core.render and vwclass.core.gateway)."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from vwclass.core import gateway, names, plugins, render
from vwclass.core.spec import ClassSpec, parse_class

Obj = dict[str, Any]


def make_class(**spec: Any) -> ClassSpec:
    spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "geo", "uid": "u-1"}, "spec": spec})


def by_kind_name(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def runner_of(objects: list[Obj]) -> Obj:
    node = by_kind_name(objects)[("StatefulSet", names.NODE_WORKLOAD)]
    return next(c for c in node["spec"]["template"]["spec"]["containers"] if c["name"] == "plugin-runner")


def test_the_workspace_is_jupyterlab_under_the_students_path_as_the_student() -> None:
    cls = dataclasses.replace(make_class(), api_endpoints=(("10.0.0.5", 6443),))
    student = cls.students[1]
    objects = render.student_objects(cls, student)
    found = by_kind_name(objects)
    runner = runner_of(objects)
    assert runner["image"] == cls.images.workspace
    assert "--ServerApp.base_url=/student-002/" in runner["command"]
    assert runner["readinessProbe"]["httpGet"]["path"] == "/student-002/api"
    env = {e["name"]: e for e in runner["env"]}
    assert env["KUBECONFIG"]["value"] == "/etc/vwclass/kubeconfig"
    assert env["JUPYTER_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "jupyter-token"
    pod = found[("StatefulSet", names.NODE_WORKLOAD)]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == names.STUDENT_SERVICE_ACCOUNT
    assert pod["automountServiceAccountToken"] is True
    # Plugins still start from the class's plugin image, not the workspace's.
    node = found[("StatefulSet", names.NODE_WORKLOAD)]
    assert plugins.node_from_workload(node).plugin_base_image == cls.images.plugin_runner
    # Its kubeconfig: the pod's own token file, the student's namespace.
    kubeconfig = yaml.safe_load(found[("ConfigMap", names.WORKSPACE_KUBECONFIG)]["data"]["kubeconfig"])
    assert kubeconfig["users"][0]["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    assert kubeconfig["contexts"][0]["context"]["namespace"] == student.namespace
    # In: the class's gateway, to the workspace's port only. Out: the API server's address only.
    ingress = found[("NetworkPolicy", "isolate-ingress")]["spec"]["ingress"]
    assert ingress[1]["ports"] == [{"protocol": "TCP", "port": names.WORKSPACE_PORT}]
    source = ingress[1]["from"][0]
    assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": names.OPERATOR_NAMESPACE}
    assert source["podSelector"]["matchLabels"][names.CLASS_LABEL] == "geo"
    egress = found[("NetworkPolicy", "workspace-api")]["spec"]["egress"]
    assert egress == [{"to": [{"ipBlock": {"cidr": "10.0.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}]
    reader = found[("RoleBinding", names.GATEWAY_READER_ROLE)]
    assert reader["subjects"] == [
        {"kind": "ServiceAccount", "name": names.GATEWAY_SERVICE_ACCOUNT, "namespace": names.OPERATOR_NAMESPACE}
    ]


def test_without_a_workspace_nothing_of_it_is_rendered_and_no_token_is_mounted() -> None:
    cls = dataclasses.replace(make_class(components={"workspace": False}), api_endpoints=(("10.0.0.5", 6443),))
    objects = render.student_objects(cls, cls.students[0])
    found = by_kind_name(objects)
    assert runner_of(objects)["image"] == cls.images.plugin_runner
    for absent in [
        ("Service", names.WORKSPACE_SERVICE),
        ("ConfigMap", names.WORKSPACE_KUBECONFIG),
        ("NetworkPolicy", "workspace-api"),
        ("RoleBinding", names.GATEWAY_READER_ROLE),
    ]:
        assert absent not in found
    node = found[("StatefulSet", names.NODE_WORKLOAD)]["spec"]["template"]["spec"]
    assert node["automountServiceAccountToken"] is False
    # Offline (no API server known): no egress hole at all.
    assert ("NetworkPolicy", "workspace-api") not in by_kind_name(render.student_objects(make_class(), cls.students[0]))


def test_the_gateway_is_the_classs_in_vwclass_system_restricted_and_exposed_as_the_spec_says() -> None:
    cls = make_class(namespacePrefix="g", gateway={"serviceType": "ClusterIP"})
    found = by_kind_name(gateway.objects(cls))
    deployment = found[("Deployment", "gateway-geo")]
    service = found[("Service", "gateway-geo")]
    assert service["spec"]["type"] == "ClusterIP"
    for obj in (deployment, service, found[("ConfigMap", "gateway-geo")]):
        assert obj["metadata"]["namespace"] == names.OPERATOR_NAMESPACE
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == names.GATEWAY_SERVICE_ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] is True
    containers = {c["name"]: c for c in pod["containers"]}
    assert containers["nginx"]["image"] == cls.images.gateway
    assert containers["check"]["image"] == cls.images.data_endpoint
    env = {e["name"]: e["value"] for e in containers["check"]["env"]}
    assert env["VWCLASS_GATEWAY_NAMESPACE_PREFIX"] == "g"
    for container in containers.values():
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"]
    conf = found[("ConfigMap", "gateway-geo")]["data"]["nginx.conf"]
    assert "auth_request /_check;" in conf
    assert "access_log off;" in conf  # a login link's token is in its query
    # It keeps running while the class is suspended: the students' links then say so.
    suspended = by_kind_name(gateway.objects(make_class(suspended=True)))
    assert suspended[("Deployment", "gateway-geo")]["spec"]["replicas"] == 1
