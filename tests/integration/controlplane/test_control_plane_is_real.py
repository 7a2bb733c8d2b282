"""The local control plane behaves as a real cluster: scheduling, controllers, GC, authn and RBAC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import eventually, unique

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api_client)
    name = unique("cp")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27.3")]),
            ),
        ),
    )


def test_a_deployment_is_scheduled_on_kwok_nodes_and_becomes_available(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))

    def available() -> bool:
        status = apps.read_namespaced_deployment("web", namespace).status
        return status.available_replicas == 2

    eventually(available, what="deployment web available")
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    nodes = {n.metadata.name: n for n in core.list_node().items}
    for pod in pods:
        assert pod.status.phase == "Running"
        assert nodes[pod.spec.node_name].metadata.labels.get("type") == "kwok"


def test_a_statefulset_with_a_volume_claim_becomes_ready(api_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    labels = {"app": "db"}
    statefulset = client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1StatefulSetSpec(
            service_name="db",
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="db", image="redis:7.0.4")]),
            ),
            volume_claim_templates=[
                client.V1PersistentVolumeClaim(
                    metadata=client.V1ObjectMeta(name="data"),
                    spec=client.V1PersistentVolumeClaimSpec(
                        access_modes=["ReadWriteOnce"],
                        resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
                    ),
                )
            ],
        ),
    )
    apps.create_namespaced_stateful_set(namespace, statefulset)
    eventually(
        lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 1,
        what="statefulset db ready",
    )
    claim = client.CoreV1Api(api_client).read_namespaced_persistent_volume_claim("data-db-0", namespace)
    assert claim.status.phase == "Bound"


def test_deleting_a_namespace_removes_it_and_everything_in_it(api_client: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    name = unique("gone")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    apps.create_namespaced_deployment(name, _deployment("web"))
    core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"}))
    eventually(lambda: len(core.list_namespaced_pod(name).items) == 2, what="pods created")

    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    eventually(gone, timeout=90, what=f"namespace {name} deleted")
    assert not [p for p in core.list_pod_for_all_namespaces().items if p.metadata.namespace == name]


def test_an_object_whose_owner_is_deleted_is_garbage_collected(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    uid = owner.metadata.uid
    assert uid is not None
    reference = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=uid)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owned", owner_references=[reference]))
    )
    core.delete_namespaced_config_map("owner", namespace)

    def collected() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    eventually(collected, what="owned configmap collected")


def test_a_requested_service_account_token_authenticates_and_rbac_limits_it(
    api_client: client.ApiClient, kubeconfig: Path, namespace: str
) -> None:
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="read-configmaps"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="reader"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="read-configmaps"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="for-the-reader"), data={"k": "v"})
    )
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    token = core.create_namespaced_service_account_token("reader", namespace, request).status.token

    configuration = client.Configuration()
    configuration.host = api_client.configuration.host
    configuration.ssl_ca_cert = api_client.configuration.ssl_ca_cert
    configuration.verify_ssl = api_client.configuration.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token}"}
    as_reader = client.ApiClient(configuration)

    review = client.AuthenticationV1Api(as_reader).create_self_subject_review(client.V1SelfSubjectReview())
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"
    readable = {item.metadata.name for item in client.CoreV1Api(as_reader).list_namespaced_config_map(namespace).items}
    assert "for-the-reader" in readable, readable
    with pytest.raises(ApiException) as denied:
        client.CoreV1Api(as_reader).list_namespaced_secret(namespace)
    assert denied.value.status == 403
    with pytest.raises(ApiException) as denied_namespaces:
        client.CoreV1Api(as_reader).list_namespace()
    assert denied_namespaces.value.status == 403
