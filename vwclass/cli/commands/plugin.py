"""`vwclass plugin ...`: a student runs plugins on their own node as `pluginctl` does on a Waggle node.

The namespace is the one the kubeconfig's context names (the kubeconfig `vwclass credentials` hands
out): a student never types it. What the node is made of is read from its `node` StatefulSet,
because a student may not read the class. The manifests come from vwclass.core.plugins.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import output, session
from vwclass.cli.errors import CliError, Exit, abort

if TYPE_CHECKING:
    from vwclass.core.plugins import Plugin, PluginNode
    from vwclass.kube.api import Kube

Obj = dict[str, Any]
# Waiting reasons after which a `plugin run` gives up: the pod will not start without a change.
_HOPELESS = {
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
_START_TIMEOUT = 600.0
# A plugin of the same name still stopping (the run just before, or one just removed) is waited for
# this long: its containers' grace period (30 s by default) and a margin.
_GONE_TIMEOUT = 45.0

app = typer.Typer(
    name="plugin",
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Run your plugins on your own virtual Waggle node (as pluginctl does on a Waggle node).",
)

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The plugin's name (a DNS label).", show_default=False)
]
RestArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[IMAGE] [-- ARGS...]",
        help="The image to run (unless --dir), then the plugin's own arguments after `--`.",
        show_default=False,
    ),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="PATH",
        help="Run this folder's main.py (and install its requirements.txt) in the plugin-base image: no build.",
        show_default=False,
        file_okay=False,
    ),
]


# -- where and what -----------------------------------------------------------------------------------
def _namespace(ctx: typer.Context) -> str:
    where = session.target(ctx)
    from vwclass.kube.connect import context_namespace

    namespace = context_namespace(where.kubeconfig, where.context)
    if not namespace:
        abort(
            "your kubeconfig's context names no namespace: use the kubeconfig `vwclass credentials` gave you",
            Exit.BAD_INPUT,
        )
    return namespace


def _node(kube: Kube, namespace: str) -> PluginNode:
    from vwclass.core import names, plugins
    from vwclass.kube.resources import STATEFULSET

    node = kube.get(STATEFULSET, names.NODE_WORKLOAD, namespace)
    if node is None:
        abort(
            f"namespace {namespace} holds no virtual Waggle node (no StatefulSet {names.NODE_WORKLOAD}): "
            "use the kubeconfig `vwclass credentials` gave you",
            Exit.BAD_INPUT,
        )
    return plugins.node_from_workload(node)


def _read_folder(folder: Path) -> tuple[tuple[str, bytes], ...]:
    """The folder's files to ship (not hidden ones, not caches), refused early when too large."""
    from vwclass.core import plugins

    if not folder.is_dir():
        abort(f"--dir {folder}: no such folder", Exit.BAD_INPUT)
    chosen: list[tuple[str, Path]] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or not plugins.shipped(relative):
            continue
        total += path.stat().st_size
        # Refused before reading a dataset into memory (check_folder weighs the contents exactly).
        plugins.check_size(str(folder), total)
        chosen.append((relative, path))
    try:
        return tuple((relative, path.read_bytes()) for relative, path in chosen)
    except OSError as error:
        abort(f"--dir {folder}: cannot read {error.filename}: {error.strerror}", Exit.BAD_INPUT)


def _plugin(name: str, kind: str, rest: list[str] | None, folder: Path | None) -> Plugin:
    from vwclass.core.plugins import InvalidPlugin, Kind, Plugin, check_folder, check_image, check_name

    rest = list(rest or [])
    try:
        check_name(name)
        if folder is not None:
            files = _read_folder(folder)
            check_folder(str(folder), files)
            return Plugin(name, Kind(kind), files=files, args=tuple(rest))
        if not rest:
            abort("give the plugin's IMAGE, or --dir PATH to run a folder", Exit.BAD_INPUT)
        check_image(rest[0])
        return Plugin(name, Kind(kind), image=rest[0], args=tuple(rest[1:]))
    except InvalidPlugin as error:
        abort(str(error), Exit.BAD_INPUT)


def _existing(kube: Kube, namespace: str, name: str) -> list[tuple[str, Obj]]:
    """(kind, object) of each Pod, Job or Deployment named name in the namespace."""
    from vwclass.kube.resources import DEPLOYMENT, JOB, POD

    found = []
    for resource in (POD, JOB, DEPLOYMENT):
        obj = kube.get(resource, name, namespace)
        if obj is not None:
            found.append((resource.kind, obj))
    return found


