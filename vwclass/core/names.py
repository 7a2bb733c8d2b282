"""Names and labels of everything vwclass creates, in one place so no two modules disagree."""

from __future__ import annotations

GROUP = "edu.sagecontinuum.org"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VirtualWaggleClass"
PLURAL = "virtualwaggleclasses"
CRD_NAME = f"{PLURAL}.{GROUP}"

FIELD_MANAGER = "vwclass-operator"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "vwclass"
PART_OF = "app.kubernetes.io/part-of"
CLASS_LABEL = f"{GROUP}/class"
STUDENT_LABEL = f"{GROUP}/student"
# Objects created once and never rendered again (the node's passwords) carry this label instead of
# being compared with a rendering, so no reconcile can ever overwrite them.
CREDENTIALS_LABEL = f"{GROUP}/credentials"
DISPLAY_NAME_ANNOTATION = f"{GROUP}/display-name"
# On a student namespace: the toleration keys of the class's placement (comma-separated), which the
# admission policy lets pods there carry (a student may not edit namespaces, so cannot widen it).
TOLERATION_KEYS_ANNOTATION = f"{GROUP}/placement-toleration-keys"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"

# Where vwclass itself runs (`vwclass install`): the operator, and each class's image pre-pull DaemonSet.
OPERATOR_NAMESPACE = "vwclass-system"
# The component (app.kubernetes.io/name) of a class's image pre-pull DaemonSet and its pods.
PREPULL_COMPONENT = "image-prepull"
# On a pre-pull pod: a digest of the images it pulls, so progress counts only pods of the current ones.
IMAGES_HASH_ANNOTATION = f"{GROUP}/images-hash"

# A class's gateway to its students' workspaces (a Deployment and Service gateway-<class> in
# OPERATOR_NAMESPACE), the component of its pods, and the account every class's gateway runs as
# (manifests/base), which a RoleBinding in each student namespace lets read that node's Jupyter token.
GATEWAY_COMPONENT = "workspace-gateway"
GATEWAY_SERVICE_ACCOUNT = "vwclass-gateway"
GATEWAY_READER_ROLE = "vwclass-gateway-reader"
# The student's JupyterLab: its Service and port in their namespace, and the kubeconfig it runs with.
WORKSPACE_SERVICE = "workspace"
WORKSPACE_PORT = 8888
WORKSPACE_KUBECONFIG = "workspace-kubeconfig"

# On a student's namespace: when the teacher last woke their idle node (`vwclass resume --student`).
WOKEN_ANNOTATION = f"{GROUP}/woken-at"

STUDENT_ROLE = "vwclass-student"
# The ValidatingAdmissionPolicies of student namespaces (manifests/base/student-admission-policies.yaml),
# each with a binding of the same name.
ADMISSION_POLICIES = (
    "vwclass-student-pods",
    "vwclass-student-services",
    "vwclass-student-volumes",
    "vwclass-student-data",
)
STUDENT_SERVICE_ACCOUNT = "student"
CREDENTIALS_SECRET = "waggle-credentials"
# The StatefulSet (and its pod's label) that runs a student's whole virtual node: one pod per student.
NODE_WORKLOAD = "node"
# The node's one claim (named as the data endpoint's was, so a class from before keeps its records).
NODE_DATA_CLAIM = "data-endpoint"
# The keys of that Secret: the node's RabbitMQ passwords and the Jupyter token.
CREDENTIAL_KEYS = ("admin-password", "service-password", "plugin-password", "jupyter-token")

# The app id the credentials notes give for a plugin run on a laptop through a port-forward; the
# plugin runner registers its app meta, so the data-sharing service accepts such a plugin's messages.
LAPTOP_APP_ID = "laptop"

# Generated ids keep three digits at any class size, so scaling 99 -> 100 renames nobody.
_GENERATED_WIDTH = 3


_GENERATED_PREFIX = "student-"


def generated_student_id(number: int) -> str:
    """The id of the n-th anonymous student (1-based): student-001, student-002, ..."""
    return f"{_GENERATED_PREFIX}{number:0{_GENERATED_WIDTH}d}"


def generated_student_number(student_id: str) -> str | None:
    """The digits of a generated id ("001" of student-001), or None for a roster id."""
    digits = student_id.removeprefix(_GENERATED_PREFIX)
    return digits if digits != student_id and digits.isdigit() else None


def namespace_name(prefix: str, student_id: str) -> str:
    return f"{prefix}-{student_id}"


def class_selector(class_name: str) -> str:
    """The label selector of every object a class owns."""
    return f"{MANAGED_BY}={MANAGED_BY_VALUE},{CLASS_LABEL}={class_name}"


def gateway_name(class_name: str) -> str:
    """The name of a class's gateway Deployment, Service and ConfigMap (in OPERATOR_NAMESPACE)."""
    return f"gateway-{class_name}"


def workspace_path(student_id: str) -> str:
    """Where a student's workspace is, under the class gateway's address (JupyterLab's base URL)."""
    return f"/{student_id}/"


def prepull_name(class_name: str) -> str:
    """The name of a class's image pre-pull DaemonSet (in OPERATOR_NAMESPACE)."""
    return f"prepull-{class_name}"
