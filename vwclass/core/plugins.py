"""A student's plugin as a Waggle node's scheduler runs it: checks of the input, its manifests, its state.

Pure: the student's node (as rendered, or as read back from its `node` StatefulSet), the plugin's
name, image or folder, and arguments come in; manifests and table rows come out. Reading the folder
and talking to the cluster are the CLI's job.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from vwclass.core import names, presets, rabbitmq, render
from vwclass.core.spec import ClassSpec, Placement, Student

Manifest = dict[str, Any]

# Labels as the Waggle scheduler sets them on every plugin pod (edge-scheduler's labelsForPlugin).
TASK_LABEL = "sagecontinuum.org/plugin-task"
JOB_LABEL = "sagecontinuum.org/plugin-job"
# The job every plugin a student starts belongs to, as pluginctl's do on a real node.
JOB = "Pluginctl"
# Not vwclass's own managed-by value: the operator prunes what carries that and it did not render.
MANAGER = "vwclass-plugin"
SELECTOR = f"{names.MANAGED_BY}={MANAGER}"
RUNNER = "plugin-runner"
UPLOAD_PATH = "/run/waggle/uploads"
# The node's own components: a plugin of one of these names would join its Service.
RESERVED = frozenset(
    {
        "rabbitmq",
        "data-sharing-service",
        "app-meta-cache",
        "data-endpoint",
        RUNNER,
        "playback-server",
        "workspace",
        names.NODE_WORKLOAD,  # its pods would pass for the node's own (the operator watches plugin pods too)
    }
)
# A ConfigMap holds at most 1 MiB; leave room for its metadata.
MAX_FOLDER_BYTES = 1000 * 1024
WORKDIR = "/plugin"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_IMAGE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*")
_CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_SKIPPED_PARTS = ("__pycache__",)
# In the plugin-base image, as a non-root user: install what requirements.txt names (if anything), then
# run main.py with the student's arguments, as the Dockerfile of `vwclass newplugin` does.
DIR_COMMAND = (
    "sh",
    "-c",
    "set -e; if [ -f requirements.txt ] && grep -qvE '^[[:space:]]*(#.*)?$' requirements.txt; then "
    "echo 'installing requirements.txt' >&2; "
    "pip3 install --user --no-cache-dir --disable-pip-version-check -q -r requirements.txt; fi; "
    'exec python3 -u main.py "$@"',
    "main.py",
)

# The init container's registration of the plugin's app meta, as the scheduler's init container does,
# tried every second for a minute (the app-meta cache may refuse a pod the network has not admitted yet).
REGISTER_COMMAND = (
    "for attempt in $(seq 60); do "
    'redis-cli -h app-meta-cache SET "app-meta.$WAGGLE_APP_ID" "$APP_META" && exit 0; sleep 1; done; '
    "echo 'cannot reach the app-meta cache (app-meta-cache:6379)' >&2; exit 1"
)


class InvalidPlugin(ValueError):
    """Input that cannot become a plugin; the message names what is wrong, in one line."""


class Kind(enum.StrEnum):
    """How a plugin runs: `plugin run` (a Pod, gone when it ends) or `plugin deploy --type`."""

    run = "run"
    job = "job"
    deployment = "deployment"

    @property
    def object_kind(self) -> str:
        return {"run": "Pod", "job": "Job", "deployment": "Deployment"}[self.value]


@dataclass(frozen=True)
class PluginNode:
    """What a plugin needs to know of the student's node."""

    namespace: str
    class_name: str
    student: str
    plugin_base_image: str
    node_id: str
    node_vsn: str
    # None without a data-sharing service: nothing checks app ids then, so nothing is registered.
    app_meta_cache_image: str | None
    data_config: bool
    # Where the node keeps uploads: its one claim's `uploads` directory, or (a class from before the node
    # was one pod) a claim of their own, mounted whole.
    uploads_claim: str = names.NODE_DATA_CLAIM
    uploads_sub_path: str | None = "uploads"
    # The class's placement, as the node's pod has it: a plugin pod must share the node's machine (it
    # mounts the node's claim), so it needs the same nodeSelector and tolerations to be scheduled there
    # (a class on tainted nodes, a GPU pool, would otherwise leave every plugin Pending).
    placement: Placement = field(default_factory=Placement)


@dataclass(frozen=True)
class Plugin:
    """A plugin to start: an image, or a folder's files (relative path -> content) run in plugin-base."""

    name: str
    kind: Kind
    image: str | None = None
    files: tuple[tuple[str, bytes], ...] | None = None
    args: tuple[str, ...] = ()