def _being_removed_waited(kube: Kube, namespace: str, name: str) -> list[tuple[str, Obj]]:
    """What is named `name` here, once whatever of it was only being removed is gone (a student who
    runs the same plugin again just after the last run ended finds it still stopping)."""
    deadline = time.monotonic() + _GONE_TIMEOUT
    noted = False
    while True:
        existing = _existing(kube, namespace, name)
        if not existing or not all(obj["metadata"].get("deletionTimestamp") for _, obj in existing):
            return existing
        if time.monotonic() > deadline:
            return existing
        if not noted:
            output.note(f"waiting for the last {name} to stop")
            noted = True
        time.sleep(0.5)


def _start(kube: Kube, node: PluginNode, plugin: Plugin) -> tuple[Obj, Obj | None]:
    """Creates the plugin's objects: (its workload as created, its ConfigMap or None); nothing on failure."""
    from vwclass.core import names, plugins
    from vwclass.kube.api import ApiError
    from vwclass.kube.resources import BY_KIND, CONFIGMAP, resource_of

    existing = _being_removed_waited(kube, node.namespace, plugin.name)
    if existing:
        kind, obj = existing[0]
        state = plugins.pod_phase(obj) if kind == "Pod" else kind
        abort(
            f"a plugin named {plugin.name} is already running here ({kind}, {state}): "
            f"`vwclass plugin rm {plugin.name}` removes it, or choose another name",
            Exit.BAD_INPUT,
        )
    objects = plugins.plugin_objects(node, plugin)
    quota = kube.get(BY_KIND[("v1", "ResourceQuota")], "student-quota", node.namespace)
    problem = plugins.quota_problem(quota, objects) if quota else None
    if problem:
        abort(problem, Exit.FAILED)
    *configmaps, workload = objects
    configmap = None
    if configmaps:
        name = configmaps[0]["metadata"]["name"]
        configmap = kube.create(configmaps[0])
        left = kube.get(CONFIGMAP, name, node.namespace) if configmap is None else None
        if left is not None and left["metadata"].get("labels", {}).get(names.MANAGED_BY) == plugins.MANAGER:
            # Left by a plugin run that was killed before it could clean up: replaced.
            kube.delete(CONFIGMAP, name, node.namespace, uid=left["metadata"]["uid"])
            configmap = kube.create(configmaps[0])
        if configmap is None:
            abort(f"ConfigMap {name} is in the way of plugin {plugin.name}: choose another name", Exit.BAD_INPUT)
    try:
        created = kube.create(workload)
        if created is None:
            abort(
                f"a plugin named {plugin.name} is already running here: `vwclass plugin rm {plugin.name}`",
                Exit.BAD_INPUT,
            )
    except (ApiError, CliError) as error:
        if configmap is not None:
            kube.delete(CONFIGMAP, configmap["metadata"]["name"], node.namespace, uid=configmap["metadata"]["uid"])
        if isinstance(error, ApiError) and error.status == 403 and "exceeded quota" in error.message:
            abort(f"quota exceeded: {error.message}", Exit.FAILED)
        raise
    if configmap is not None:
        # Owned by the workload, so whatever removes the plugin removes its files too.
        owner = {
            "apiVersion": created["apiVersion"],
            "kind": created["kind"],
            "name": created["metadata"]["name"],
            "uid": created["metadata"]["uid"],
        }
        kube.request(
            "PATCH",
            resource_of(configmap).path(node.namespace, configmap["metadata"]["name"]),
            body={"metadata": {"ownerReferences": [owner]}},
            content_type="application/merge-patch+json",
        )
    return created, configmap


def _remove(kube: Kube, namespace: str, pod: Obj, configmap: Obj | None) -> None:
    from vwclass.kube.resources import CONFIGMAP, POD

    kube.delete(POD, pod["metadata"]["name"], namespace, uid=pod["metadata"]["uid"])
    if configmap is not None:
        kube.delete(CONFIGMAP, configmap["metadata"]["name"], namespace, uid=configmap["metadata"]["uid"])


