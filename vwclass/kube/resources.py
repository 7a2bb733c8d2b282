"""The kinds vwclass reads and writes, and their REST paths: a fixed table instead of discovery."""

from __future__ import annotations

from dataclasses import dataclass

from vwclass.core import names


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


_ALL = (
    Resource("v1", "Namespace", "namespaces", False),
    Resource("v1", "ServiceAccount", "serviceaccounts", True),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    Resource("v1", "ResourceQuota", "resourcequotas", True),
    Resource("v1", "LimitRange", "limitranges", True),
    Resource("v1", "Secret", "secrets", True),
    Resource("v1", "ConfigMap", "configmaps", True),
    Resource("v1", "Service", "services", True),
    Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    Resource("apps/v1", "StatefulSet", "statefulsets", True),
    Resource("apps/v1", "Deployment", "deployments", True),
    Resource("v1", "Pod", "pods", True),
    Resource("v1", "Event", "events", True),
    Resource("v1", "Node", "nodes", False),
    Resource("storage.k8s.io/v1", "StorageClass", "storageclasses", False),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    Resource("apps/v1", "ReplicaSet", "replicasets", True),
    Resource("apps/v1", "DaemonSet", "daemonsets", True),
    Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    Resource("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    Resource(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    Resource("batch/v1", "Job", "jobs", True),
    Resource("batch/v1", "CronJob", "cronjobs", True),
    Resource(names.API_VERSION, names.KIND, names.PLURAL, False),
)
BY_KIND = {(r.api_version, r.kind): r for r in _ALL}

# What one student namespace is made of: everything the operator renders and later compares.
STUDENT_KINDS = tuple(
    BY_KIND[key]
    for key in (
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("v1", "ResourceQuota"),
        ("v1", "LimitRange"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "Deployment"),
    )
)
NAMESPACE = BY_KIND[("v1", "Namespace")]
# A class's own objects outside its students' namespaces (in names.OPERATOR_NAMESPACE): its image pre-pull.
DAEMONSET = BY_KIND[("apps/v1", "DaemonSet")]
POD = BY_KIND[("v1", "Pod")]
CONFIGMAP = BY_KIND[("v1", "ConfigMap")]
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
STATEFULSET = BY_KIND[("apps/v1", "StatefulSet")]
JOB = BY_KIND[("batch/v1", "Job")]
NODE = BY_KIND[("v1", "Node")]
CLASS = BY_KIND[(names.API_VERSION, names.KIND)]


def resource_of(obj: dict[str, object]) -> Resource:
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    try:
        return BY_KIND[key]
    except KeyError:
        raise ValueError(f"vwclass does not manage {key[1]} ({key[0]})") from None
