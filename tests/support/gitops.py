"""Flux's and Argo CD's own health code, run on a class: kstatus (a Go build) and the example's Lua script."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vwclass.kube.api import Kube
from vwclass.testenv.build import GoModule, ensure_tool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARGOCD_HEALTH_KEY = "resource.customizations.health.edu.sagecontinuum.org_VirtualWaggleClass"
# The wrapper module testenv/gomod/kstatus: one command on sigs.k8s.io/cli-utils/pkg/kstatus/status.
KSTATUS = GoModule("kstatus", ("vwclass.local/testenv/kstatus",), ("kstatus",))


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def build_kstatus() -> Path:
    """The kstatus command, built once beside the control plane (keyed by its own go.mod and go.sum)."""
    return ensure_tool(KSTATUS) / "kstatus"


def kstatus(binary: Path, raw: bytes) -> Health:
    """What kstatus computes for an API server's reply to a GET of one object (its NotFound reply included)."""
    result = subprocess.run([str(binary)], input=raw, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    printed = json.loads(result.stdout)
    return Health(printed["status"], printed["message"])


def argocd_script() -> str:
    """The Lua health script exactly as examples/argocd-application.yaml ships it for argocd-cm."""
    for document in yaml.safe_load_all((EXAMPLES / "argocd-application.yaml").read_text()):
        if document["kind"] == "ConfigMap":
            return str(document["data"][ARGOCD_HEALTH_KEY])
    raise AssertionError("examples/argocd-application.yaml has no argocd-cm health script")


def flux_health_checks() -> list[dict[str, str]]:
    """The healthChecks of the Flux example's Kustomization: the objects Flux asks kstatus about."""
    for document in yaml.safe_load_all((EXAMPLES / "flux-kustomization.yaml").read_text()):
        if document["kind"] == "Kustomization":
            return list(document["spec"]["healthChecks"])
    raise AssertionError("examples/flux-kustomization.yaml has no Kustomization")


def _lua_runtime() -> Any:
    # Argo CD runs health scripts in gopher-lua, a Lua 5.1: take lupa's Lua 5.1 (or LuaJIT, also 5.1).
    import importlib

    for name in ("lupa.lua51", "lupa.luajit21", "lupa.luajit20"):
        try:
            return importlib.import_module(name).LuaRuntime(unpack_returned_tuples=True)
        except ImportError:
            continue
    raise AssertionError("lupa has no Lua 5.1 runtime (lupa.lua51 or lupa.luajit2x)")


def _to_lua(lua: Any, value: Any) -> Any:
    # As Argo CD hands the object to Lua: maps and lists become tables (lists 1-based), numbers are numbers.
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


def argocd_lua(obj: dict[str, Any], script: str | None = None) -> Health:
    """The example's Lua health script run on obj, with `obj` as Argo CD sets it."""
    lua = _lua_runtime()
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script if script is not None else argocd_script())
    assert result is not None, "the script returned nothing"
    status, message = result["status"], result["message"]
    # Argo CD accepts only these; anything else is an error in the script.
    assert status in ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"), status
    return Health(str(status), str(message or ""))


def argocd_health(obj: dict[str, Any] | None) -> Health:
    """What Argo CD shows for the class: Missing when it is gone, and, as gitops-engine's
    GetResourceHealth does before any custom script, Progressing "Pending deletion" while it is being
    deleted; otherwise the example's script decides."""
    if obj is None:
        return Health("Missing", "")
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return Health("Progressing", "Pending deletion")
    return argocd_lua(obj)


def raw_get(kube: Kube, path: str) -> bytes:
    """The API server's reply to a GET, as bytes, whatever its status (a 404 is a v1 Status)."""
    client = kube.api_client
    response = client.call_api("GET", client.configuration.host + path, {"Accept": "application/json"}, None)
    return bytes(response.read())  # type: ignore[no-untyped-call]


def class_path(name: str) -> str:
    """The class's path, from the apiVersion and kind that the Flux example's healthChecks name."""
    [check] = [c for c in flux_health_checks() if c["kind"] == "VirtualWaggleClass"]
    assert check["kind"] == "VirtualWaggleClass"
    return f"/apis/{check['apiVersion']}/virtualwaggleclasses/{name}"


def both(kube: Kube, binary: Path, name: str) -> tuple[Health, Health, dict[str, Any] | None]:
    """kstatus and Argo CD's health of one read of the class, and what was read (None when gone)."""
    raw = raw_get(kube, class_path(name))
    reply = json.loads(raw)
    obj = None if reply.get("kind") == "Status" else reply
    return kstatus(binary, raw), argocd_health(obj), obj