# -- following a pod ------------------------------------------------------------------------------------
def _write(chunk: bytes | str) -> None:
    sys.stdout.write(chunk.decode(errors="replace") if isinstance(chunk, bytes) else chunk)
    sys.stdout.flush()


def _started(pod: Obj) -> bool:
    """Whether the pod's containers run or ran (so it has a log)."""
    status = pod.get("status", {})
    states = [c.get("state", {}) for c in status.get("containerStatuses", [])]
    return status.get("phase") in ("Succeeded", "Failed") or any("running" in s or "terminated" in s for s in states)


def _wait_started(kube: Kube, namespace: str, name: str) -> Obj:
    """The pod once its plugin container runs or ended; a one-line error when it cannot start."""
    from vwclass.core import plugins
    from vwclass.kube.resources import POD

    deadline = time.monotonic() + _START_TIMEOUT
    shown = ""
    while True:
        pod = kube.get(POD, name, namespace)
        if pod is None:
            abort(f"plugin {name} was removed before it started", Exit.FAILED)
        if _started(pod):
            return pod
        phase = plugins.pod_phase(pod)
        if phase.removeprefix("Init:") in _HOPELESS or phase == "Init:Error":
            abort(f"plugin {name} cannot start: {phase} (`vwclass plugin ps` shows it)", Exit.FAILED)
        if phase != shown:
            output.note(f"{name}: {phase}")
            shown = phase
        if time.monotonic() > deadline:
            abort(f"plugin {name} did not start within {_START_TIMEOUT:.0f}s: {phase}", Exit.FAILED)
        time.sleep(0.5)


def _exit_code(kube: Kube, namespace: str, name: str, wait: float = 30.0) -> int:
    """The plugin container's exit code once it ended (1 when it never says)."""
    from vwclass.kube.resources import POD

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pod = kube.get(POD, name, namespace) or {}
        for container in pod.get("status", {}).get("containerStatuses", []):
            terminated = container.get("state", {}).get("terminated")
            if container.get("name") == "plugin" and terminated:
                return int(terminated.get("exitCode", 1))
        time.sleep(0.5)
    return 1


def _follow(kube: Kube, namespace: str, name: str) -> None:
    from vwclass.kube import pods

    for chunk in pods.log(kube, namespace, name, "plugin", follow=True):
        _write(chunk)


# -- commands -----------------------------------------------------------------------------------------
@app.command()
def run(
    ctx: typer.Context,
    name: NameArgument,
    rest: RestArgument = None,
    folder: DirOption = None,
) -> None:
    """Run a plugin until it ends, showing its output; it is removed when it ends or on Ctrl-C.

    \b
      vwclass plugin run hello registry.example.org/me/hello:0.1.0 -- --count 3
      vwclass plugin run hello --dir ./hello -- --count 3
    """
    plugin = _plugin(name, "run", rest, folder)
    namespace = _namespace(ctx)
    kube = session.connect(ctx)
    node = _node(kube, namespace)
    pod, configmap = _start(kube, node, plugin)
    code = 1
    try:
        _wait_started(kube, namespace, name)
        _follow(kube, namespace, name)
        code = _exit_code(kube, namespace, name)
    except KeyboardInterrupt:
        output.note(f"stopping {name}")
        code = 130
    finally:
        _remove(kube, namespace, pod, configmap)
    if code:
        raise typer.Exit(code)


@app.command()
def deploy(
    ctx: typer.Context,
    name: NameArgument,
    rest: RestArgument = None,
    folder: DirOption = None,
    kind: Annotated[
        str, typer.Option("--type", metavar="job|deployment", help="A Job runs once; a Deployment is restarted.")
    ] = "deployment",
) -> None:
    """Start a plugin that keeps running after you close the terminal (`plugin rm NAME` stops it)."""
    if kind not in ("job", "deployment"):
        abort(f"--type {kind}: must be job or deployment", Exit.BAD_INPUT)
    plugin = _plugin(name, kind, rest, folder)
    namespace = _namespace(ctx)
    kube = session.connect(ctx)
    node = _node(kube, namespace)
    _start(kube, node, plugin)
    output.note(f"{name} deployed as a {kind}: `vwclass plugin ps`, `vwclass plugin logs {name} -f`")


