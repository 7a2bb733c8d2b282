"""`vwclass render`, `--help` and `--version`: no cluster, and no heavy import before a command needs it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner, Result

from vwclass import __version__
from vwclass.cli.app import app
from vwclass.core import names, render
from vwclass.core.spec import parse_class


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="vwclass")


def test_render_prints_a_manifest_kubectl_can_apply() -> None:
    result = run("render", "physics", "--students", "3", "--workspace", "--preset", "medium")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert yaml.safe_load(result.stdout) == {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": "physics"},
        "spec": {"students": 3, "resources": {"preset": "medium"}, "components": {"workspace": True}},
    }
    as_json = run("render", "physics", "--students", "3", "--workspace", "--preset", "medium", "-o", "json")
    assert json.loads(as_json.stdout) == yaml.safe_load(result.stdout)


def test_render_expanded_is_every_object_of_every_student() -> None:
    result = run("render", "geo", "--students", "2", "--playback", "--expanded")
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    cls = parse_class(render.class_manifest("geo", {"students": 2, "components": {"playback": True}}))
    per_student = [render.student_objects(cls, s) for s in cls.students]
    assert len(documents) == sum(len(objects) + 1 for objects in per_student)  # + the credentials Secret each
    namespaces = [d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"]
    assert namespaces == ["geo-student-001", "geo-student-002"]
    secrets = [d for d in documents if d["kind"] == "Secret" and d["metadata"]["name"] == names.CREDENTIALS_SECRET]
    assert len(secrets) == 2
    assert documents[1] == secrets[0]  # created right after the namespace
    nodes = [d for d in documents if d["kind"] in ("Deployment", "StatefulSet")]
    assert [(d["kind"], d["metadata"]["name"]) for d in nodes] == [("StatefulSet", names.NODE_WORKLOAD)] * 2
    assert set(render.node_components([nodes[0]])) >= {"rabbitmq", "plugin-runner", "data-endpoint", "playback-server"}
    # Placeholders, never a real password, wherever the operator puts generated ones.
    assert {base64.b64decode(v).decode() for v in secrets[0]["data"].values()} == {render.PLACEHOLDER}
    config = next(d for d in documents if d["metadata"]["name"] == "rabbitmq-config")
    definitions = json.loads(base64.b64decode(config["data"]["definitions.json"]))
    assert {u["password"] for u in definitions["users"]} == {render.PLACEHOLDER}
    as_list = json.loads(run("render", "geo", "--students", "2", "--expanded", "-o", "json").stdout)
    assert as_list["kind"] == "List"
    assert as_list["items"][0]["kind"] == "Namespace"


def test_render_refuses_what_the_api_server_would() -> None:
    result = run("render", "geo", "--students", "501")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == "error: invalid class 'geo': --students: spec.students: 501 is greater than the maximum of 500\n"
    )


def test_help_documents_every_command_and_the_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in (
        "install",
        "uninstall",
        "create",
        "list",
        "status",
        "scale",
        "suspend",
        "resume",
        "delete",
        "credentials",
        "render",
        "doctor",
        "operator",
    ):
        assert f"\n  {command} " in result.stdout
    for code in ("0  ok", "1  failed or not ready", "2  bad input", "3  cluster unreachable", "4  permission denied"):
        assert code in result.stdout
    assert "--kubeconfig" in result.stdout
    assert "--context" in result.stdout
    assert "--install-completion" in result.stdout


def test_preset_and_pod_security_complete_from_the_crd() -> None:
    import os
    from pathlib import Path

    script = Path(sys.executable).parent / "vwclass"
    offered = {}
    for words in ("vwclass create geo --preset ", "vwclass create geo --pod-security r"):
        env = {
            **os.environ,
            "_VWCLASS_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
        offered[words] = result.stdout.split()
    assert offered == {
        "vwclass create geo --preset ": ["small", "medium", "large"],
        "vwclass create geo --pod-security r": ["restricted"],
    }


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"vwclass {__version__}\n"


def test_no_heavy_import_before_a_command_needs_it() -> None:
    probe = (
        "import sys\n"
        "from vwclass.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "for args in (['--help'], ['--version'], ['list', '--help'], ['render', 'x', '--students', '3']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "heavy = ('kubernetes', 'kopf', 'vwclass.kube', 'vwclass.operator', 'urllib3')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
    bare = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vwclass.cli.app import app; "
            "print(sorted(m for m in ('jinja2', 'celpy', 'jsonschema', 'yaml', 'rich') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.stdout == "[]\n", bare.stderr
