"""The student's loop on the real node, exactly as a student runs it, with the kubeconfig and notes that
`vwclass credentials` hands out, in the default mode (the data-sharing service on):

- in their plugin runner (`kubectl exec`), a pywaggle plugin publishes and uploads, and
  `sage_data_client.query(endpoint=$SAGE_DATA_API)` returns it with the node's meta; the file downloads;
- `vwclass newplugin`, an edited main.py, `vwclass plugin run --dir` and `plugin deploy --type job`:
  the value comes back with its `task` and `plugin` meta; a plugin of A sees none of B's data;
- the laptop path of the notes (a port-forward, WAGGLE_APP_ID=laptop) has its measurements stored;
- every command of the README's "For students" section, run as written.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sage_data_client

from tests.support.cli import Cli
from tests.support.kube import eventually, free_port, unique
from tests.support.realnode import (
    RealClass,
    class_on_the_real_node,
    image_from_the_templates_dockerfile,
    node_identity,
    query_in_runner,
    stored,
    write_plugin,
)
from vwclass.kube.api import Kube
from vwclass.testenv import images, realnode
from vwclass.testenv.cluster import Cluster

pytestmark = pytest.mark.realnode

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture(scope="module")
def course(cluster: Cluster, teacher: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealClass]:
    handout = tmp_path_factory.mktemp("handout") / "out"
    with class_on_the_real_node(teacher, cluster, unique("loop"), handout, students=2) as course:
        yield course


def timed(what: str, started: float) -> None:
    print(f"\n{what}: {time.monotonic() - started:.1f}s")


# -- A: in the runner ---------------------------------------------------------------------------------
PUBLISH_AND_UPLOAD = """
from pathlib import Path
from waggle.plugin import Plugin

path = Path.home() / "reading.txt"
path.write_text("uploaded from the runner\\n")
with Plugin() as plugin:
    for value in (21.5, 22.5, 23.5):
        plugin.publish("env.temperature", value, meta={"sensor": "bme680"})
    plugin.upload_file(str(path), meta={"camera": "none"})
print("published and uploaded")
"""

DOWNLOAD = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode(), end="")
"""


def test_a_plugin_in_the_runner_publishes_and_uploads_and_the_data_api_returns_both(course: RealClass) -> None:
    started = time.monotonic()
    a = course.students[0]
    assert "published and uploaded" in a.python_in_runner(PUBLISH_AND_UPLOAD)
    identity = node_identity(a)

    temperatures = stored(a, "env.temperature", count=3)
    assert sorted(r["value"] for r in temperatures) == [21.5, 22.5, 23.5]
    for record in temperatures:
        meta = record["meta"]
        assert {k: meta.get(k) for k in identity} == identity, meta
        assert meta["sensor"] == "bme680"
        # The runner's app meta, registered as the scheduler registers a plugin's.
        assert meta["task"] == "plugin-runner", meta
        assert meta["job"] == course.name, meta

    [upload] = stored(a, "upload")
    assert {k: upload["meta"].get(k) for k in identity} == identity
    url = upload["value"]
    assert isinstance(url, str), upload
    assert url.startswith("http"), upload
    downloaded = a.in_runner("python3", "-c", DOWNLOAD, url)
    assert downloaded == "uploaded from the runner\n"
    timed("publish, upload, query and download in the runner", started)