def _plugin_objects(kube: Kube, namespace: str | None, selector: str) -> tuple[list[Obj], list[Obj]]:
    from vwclass.kube.resources import DEPLOYMENT, JOB, POD

    pods = kube.list(POD, selector, namespace)
    workloads = kube.list(JOB, selector, namespace) + kube.list(DEPLOYMENT, selector, namespace)
    return pods, workloads


@app.command()
def ps(
    ctx: typer.Context,
    class_name: Annotated[
        str | None,
        typer.Option(
            "--class", metavar="CLASS", help="Teachers: every student's plugins in CLASS.", show_default=False
        ),
    ] = None,
    fmt: output.OutputOption = output.Format.table,
) -> None:
    """List your plugins (teachers: --class CLASS lists every student's)."""
    from vwclass.core import names, plugins

    if class_name is None:
        namespace = _namespace(ctx)
        kube = session.connect(ctx)
        pods, workloads = _plugin_objects(kube, namespace, plugins.SELECTOR)
    else:
        kube = session.connect(ctx)
        session.get_class(kube, class_name)
        pods, workloads = _plugin_objects(kube, None, f"{plugins.SELECTOR},{names.CLASS_LABEL}={class_name}")
    rows = plugins.plugin_rows(pods, workloads)
    data = [
        {
            **({"student": r.student} if class_name else {}),
            "name": r.name,
            "type": r.kind,
            "image": r.image,
            "status": r.phase,
            "restarts": r.restarts,
            "created": r.created,
        }
        for r in rows
    ]
    columns = (("STUDENT",) if class_name else ()) + ("PLUGIN", "TYPE", "IMAGE", "STATUS", "RESTARTS", "AGE")
    output.emit(
        data,
        fmt,
        lambda: output.table(
            columns,
            [
                ((r.student,) if class_name else ())
                + (r.name, r.kind, r.image, r.phase, str(r.restarts), output.age(r.created))
                for r in rows
            ],
        ),
    )


def _newest_pod(kube: Kube, namespace: str, name: str) -> Obj:
    from vwclass.core import plugins
    from vwclass.kube.resources import POD

    pods = kube.list(POD, f"{plugins.SELECTOR},{plugins.TASK_LABEL}={name}", namespace)
    if not pods:
        abort(f"no plugin {name} is running in {namespace} (`vwclass plugin ps` lists them)", Exit.BAD_INPUT)
    return max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))