def node_of(cls: ClassSpec, student: Student) -> PluginNode:
    """The node as the class renders it."""
    node_id, node_vsn = render.node_identity(cls, student)
    return PluginNode(
        namespace=student.namespace,
        class_name=cls.name,
        student=student.id,
        plugin_base_image=cls.images.plugin_runner,
        node_id=node_id,
        node_vsn=node_vsn,
        app_meta_cache_image=cls.images.app_meta_cache if cls.components.data_sharing_service else None,
        data_config=cls.components.playback,
        placement=cls.placement,
    )


def node_from_workload(node: Manifest) -> PluginNode:
    """The node as a student can read it (the class itself is not theirs to read): from the pod
    template of its `node` StatefulSet."""
    labels = node["metadata"].get("labels", {})
    pod = node["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}
    runner = containers[RUNNER]
    env = {e["name"]: e.get("value", "") for e in runner.get("env", [])}
    cache = containers.get("app-meta-cache")
    uploads = next(m for m in runner.get("volumeMounts", []) if m["mountPath"] == UPLOAD_PATH)
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    }
    return PluginNode(
        namespace=str(node["metadata"]["namespace"]),
        class_name=str(labels.get(names.CLASS_LABEL, "")),
        student=str(labels.get(names.STUDENT_LABEL, "")),
        plugin_base_image=str(env.get("VWCLASS_PLUGIN_BASE_IMAGE", runner["image"])),
        node_id=str(env.get("WAGGLE_NODE_ID", "")),
        node_vsn=str(env.get("WAGGLE_NODE_VSN", "")),
        app_meta_cache_image=str(cache["image"]) if cache is not None else None,
        data_config="WAGGLE_DATA_CONFIG_PATH" in env,
        uploads_claim=claims[uploads["name"]],
        uploads_sub_path=uploads.get("subPath"),
        placement=Placement(
            node_selector_items=tuple((pod.get("nodeSelector") or {}).items()),
            toleration_items=tuple(tuple(t.items()) for t in pod.get("tolerations") or []),
        ),
    )


