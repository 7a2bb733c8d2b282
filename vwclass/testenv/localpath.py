"""A local-path volume provisioner for the real node's StorageClass: one world-writable directory per claim.

kube-controller-manager's hostpath provisioner makes each volume a root-owned 0750 directory, and the
kubelet applies no fsGroup to hostPath volumes, so a non-root pod (RabbitMQ as uid 100, the data
endpoint) cannot write its own volume on a real node. This provisioner does what rancher's
local-path-provisioner does instead: it creates the directory with mode 0777 and a PersistentVolume
bound to the claim, and removes both once the claim is gone (reclaim policy Delete). Test use only.

Run by the real node (`python -m vwclass.testenv.localpath --kubeconfig-dir ... --root ...`); it polls
the API server once a second over the cluster's admin certificate (standard library only).
"""

from __future__ import annotations

import argparse
import json
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PROVISIONER = "vwclass.testenv/local-path"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


class Api:
    """The few API calls a provisioner makes, over HTTPS with a client certificate."""

    def __init__(self, server: str, pki: Path) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.server + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            loaded: dict[str, Any] = json.loads(response.read() or b"{}")
            return loaded

    def items(self, path: str) -> list[dict[str, Any]]:
        listed = self.call("GET", path).get("items") or []
        return list(listed) if isinstance(listed, list) else []


def persistent_volume(claim: dict[str, Any], directory: Path, storage_class: str) -> dict[str, object]:
    """The PersistentVolume for one claim: a hostPath directory pre-bound to that claim."""
    metadata = claim["metadata"]
    spec = claim["spec"]
    requests = spec.get("resources", {}).get("requests", {})
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{metadata['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER}},
        "spec": {
            "capacity": {"storage": requests.get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": storage_class,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": str(directory), "type": "Directory"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": metadata["namespace"],
                "name": metadata["name"],
                "uid": metadata["uid"],
            },
        },
    }


def our_classes(api: Api) -> set[str]:
    return {
        str(sc["metadata"]["name"])
        for sc in api.items("/apis/storage.k8s.io/v1/storageclasses")
        if sc.get("provisioner") == PROVISIONER
    }


def provision_once(api: Api, root: Path) -> None:
    """Creates a volume for every pending claim of our classes and deletes every released one of ours."""
    classes = our_classes(api)
    for claim in api.items("/api/v1/persistentvolumeclaims"):
        spec = claim["spec"]
        status = claim.get("status") or {}
        if spec.get("storageClassName") not in classes or spec.get("volumeName") or status.get("phase") != "Pending":
            continue
        metadata = claim["metadata"]
        directory = root / f"{metadata['namespace']}_{metadata['name']}_{metadata['uid']}"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # whatever user the pod runs as can write (mkdir's mode is cut by umask)
        try:
            api.call(
                "POST", "/api/v1/persistentvolumes", persistent_volume(claim, directory, str(spec["storageClassName"]))
            )
            print(f"provisioned {directory} for {metadata['namespace']}/{metadata['name']}", flush=True)
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: made on an earlier pass, the PV controller has not bound it yet
                raise
    for volume in api.items("/api/v1/persistentvolumes"):
        metadata = volume["metadata"]
        annotations = metadata.get("annotations") or {}
        phase = (volume.get("status") or {}).get("phase")
        if annotations.get(PROVISIONED_BY) != PROVISIONER or phase not in ("Released", "Failed"):
            continue
        path = Path(volume["spec"]["hostPath"]["path"])
        if path.parent == root:  # never remove anything outside our own root
            shutil.rmtree(path, ignore_errors=True)
        try:
            api.call("DELETE", f"/api/v1/persistentvolumes/{metadata['name']}")
            print(f"deleted {metadata['name']} and {path}", flush=True)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vwclass.testenv.localpath", description=__doc__)
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--pki", type=Path, required=True, help="directory with ca.crt, admin.crt, admin.key")
    parser.add_argument("--root", type=Path, required=True, help="where the volumes' directories go")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    api = Api(args.server, args.pki)
    while True:
        try:
            provision_once(api, args.root)
        except (urllib.error.URLError, OSError, ValueError) as error:
            print(f"local-path: {error} (retrying)", file=sys.stderr, flush=True)  # e.g. API server restarting
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