def _running_pod(kube: Kube, namespace: str, name: str) -> Obj:
    """The plugin's newest pod once its container runs. Right after `plugin deploy` or `run` the pod
    may not exist yet or still be starting: that is waited for, saying so; one that ended is not."""
    from vwclass.core import plugins
    from vwclass.kube.resources import POD

    deadline = time.monotonic() + _START_TIMEOUT
    noted = False
    while True:
        found = kube.list(POD, f"{plugins.SELECTOR},{plugins.TASK_LABEL}={name}", namespace)
        if found:
            newest = max(found, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
            pod = _wait_started(kube, namespace, newest["metadata"]["name"])
            running = any(
                c.get("name") == "plugin" and "running" in c.get("state", {})
                for c in pod.get("status", {}).get("containerStatuses", [])
            )
            if running:
                return pod
            abort(f"plugin {name} is not running ({plugins.pod_phase(pod)}): `vwclass plugin logs {name}`", Exit.FAILED)
        if not any(kind != "Pod" for kind, _ in _existing(kube, namespace, name)):
            abort(f"no plugin {name} is running in {namespace} (`vwclass plugin ps` lists them)", Exit.BAD_INPUT)
        if not noted:
            output.note(f"{name}: waiting for its pod")
            noted = True
        if time.monotonic() > deadline:
            abort(f"plugin {name} has no pod after {_START_TIMEOUT:.0f}s (`vwclass plugin ps`)", Exit.FAILED)
        time.sleep(0.5)


def _teacher_namespace(kube: Kube, class_name: str, student: str | None) -> str:
    from vwclass.core.spec import parse_class

    if not student:
        abort("--class needs --student ID: whose plugin?", Exit.BAD_INPUT)
    cls = parse_class(session.get_class(kube, class_name))
    found = cls.student(student)
    if found is None:
        abort(f"class {class_name!r} has no student {student!r}", Exit.BAD_INPUT)
    return found.namespace


@app.command()
def logs(
    ctx: typer.Context,
    name: NameArgument,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing new lines until it ends.")] = False,
    class_name: Annotated[
        str | None,
        typer.Option("--class", metavar="CLASS", help="Teachers: a student's plugin in CLASS.", show_default=False),
    ] = None,
    student: Annotated[
        str | None, typer.Option("--student", metavar="ID", help="Teachers: whose plugin.", show_default=False)
    ] = None,
) -> None:
    """Show a plugin's output (its newest pod's)."""
    from vwclass.core import plugins
    from vwclass.kube import pods

    if class_name is None:
        namespace = _namespace(ctx)
        kube = session.connect(ctx)
    else:
        kube = session.connect(ctx)
        namespace = _teacher_namespace(kube, class_name, student)
    pod = _newest_pod(kube, namespace, name)
    if not _started(pod):
        if not follow:
            abort(f"plugin {name} has not started yet: {plugins.pod_phase(pod)}", Exit.FAILED)
        pod = _wait_started(kube, namespace, pod["metadata"]["name"])
    try:
        for chunk in pods.log(kube, namespace, pod["metadata"]["name"], "plugin", follow):
            _write(chunk)
    except KeyboardInterrupt:
        pass


@app.command(name="exec")
def exec_command(
    ctx: typer.Context,
    name: NameArgument,
    command: Annotated[
        list[str], typer.Argument(metavar="-- COMMAND...", help="What to run in the plugin's container.")
    ],
) -> None:
    """Run a command in a running plugin's container: vwclass plugin exec NAME -- ls /run/waggle"""
    from vwclass.kube import pods

    namespace = _namespace(ctx)
    kube = session.connect(ctx)
    pod = _running_pod(kube, namespace, name)
    code = pods.execute(
        kube, namespace, pod["metadata"]["name"], "plugin", command, _write, lambda s: print(s, end="", file=sys.stderr)
    )
    if code:
        raise typer.Exit(code)


@app.command()
def rm(ctx: typer.Context, name: NameArgument) -> None:
    """Stop a plugin and remove it (its pods and files too)."""
    from vwclass.core import names, plugins
    from vwclass.kube.resources import BY_KIND, CONFIGMAP

    namespace = _namespace(ctx)
    kube = session.connect(ctx)
    removed = []
    for kind, obj in _existing(kube, namespace, name):
        # Only what `vwclass plugin` made: never a student's own Deployment of the same name.
        if obj["metadata"].get("labels", {}).get(names.MANAGED_BY) != plugins.MANAGER:
            continue
        resource = BY_KIND[(obj["apiVersion"], kind)]
        if kube.delete(resource, name, namespace, uid=obj["metadata"]["uid"]):
            removed.append(kind)
    configmap = kube.get(CONFIGMAP, plugins.code_configmap(name), namespace)
    if configmap is not None and configmap["metadata"].get("labels", {}).get(names.MANAGED_BY) == plugins.MANAGER:
        kube.delete(CONFIGMAP, plugins.code_configmap(name), namespace, uid=configmap["metadata"]["uid"])
    if not removed:
        abort(f"no plugin {name} in {namespace} (`vwclass plugin ps` lists them)", Exit.BAD_INPUT)
    output.note(f"removed {name} ({', '.join(removed)})")


def newplugin(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The plugin's name (a DNS label).", show_default=False)],
    into: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Folder to create (default: ./NAME).", show_default=False),
    ] = None,
) -> None:
    """Write a plugin template: main.py (pywaggle), requirements.txt, sage.yaml, a Dockerfile and a README.

    It runs unchanged with `vwclass plugin run NAME --dir NAME` and, built, as an image on a Waggle node.
    """
    from vwclass.core import plugintemplate
    from vwclass.core.plugins import InvalidPlugin, check_name

    try:
        check_name(name)
    except InvalidPlugin as error:
        abort(str(error), Exit.BAD_INPUT)
    folder = into or Path(name)
    if folder.exists() and any(folder.iterdir()) if folder.is_dir() else folder.exists():
        abort(f"{folder} already exists: choose another name or --out DIR", Exit.BAD_INPUT)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for relative, text in plugintemplate.files(name).items():
            (folder / relative).write_text(text)
    except OSError as error:
        abort(f"cannot write {folder}: {error.strerror}", Exit.BAD_INPUT)
    output.note(f"wrote {folder}/: edit main.py, then `vwclass plugin run {name} --dir {folder}`")