# -- checks ------------------------------------------------------------------------------------------
def check_name(name: str) -> None:
    if not _DNS_LABEL.fullmatch(name):
        raise InvalidPlugin(
            f"plugin name {name!r} is not a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    if name in RESERVED:
        raise InvalidPlugin(f"plugin name {name!r} is taken by your node's own {name}: choose another")


def check_image(image: str) -> None:
    if not image or not _IMAGE.fullmatch(image) or len(image) > 512:
        shown = json.dumps(image)
        raise InvalidPlugin(
            f"image reference {shown} is not valid: no whitespace or control characters, "
            "like registry.example.org/me/my-plugin:0.1.0"
        )


def shipped(relative: str) -> bool:
    """Whether a file of the folder goes to the node: not hidden, not Python's caches."""
    parts = relative.split("/")
    return not any(p.startswith(".") or p in _SKIPPED_PARTS for p in parts) and not relative.endswith(".pyc")


def folder_size(files: Sequence[tuple[str, bytes]]) -> int:
    """The bytes the files take in a ConfigMap: text as is, binary files base64-encoded."""
    return sum(len(data) if _text(data) is not None else (len(data) + 2) // 3 * 4 for _, data in files)


def check_folder(folder: str, files: Sequence[tuple[str, bytes]]) -> None:
    if not any(path == "main.py" for path, _ in files):
        raise InvalidPlugin(f"folder {folder} has no main.py: a plugin folder runs its main.py")
    check_size(folder, folder_size(files))


def check_size(folder: str, size: int) -> None:
    """Refuses a folder of size bytes that would not fit the ConfigMap it ships in."""
    if size > MAX_FOLDER_BYTES:
        raise InvalidPlugin(
            f"folder {folder} is too large ({size / 1024:.0f} KiB, at most {MAX_FOLDER_BYTES // 1024} KiB "
            "go to the node): leave data and models out (download them in main.py), or build an image"
        )


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- manifests ---------------------------------------------------------------------------------------
def code_configmap(name: str) -> str:
    """The ConfigMap holding the folder of plugin `name`."""
    return f"plugin-{name}"


def labels(node: PluginNode, plugin: Plugin) -> dict[str, str]:
    """The scheduler's labels (role, task, job, app.kubernetes.io) and which class and student it is of."""
    return {
        "app": plugin.name,
        "app.kubernetes.io/name": plugin.name,
        names.MANAGED_BY: MANAGER,
        "app.kubernetes.io/created-by": MANAGER,
        names.PART_OF: "vwclass",
        TASK_LABEL: plugin.name,
        JOB_LABEL: JOB,
        "role": "plugin",
        "sagecontinuum.org/role": "plugin",
        names.CLASS_LABEL: node.class_name,
        names.STUDENT_LABEL: node.student,
    }


def app_meta(plugin: Plugin, image: str) -> str:
    """The flat JSON map the scheduler writes to `app-meta.<pod uid>` (HOST is filled in by Kubernetes)."""
    shown = image if plugin.image is not None else plugin.name
    return json.dumps({"host": "$(HOST)", "job": JOB, "task": plugin.name, "plugin": shown}, separators=(",", ":"))


@dataclass(frozen=True)
class _File:
    key: str
    path: str
    text: str | None  # None: not UTF-8, shipped base64-encoded as binaryData
    base64: str


def _files(plugin: Plugin) -> list[_File]:
    result = []
    for index, (path, data) in enumerate(sorted(plugin.files or ())):
        # Top-level files keep their names as keys (readable in kubectl); others are numbered.
        key = path if "/" not in path and _CONFIGMAP_KEY.fullmatch(path) else f"file-{index:04d}"
        text = _text(data)
        result.append(_File(key, path, text, "" if text is not None else base64.b64encode(data).decode()))
    return result


def plugin_objects(node: PluginNode, plugin: Plugin) -> list[Manifest]:
    """The plugin's ConfigMap (a folder plugin's files) then its Pod, Job or Deployment."""
    check_name(plugin.name)
    if (plugin.image is None) == (plugin.files is None):
        raise InvalidPlugin("give an image or a folder (--dir), not both")
    if plugin.image is not None:
        check_image(plugin.image)
    else:
        check_folder(plugin.name, plugin.files or ())
    image = plugin.image if plugin.image is not None else node.plugin_base_image
    files = _files(plugin)
    plugin_labels = labels(node, plugin)
    context = {
        "node": node,
        "name": plugin.name,
        "kind": plugin.kind.object_kind,
        "labels": plugin_labels,
        "selector": {TASK_LABEL: plugin.name, names.MANAGED_BY: MANAGER},
        "restart_policy": "Always" if plugin.kind is Kind.deployment else "Never",
        "image": image,
        "command": list(DIR_COMMAND) if plugin.files is not None else [],
        "args": list(plugin.args),
        "code_configmap": code_configmap(plugin.name) if plugin.files is not None else "",
        "files": files,
        "text_files": [f for f in files if f.text is not None],
        "binary_files": [f for f in files if f.text is None],
        "app_meta": app_meta(plugin, image),
        "register_command": REGISTER_COMMAND,
        "credentials_secret": names.CREDENTIALS_SECRET,
        "amqp_port": rabbitmq.AMQP_PORT,
        "container_defaults": presets.CONTAINER_DEFAULTS,
        "register_app_meta": presets.REGISTER_APP_META,
        "node_workload": names.NODE_WORKLOAD,
        "upload_path": UPLOAD_PATH,
    }
    return render.render_template("plugin.yaml.j2", context)


# -- quota -------------------------------------------------------------------------------------------
_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(1000),
    "M": Decimal(1000) ** 2,
    "G": Decimal(1000) ** 3,
    "T": Decimal(1000) ** 4,
    "Ki": Decimal(1024),
    "Mi": Decimal(1024) ** 2,
    "Gi": Decimal(1024) ** 3,
    "Ti": Decimal(1024) ** 4,
}


def quantity(text: str | int) -> Decimal:
    """A Kubernetes quantity ("500m", "1Gi", "2") as a number."""
    value = str(text).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if value.endswith(suffix) and value[: -len(suffix)]:
            return Decimal(value[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(value)


def pod_spec_of(obj: Manifest) -> Manifest:
    spec: Manifest = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
    return spec


def pod_usage(pod_spec: Manifest) -> dict[str, Decimal]:
    """What one pod counts against a ResourceQuota: the larger of its containers' sum and any init container."""
    usage: dict[str, Decimal] = {"pods": Decimal(1)}
    for bound, prefix in (("requests", "requests."), ("limits", "limits.")):
        for resource in ("cpu", "memory", "ephemeral-storage"):
            total = sum(
                (quantity(c.get("resources", {}).get(bound, {}).get(resource, 0)) for c in pod_spec["containers"]),
                Decimal(0),
            )
            for init in pod_spec.get("initContainers", []):
                total = max(total, quantity(init.get("resources", {}).get(bound, {}).get(resource, 0)))
            usage[prefix + resource] = total
    return usage


def quota_problem(quota: Manifest, objects: Sequence[Manifest]) -> str | None:
    """Why the plugin would not fit the namespace's ResourceQuota now (None when it fits)."""
    workload = objects[-1]
    usage = pod_usage(pod_spec_of(workload))
    hard = quota.get("status", {}).get("hard") or quota.get("spec", {}).get("hard", {})
    used = quota.get("status", {}).get("used", {})
    for resource, needed in usage.items():
        if resource not in hard:
            continue
        limit, taken = quantity(hard[resource]), quantity(used.get(resource, 0))
        if taken + needed > limit:
            return (
                f"quota exceeded: {resource} {_show(taken)} of {_show(limit)} used and this plugin needs "
                f"{_show(needed)} more (`vwclass plugin ps` lists what runs; `vwclass plugin rm NAME` stops one)"
            )
    return None


def _show(value: Decimal) -> str:
    for suffix in ("Gi", "Mi"):
        if value >= _SUFFIXES[suffix] and value % _SUFFIXES[suffix] == 0:
            return f"{value / _SUFFIXES[suffix]:.0f}{suffix}"
    return f"{value.normalize():f}"


# -- state ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PluginRow:
    """A line of `vwclass plugin ps`."""

    namespace: str
    student: str
    name: str
    kind: str
    image: str
    phase: str
    restarts: int
    created: str


def pod_phase(pod: Manifest) -> str:
    """kubectl's STATUS of a pod: a waiting or terminated reason when there is one, else its phase."""
    status = pod.get("status", {})
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for container in status.get("initContainerStatuses", []):
        state = container.get("state", {})
        if state.get("waiting", {}).get("reason") not in (None, "PodInitializing"):
            return f"Init:{state['waiting']['reason']}"
        if state.get("terminated", {}).get("exitCode", 0) != 0:
            return "Init:Error"
    for container in status.get("containerStatuses", []):
        state = container.get("state", {})
        reason = state.get("waiting", {}).get("reason") or state.get("terminated", {}).get("reason")
        if reason:
            return str(reason)
    for condition in status.get("conditions", []):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"Pending ({condition.get('reason', 'Unschedulable')})"
    return str(status.get("phase", "Pending"))


def _kind_of(obj: Manifest) -> str:
    owners = obj["metadata"].get("ownerReferences", [])
    kinds = {o.get("kind") for o in owners}
    if obj["kind"] == "Job" or "Job" in kinds:
        return "job"
    if obj["kind"] == "Deployment" or "ReplicaSet" in kinds:
        return "deployment"
    return "run"


def _image(obj: Manifest) -> str:
    spec = pod_spec_of(obj)
    volumes = {v["name"] for v in spec.get("volumes", [])}
    image = str(spec["containers"][0]["image"])
    return f"--dir ({image})" if "code" in volumes else image


def plugin_rows(pods: Sequence[Manifest], workloads: Sequence[Manifest] = ()) -> list[PluginRow]:
    """One row per plugin: its newest pod's state, or its workload's when it has no pod (yet)."""
    newest: dict[tuple[str, str], Manifest] = {}
    restarts: dict[tuple[str, str], int] = {}
    for pod in pods:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta.get("labels", {}).get(TASK_LABEL, meta["name"]))
        restarts[key] = restarts.get(key, 0) + sum(
            int(c.get("restartCount", 0)) for c in pod.get("status", {}).get("containerStatuses", [])
        )
        if key not in newest or meta.get("creationTimestamp", "") > newest[key]["metadata"].get(
            "creationTimestamp", ""
        ):
            newest[key] = pod
    rows = {
        key: PluginRow(
            key[0],
            pod["metadata"].get("labels", {}).get(names.STUDENT_LABEL, ""),
            key[1],
            _kind_of(pod),
            _image(pod),
            pod_phase(pod),
            restarts[key],
            str(pod["metadata"].get("creationTimestamp", "")),
        )
        for key, pod in newest.items()
    }
    for workload in workloads:
        meta = workload["metadata"]
        key = (meta.get("namespace", ""), meta.get("labels", {}).get(TASK_LABEL, meta["name"]))
        if key not in rows:
            phase = _workload_phase(workload)
            rows[key] = PluginRow(
                key[0],
                meta.get("labels", {}).get(names.STUDENT_LABEL, ""),
                key[1],
                _kind_of(workload),
                _image(workload),
                phase,
                0,
                str(meta.get("creationTimestamp", "")),
            )
    return sorted(rows.values(), key=lambda r: (r.namespace, r.name))


def _workload_phase(workload: Manifest) -> str:
    status = workload.get("status", {})
    for condition in status.get("conditions", []):
        if condition.get("type") in ("Failed", "Complete") and condition.get("status") == "True":
            return "Failed" if condition["type"] == "Failed" else "Completed"
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return f"no pod: {condition.get('message', condition.get('reason', ''))}"
    return "no pod yet"
