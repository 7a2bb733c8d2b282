"""Plugin manifests as a Waggle node's scheduler makes them: labels, env, init container, limits, checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vwclass.core import plugins, presets, render
from vwclass.core.plugins import InvalidPlugin, Kind, Plugin
from vwclass.core.spec import ClassSpec, parse_class


def make_class(**spec: Any) -> ClassSpec:
    spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


def node(**spec: Any) -> plugins.PluginNode:
    cls = make_class(**spec)
    return plugins.node_of(cls, cls.students[0])


IMAGE = "registry.example.org/me/hello:0.1.0"
LABELS = {
    "app": "hello",
    "app.kubernetes.io/name": "hello",
    "app.kubernetes.io/managed-by": "vwclass-plugin",
    "app.kubernetes.io/created-by": "vwclass-plugin",
    "app.kubernetes.io/part-of": "vwclass",
    "sagecontinuum.org/plugin-task": "hello",
    "sagecontinuum.org/plugin-job": "Pluginctl",
    "role": "plugin",
    "sagecontinuum.org/role": "plugin",
    "edu.sagecontinuum.org/class": "bio101",
    "edu.sagecontinuum.org/student": "student-001",
}
SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
EXPECTED_POD = yaml.safe_load(
    """
apiVersion: v1
kind: Pod
metadata:
  name: hello
  namespace: bio101-student-001
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile: {type: RuntimeDefault}
  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: node}}
  initContainers:
    - name: register-app-meta
      image: waggle/app-meta-cache:0.1.2
      command: [sh, -c, REGISTER_COMMAND]
      env:
        - {name: WAGGLE_APP_ID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
        - {name: HOST, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - name: APP_META
          value: '{"host":"$(HOST)","job":"Pluginctl","task":"hello","plugin":"registry.example.org/me/hello:0.1.0"}'
      resources:
        requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 8Mi}
        limits: {cpu: 100m, memory: 32Mi, ephemeral-storage: 32Mi}
  containers:
    - name: plugin
      image: registry.example.org/me/hello:0.1.0
      args: ["--count", "3"]
      env:
        - {name: WAGGLE_PLUGIN_HOST, value: rabbitmq}
        - {name: WAGGLE_PLUGIN_PORT, value: "5672"}
        - {name: WAGGLE_PLUGIN_USERNAME, value: plugin}
        - {name: WAGGLE_PLUGIN_PASSWORD, valueFrom: {secretKeyRef: {name: waggle-credentials, key: plugin-password}}}
        - {name: WAGGLE_APP_ID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
        - {name: WAGGLE_NODE_ID, value: 0a0b461d0b0ddebb}
        - {name: WAGGLE_NODE_VSN, value: V001}
        - {name: WAGGLE_PLUGIN_UPLOAD_PATH, value: /run/waggle/uploads}
      resources:
        requests: {cpu: 50m, memory: 64Mi, ephemeral-storage: 64Mi}
        limits: {cpu: 500m, memory: 512Mi, ephemeral-storage: 1Gi}
      volumeMounts:
        - {name: uploads, mountPath: /run/waggle/uploads, subPath: uploads}
  volumes:
    - {name: uploads, persistentVolumeClaim: {claimName: data-endpoint}}
"""
)
EXPECTED_POD["metadata"]["labels"] = LABELS
EXPECTED_POD["spec"]["initContainers"][0]["command"][2] = plugins.REGISTER_COMMAND
for _container in EXPECTED_POD["spec"]["initContainers"] + EXPECTED_POD["spec"]["containers"]:
    _container["securityContext"] = SECURITY


def test_an_image_plugin_is_the_pod_the_scheduler_makes() -> None:
    objects = plugins.plugin_objects(node(), Plugin("hello", Kind.run, image=IMAGE, args=("--count", "3")))
    assert objects == [EXPECTED_POD]


def test_a_folder_ships_as_a_configmap_run_in_plugin_base_with_its_requirements() -> None:
    files = (("main.py", b"print('hi')\n"), ("requirements.txt", b"numpy\n"), ("data/model.bin", b"\xff\x00"))
    configmap, pod = plugins.plugin_objects(node(), Plugin("hello", Kind.run, files=files))
    assert configmap == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "plugin-hello", "namespace": "bio101-student-001", "labels": LABELS},
        "data": {"main.py": "print('hi')\n", "requirements.txt": "numpy\n"},
        "binaryData": {"file-0000": "/wA="},
    }
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["image"] == make_class().images.plugin_runner  # the plugin-base image
    assert container["command"] == list(plugins.DIR_COMMAND)
    assert "args" not in container
    assert container["workingDir"] == "/plugin"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == "/home/plugin"
    assert {"name": "code", "mountPath": "/plugin", "readOnly": True} in container["volumeMounts"]
    assert {"name": "home", "mountPath": "/home/plugin"} in container["volumeMounts"]
    code = next(v for v in spec["volumes"] if v["name"] == "code")
    assert code["configMap"] == {
        "name": "plugin-hello",
        "items": [
            {"key": "file-0000", "path": "data/model.bin"},
            {"key": "main.py", "path": "main.py"},
            {"key": "requirements.txt", "path": "requirements.txt"},
        ],
    }
    meta = spec["initContainers"][0]["env"][-1]["value"]
    assert meta == '{"host":"$(HOST)","job":"Pluginctl","task":"hello","plugin":"hello"}'


def test_the_folder_command_installs_requirements_only_when_they_name_something() -> None:
    script = plugins.DIR_COMMAND[2]
    assert "pip3 install --user" in script
    assert "grep -qvE" in script  # a requirements.txt of comments only installs nothing
    assert script.endswith('exec python3 -u main.py "$@"')


@pytest.mark.parametrize(("kind", "restart"), [(Kind.job, "Never"), (Kind.deployment, "Always")])
def test_deployed_plugins_carry_the_same_pod_in_their_template(kind: Kind, restart: str) -> None:
    [workload] = plugins.plugin_objects(node(), Plugin("hello", kind, image=IMAGE, args=("--count", "3")))
    assert workload["kind"] == kind.object_kind
    assert workload["metadata"] == EXPECTED_POD["metadata"]
    template = workload["spec"]["template"]
    assert template["metadata"] == {"labels": LABELS}
    assert template["spec"] == {**EXPECTED_POD["spec"], "restartPolicy": restart}
    if kind is Kind.job:
        assert workload["spec"]["backoffLimit"] == 0
    else:
        assert workload["spec"]["replicas"] == 1
        assert workload["spec"]["selector"] == {
            "matchLabels": {"sagecontinuum.org/plugin-task": "hello", "app.kubernetes.io/managed-by": "vwclass-plugin"}
        }


def test_without_a_data_sharing_service_nothing_is_registered() -> None:
    [pod] = plugins.plugin_objects(node(components={"dataSharingService": False}), Plugin("x", Kind.run, image=IMAGE))
    assert "initContainers" not in pod["spec"]


def test_with_playback_the_data_config_is_mounted_as_on_a_node() -> None:
    [pod] = plugins.plugin_objects(node(components={"playback": True}), Plugin("x", Kind.run, image=IMAGE))
    container = pod["spec"]["containers"][0]
    assert {"name": "WAGGLE_DATA_CONFIG_PATH", "value": "/run/waggle/data-config.json"} in container["env"]
    assert {"name": "data-config", "configMap": {"name": "waggle-data-config"}} in pod["spec"]["volumes"]


def test_plugin_limits_are_the_limitranges_defaults() -> None:
    cls = make_class()
    limits = next(o for o in render.student_objects(cls, cls.students[0]) if o["kind"] == "LimitRange")
    [pod] = plugins.plugin_objects(node(), Plugin("x", Kind.run, image=IMAGE))
    resources = pod["spec"]["containers"][0]["resources"]
    assert limits["spec"]["limits"][0]["default"] == resources["limits"]
    assert limits["spec"]["limits"][0]["defaultRequest"] == resources["requests"]
    assert resources["limits"]["cpu"] == presets.CONTAINER_DEFAULTS.limit_cpu


@pytest.mark.parametrize(
    "arg", ["--x\nkind: Secret", '"}, {"a": 1', "$(WAGGLE_PLUGIN_PASSWORD)", "- item", "a: b", "\u0000\u2028"]
)
def test_arguments_and_file_contents_stay_values(arg: str) -> None:
    files = (("main.py", arg.encode()),)
    configmap, pod = plugins.plugin_objects(node(), Plugin("x", Kind.run, files=files))
    assert configmap["data"] == {"main.py": arg}
    [pod] = plugins.plugin_objects(node(), Plugin("x", Kind.run, image=IMAGE, args=(arg, "y")))
    assert pod["spec"]["containers"][0]["args"] == [arg, "y"]
    assert set(pod) == {"apiVersion", "kind", "metadata", "spec"}


def test_the_node_a_student_reads_back_is_the_node_the_class_renders() -> None:
    for components in ({}, {"dataSharingService": False}, {"playback": True}):
        cls = make_class(components=components)
        objects = render.student_objects(cls, cls.students[1])
        node = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "node")
        read = plugins.node_from_workload(node)
        assert read == plugins.node_of(cls, cls.students[1])


def test_the_app_meta_registration_is_retried_until_the_cache_answers(tmp_path: Path) -> None:
    # A NetworkPolicy enforcer admits a new pod's packets a moment after it starts (kube-router refused
    # the first connection on the real node): the registration tries again, every second, for a minute.
    fake = tmp_path / "redis-cli"
    calls = tmp_path / "calls"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'[ "$(wc -l < {calls})" -ge 3 ] || {{ echo "Could not connect" >&2; exit 1; }}\n'
    )
    fake.chmod(0o755)
    [init] = plugins.plugin_objects(node(), Plugin("hello", Kind.run, image=IMAGE))[-1]["spec"]["initContainers"]
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "WAGGLE_APP_ID": "uid-1", "APP_META": '{"task":"hello"}'}
    result = subprocess.run(init["command"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == ['-h app-meta-cache SET app-meta.uid-1 {"task":"hello"}'] * 3


def test_a_plugin_follows_the_class_placement_to_the_nodes_machine() -> None:
    # A class on tainted nodes (a GPU pool; the test environment's real node): without the node's
    # tolerations and nodeSelector, a plugin pod, bound to the node's machine by its claim, stays Pending.
    placement = {
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    }
    cls = make_class(placement=placement)
    objects = render.student_objects(cls, cls.students[0])
    statefulset = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "node")
    for read in (plugins.node_of(cls, cls.students[0]), plugins.node_from_workload(statefulset)):
        for kind in Kind:
            spec = plugins.pod_spec_of(plugins.plugin_objects(read, Plugin("hello", kind, image=IMAGE))[-1])
            assert spec["nodeSelector"] == placement["nodeSelector"]
            assert spec["tolerations"] == placement["tolerations"]
    # Without a placement, none: a student's pod may carry no toleration of its own.
    spec = plugins.plugin_objects(node(), Plugin("hello", Kind.run, image=IMAGE))[-1]["spec"]
    assert "nodeSelector" not in spec
    assert "tolerations" not in spec


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Hello", "not a DNS label"),
        ("hello_world", "not a DNS label"),
        ("-hello", "not a DNS label"),
        ("h" * 64, "not a DNS label"),
        ("", "not a DNS label"),
        ("rabbitmq", "taken by your node's own rabbitmq"),
        ("data-endpoint", "taken by your node's own"),
    ],
)
def test_bad_names_are_refused_in_one_line(name: str, message: str) -> None:
    with pytest.raises(InvalidPlugin, match=message) as caught:
        plugins.plugin_objects(node(), Plugin(name, Kind.run, image=IMAGE))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("image", ["waggle/x 1", "waggle/x:1\nkind: Secret", "", " waggle/x", "x\u0007", "x\ty"])
def test_bad_images_are_refused_in_one_line(image: str) -> None:
    with pytest.raises(InvalidPlugin, match="image reference") as caught:
        plugins.plugin_objects(node(), Plugin("x", Kind.run, image=image))
    assert "\n" not in str(caught.value)


def test_a_folder_needs_main_py_and_fits_a_configmap() -> None:
    with pytest.raises(InvalidPlugin, match=r"has no main\.py"):
        plugins.check_folder("app", [("app.py", b"")])
    big = [("main.py", b"x" * (plugins.MAX_FOLDER_BYTES + 1))]
    with pytest.raises(InvalidPlugin, match="too large"):
        plugins.check_folder("app", big)
    # Binary files count base64-encoded, as the ConfigMap holds them.
    binary = [("main.py", b""), ("m.bin", b"\xff" * (plugins.MAX_FOLDER_BYTES * 3 // 4 + 3))]
    with pytest.raises(InvalidPlugin, match="too large"):
        plugins.check_folder("app", binary)
    plugins.check_folder("app", [("main.py", b"x" * plugins.MAX_FOLDER_BYTES)])


def test_hidden_files_and_caches_stay_home() -> None:
    assert plugins.shipped("main.py")
    assert plugins.shipped("lib/util.py")
    for path in (".git/config", "__pycache__/m.cpython-311.pyc", "lib/x.pyc", ".env", "a/.venv/bin/python"):
        assert not plugins.shipped(path)


def quota(hard: dict[str, str], used: dict[str, str]) -> dict[str, Any]:
    return {"spec": {"hard": hard}, "status": {"hard": hard, "used": used}}


def test_the_quota_check_names_the_resource_that_is_short() -> None:
    objects = plugins.plugin_objects(node(), Plugin("x", Kind.deployment, image=IMAGE))
    roomy = quota({"pods": "20", "limits.memory": "4Gi", "requests.cpu": "1"}, {"pods": "5", "limits.memory": "3Gi"})
    assert plugins.quota_problem(roomy, objects) is None
    full = quota({"pods": "20", "limits.memory": "4Gi"}, {"pods": "5", "limits.memory": "3700Mi"})
    problem = plugins.quota_problem(full, objects)
    assert problem is not None
    assert problem.startswith("quota exceeded: limits.memory 3700Mi of 4Gi used")
    no_pods = quota({"pods": "20"}, {"pods": "20"})
    assert (plugins.quota_problem(no_pods, objects) or "").startswith("quota exceeded: pods 20 of 20")


def test_quantities() -> None:
    assert plugins.quantity("500m") == plugins.quantity("0.5")
    assert plugins.quantity("1Gi") == 1024**3
    assert plugins.quantity("2") == 2
    assert plugins.quantity("64Mi") * 16 == plugins.quantity("1Gi")
    assert plugins.quantity("1k") == 1000


def pod(name: str, created: str, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "creationTimestamp": created,
            "labels": {"sagecontinuum.org/plugin-task": "hello", "edu.sagecontinuum.org/student": "ann"},
        },
        "spec": {"containers": [{"image": IMAGE}]},
        "status": status,
    }


def test_ps_shows_each_plugins_newest_pod_and_why_it_waits() -> None:
    old = pod("hello-a", "2026-01-01T00:00:00Z", phase="Failed")
    new = pod(
        "hello-b",
        "2026-01-01T00:05:00Z",
        phase="Pending",
        containerStatuses=[{"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
    )
    [row] = plugins.plugin_rows([old, new])
    assert (row.student, row.name, row.kind, row.image, row.phase, row.restarts) == (
        "ann",
        "hello",
        "run",
        IMAGE,
        "CrashLoopBackOff",
        2,
    )
    init = pod("x", "t", phase="Pending", initContainerStatuses=[{"state": {"waiting": {"reason": "ErrImagePull"}}}])
    assert plugins.pod_phase(init) == "Init:ErrImagePull"
    done = pod("x", "t", phase="Succeeded", containerStatuses=[{"state": {"terminated": {"reason": "Completed"}}}])
    assert plugins.pod_phase(done) == "Completed"
    assert plugins.pod_phase(pod("x", "t", phase="Running")) == "Running"


def test_ps_shows_a_deployed_plugin_without_a_pod() -> None:
    _, workload = plugins.plugin_objects(node(), Plugin("hello", Kind.job, files=(("main.py", b""),)))
    workload["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    [row] = plugins.plugin_rows([], [workload])
    assert (row.name, row.kind, row.phase) == ("hello", "job", "no pod yet")
    assert row.image.startswith("--dir (")


# -- the laptop path ----------------------------------------------------------------------------------
def test_the_runner_registers_the_laptop_app_id_the_notes_give() -> None:
    from vwclass.cli import access
    from vwclass.core import names

    def register_app_meta(cls: ClassSpec) -> dict[str, Any] | None:
        node = next(o for o in render.student_objects(cls, cls.students[0]) if o["kind"] == "StatefulSet")
        inits = node["spec"]["template"]["spec"]["initContainers"]
        return next((c for c in inits if c["name"] == "register-app-meta"), None)

    init = register_app_meta(make_class())
    assert init is not None
    command = init["command"]
    assert command[:4] == ["redis-cli", "-h", "127.0.0.1", "MSET"]
    pairs = dict(zip(command[4::2], command[5::2], strict=True))
    assert json.loads(pairs["app-meta.$(WAGGLE_APP_ID)"])["task"] == "plugin-runner"
    laptop = json.loads(pairs[f"app-meta.{names.LAPTOP_APP_ID}"])
    # A flat map of strings, as the data-sharing service merges it into each message's meta.
    assert laptop == {"host": "laptop", "job": "laptop", "task": "laptop", "plugin": "laptop"}
    notes = access.notes("bio101", "student-001", "", "ns", "s.kubeconfig", "soon", "pw", None)
    assert f"WAGGLE_APP_ID={names.LAPTOP_APP_ID} python3 main.py" in notes
    # Without a data-sharing service nothing checks app ids, so nothing is registered.
    assert register_app_meta(make_class(components={"dataSharingService": False})) is None


# -- newplugin ----------------------------------------------------------------------------------------
def test_the_plugin_template_runs_as_a_folder_plugin_and_builds_on_plugin_base(tmp_path: Path) -> None:
    from vwclass.core import plugintemplate

    files = plugintemplate.files("my-sensor")
    assert sorted(files) == ["Dockerfile", "README.md", "main.py", "requirements.txt", "sage.yaml"]
    assert yaml.safe_load(files["sage.yaml"])["name"] == "my-sensor"
    assert files["Dockerfile"].startswith(f"FROM {plugintemplate.default_base_image()}\n")
    assert 'ENTRYPOINT ["python3", "-u", "/app/main.py"]' in files["Dockerfile"]
    assert 'plugin.publish("my_sensor.value", value' in files["main.py"]
    shipped = tuple((path, text.encode()) for path, text in files.items())
    configmap, _ = plugins.plugin_objects(node(), Plugin("my-sensor", Kind.run, files=shipped))
    assert set(configmap["data"]) == set(files)
    # main.py imports pywaggle and parses its arguments as the README's commands give them.
    for path, text in files.items():
        (tmp_path / path).write_text(text)
    done = subprocess.run(
        [sys.executable, "main.py", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--count" in done.stdout
    assert "--count 3" in files["README.md"]