# -- D: newplugin, plugin run --dir, plugin deploy --type job -----------------------------------------
def test_newplugin_edited_then_run_with_dir_stores_the_value_with_task_and_plugin(
    course: RealClass, tmp_path: Path
) -> None:
    started = time.monotonic()
    a = course.students[0]
    write_plugin(a, tmp_path, "thermo", 31.25)
    result = a.shell("vwclass plugin run thermo --dir thermo -- --count 2 --interval 0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Its output, followed until it ended (pywaggle's log lines and the template's).
    assert result.stdout.count("published thermo.value = 31.25") == 2, result.stdout

    records = stored(a, "thermo.value", count=2)
    identity = node_identity(a)
    for record in records:
        assert record["value"] == 31.25
        assert record["meta"]["task"] == "thermo", record
        assert record["meta"]["plugin"] == "thermo", record
        assert record["meta"]["units"] == "C"
        assert {k: record["meta"].get(k) for k in identity} == identity
    # Removed on its way out.
    assert "thermo" not in a.shell("vwclass plugin ps", cwd=tmp_path).stdout
    timed("newplugin, plugin run --dir, query", started)


def test_the_same_plugin_deployed_as_a_job_stores_its_value(course: RealClass, tmp_path: Path) -> None:
    started = time.monotonic()
    a = course.students[0]
    write_plugin(a, tmp_path, "thermo-job", 17.75)
    result = a.shell("vwclass plugin deploy thermo-job --dir thermo-job --type job -- --count 1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    try:
        [record] = stored(a, "thermo_job.value", timeout=180)
        assert record["value"] == 17.75
        assert (record["meta"]["task"], record["meta"]["plugin"]) == ("thermo-job", "thermo-job"), record

        def completed() -> bool:
            return "Completed" in a.shell("vwclass plugin ps", cwd=tmp_path).stdout

        eventually(completed, timeout=60, interval=2, what="the job Completed in `vwclass plugin ps`")
        logs = a.shell("vwclass plugin logs thermo-job", cwd=tmp_path)
        assert "published thermo_job.value = 17.75" in logs.stdout, logs.stdout + logs.stderr
    finally:
        removed = a.shell("vwclass plugin rm thermo-job", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    timed("newplugin, plugin deploy --type job, query", started)


SEES = """
import json, os, sys
import sage_data_client

# What this plugin can see of the data: its own node's data API, as a plugin pod reaches it.
df = sage_data_client.query(endpoint="http://data-endpoint/api/v1/query", start="-1h")
nodes = sorted(set(df["meta.node"])) if len(df) else []
names = sorted(set(df["name"])) if len(df) else []
print("SEES " + json.dumps({"nodes": nodes, "names": names}))
"""


def test_a_plugin_of_student_a_sees_none_of_student_bs_data(course: RealClass, tmp_path: Path) -> None:
    started = time.monotonic()
    a, b = course.students
    b.python_in_runner("from waggle.plugin import Plugin\nwith Plugin() as p:\n    p.publish('only.for.b', 7)\n")
    assert [r["value"] for r in stored(b, "only.for.b")] == [7]

    folder = tmp_path / "peek"
    folder.mkdir()
    (folder / "main.py").write_text(SEES)
    result = a.shell("vwclass plugin run peek --dir peek", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("SEES ")]
    seen = json.loads(line.removeprefix("SEES "))
    assert node_identity(b)["node"] not in seen["nodes"]
    assert "only.for.b" not in seen["names"]
    assert seen["nodes"] in ([], [node_identity(a)["node"]]), seen
    # And from A's runner, through the data API: none either.
    assert query_in_runner(a, {"name": "only.for.b"}) == []
    timed("B's data invisible to A's plugin", started)


# -- the laptop path ------------------------------------------------------------------------------------
def notes_line(notes: str, marker: str, ending: str = "") -> str:
    [line] = [line.strip() for line in notes.splitlines() if marker in line and line.strip().endswith(ending)]
    return line


def test_a_plugin_on_the_laptop_through_the_notes_port_forward_has_its_data_stored(
    course: RealClass, tmp_path: Path
) -> None:
    """The notes' port-forward and settings, as written (with a free local port in place of 5672, which
    this machine may use), from a plugin run on this machine, behind the data-sharing service."""
    started = time.monotonic()
    a = course.students[0]
    notes = a.notes.read_text()
    port = free_port()
    forward = notes_line(notes, "port-forward svc/rabbitmq")
    assert "5672:5672" in forward
    forward = forward.replace("5672:5672", f"{port}:5672").replace(" 15672:15672", "")
    run_line = notes_line(notes, "WAGGLE_APP_ID=", ending="python3 main.py")
    words = shlex.split(run_line)
    assert words[-2:] == ["python3", "main.py"], run_line
    settings = dict(w.split("=", 1) for w in words[:-2])
    assert settings["WAGGLE_APP_ID"] == "laptop"
    assert settings["WAGGLE_PLUGIN_PORT"] == "5672"
    settings["WAGGLE_PLUGIN_PORT"] = str(port)

    folder = write_plugin(a, tmp_path, "desk", 12.5)
    # The notes' kubectl names the kubeconfig by its file name: run from the handout's folder.
    forwarding = subprocess.Popen(
        ["bash", "-c", f"exec {forward}"],
        cwd=a.kubeconfig.parent,
        env=a.shell_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forwarding.stdout is not None
        first = forwarding.stdout.readline()
        assert "Forwarding from" in first, first
        laptop = subprocess.run(
            [sys.executable, "main.py", "--count", "2", "--interval", "0.2"],
            cwd=folder,
            env={**a.shell_env(), **settings},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert laptop.returncode == 0, laptop.stderr
    finally:
        forwarding.terminate()
        forwarding.wait(timeout=30)
    records = stored(a, "desk.value", count=2)
    for record in records:
        assert record["value"] == 12.5
        assert (record["meta"]["task"], record["meta"]["plugin"]) == ("laptop", "laptop"), record

    # The notes' other port-forward: the data API, queried from the laptop with sage-data-client.
    api_port = free_port()
    api_forward = notes_line(notes, "port-forward svc/data-endpoint")
    assert "8080:80" in api_forward
    forwarding = subprocess.Popen(
        ["bash", "-c", "exec " + api_forward.replace("8080:80", f"{api_port}:80")],
        cwd=a.kubeconfig.parent,
        env=a.shell_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert forwarding.stdout is not None
        first = forwarding.stdout.readline()
        assert "Forwarding from" in first, first
        frame = sage_data_client.query(
            endpoint=f"http://127.0.0.1:{api_port}/api/v1/query", start="-1h", filter={"name": "desk.value"}
        )
    finally:
        forwarding.terminate()
        forwarding.wait(timeout=30)
    assert sorted(frame["value"]) == [12.5, 12.5]
    assert set(frame["meta.task"]) == {"laptop"}
    timed("the laptop path through the notes' port-forward", started)


# -- E: the README's "For students" commands, as written ----------------------------------------------
def readme_student_commands() -> list[str]:
    """The command lines of the README's "For students" section (its sh blocks, comments dropped)."""
    text = README.read_text()
    section = text.split("\n## For students\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def readme_student_python() -> list[str]:
    """The Python blocks of the README's "For students" section."""
    section = README.read_text().split("\n## For students\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


IN_THE_RUNNERS_SHELL = "python3 -c 'import waggle.plugin, sage_data_client; print(\"runner ok\")'\nexit\n"


def test_every_command_of_the_readmes_for_students_section_runs_as_written(
    cluster: Cluster, course: RealClass, tmp_path: Path
) -> None:
    """Run in order, in a fresh folder holding the student's kubeconfig, as a student would type them."""
    started = time.monotonic()
    a = course.students[0]
    commands = readme_student_commands()
    assert commands[0].startswith("export KUBECONFIG=$PWD/"), commands[0]
    (tmp_path / commands[0].removeprefix("export KUBECONFIG=$PWD/")).write_text(a.kubeconfig.read_text())
    exported = commands[0]
    outputs: dict[str, str] = {}
    for command in commands[1:]:
        script = f"{exported}\n{command}"
        image = re.search(r"\b(registry\.example\.org/\S+)", command)
        if image:
            # The student built it from the template's Dockerfile (and pushed it); here it is imported.
            archive = image_from_the_templates_dockerfile(
                images.debian_image(images.PLUGIN_RUNNER_IMAGE), tmp_path / "hello", image[1], tmp_path / "image.tar"
            )
            realnode.RealNode(cluster).import_image(archive)
        if " exec -it " in command:
            result = a.shell(script, cwd=tmp_path, stdin=IN_THE_RUNNERS_SHELL)
            assert "runner ok" in result.stdout, (command, result.stdout, result.stderr)
        else:
            # Typed at once: a `plugin run` of the name the last one had waits for that one to stop, and
            # `plugin exec` just after `plugin deploy` waits for its pod to run.
            result = a.shell(script, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        outputs[command] = result.stdout
        if command.endswith("plugin ps"):
            # The section's teacher commands, while the student's job runs.
            teacher = Cli(cluster.kubeconfig)
            listed = teacher("plugin", "ps", "--class", course.name)
            assert listed.exit_code == 0, listed.output
            assert a.id in listed.stdout
            assert "hello" in listed.stdout

            def teachers_view(teacher: Cli = teacher) -> str | None:
                result = teacher("plugin", "logs", "hello", "--class", course.name, "--student", a.id)
                return result.stdout if result.exit_code == 0 and result.stdout else None

            shown = eventually(teachers_view, timeout=60, interval=2, what="the teacher reading the plugin's output")
            assert "hello.value" in shown
        print(f"\n$ {command}  ({time.monotonic() - started:.0f}s)")

    runs = [c for c in commands if " plugin run " in c]
    assert runs, commands
    for command in runs:
        assert "published hello.value" in outputs[command], (command, outputs[command])
    [logs] = [c for c in commands if " plugin logs " in c]
    assert "published hello.value" in outputs[logs]
    [ps] = [c for c in commands if c.endswith("plugin ps")]
    assert "hello" in outputs[ps]
    [exec_line] = [c for c in commands if " plugin exec " in c]
    assert "uploads" in outputs[exec_line]

    # The query the section shows, in the runner, finds what those plugins published.
    for code in readme_student_python():
        # As written, then what its DataFrame holds (its print elides columns to fit the terminal).
        shown = a.python_in_runner(code + '\nprint("HOLDS", sorted(set(df["name"])), sorted(set(df["meta.task"])))\n')
        assert "HOLDS ['hello.value'] ['hello']" in shown, shown
    print(f"\nthe README's student commands, as written: {time.monotonic() - started:.1f}s")


def test_plugin_exec_right_after_plugin_deploy_waits_for_the_pod_to_run(course: RealClass, tmp_path: Path) -> None:
    a = course.students[0]
    (tmp_path / "sleeper").mkdir()
    (tmp_path / "sleeper" / "main.py").write_text("import time\ntime.sleep(300)\n")
    deployed = a.shell("vwclass plugin deploy sleeper --dir sleeper --type deployment", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    try:
        # Typed at once: the pod does not exist yet, or is still starting.
        result = a.shell("vwclass plugin exec sleeper -- echo inside", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "inside"
    finally:
        a.shell("vwclass plugin rm sleeper", cwd=tmp_path)
