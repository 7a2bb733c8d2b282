"""The local control plane's shape: kubelet-like kwok nodes, stock client settings unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from vwclass import testenv as testenv_package
from vwclass.testenv import cluster as testenv
from vwclass.testenv import controlplane
from vwclass.testenv.__main__ import main
from vwclass.testenv.cluster import Cluster, NodeShape


def started(tmp_path: Path, tuned: bool) -> Cluster:
    """A cluster's state as `up` saves it, without starting anything."""
    shaped = Cluster("shape", root=tmp_path, tuned_clients=tuned)
    shaped.directory.mkdir(parents=True)
    ports = dict.fromkeys(("apiserver", "etcd", "etcd-peer", "controller-manager", "scheduler", "kwok"), 1)
    shaped._save({"bin": "/bin", "ports": ports, "pids": {}, "tuned_clients": tuned})
    controlplane.write_scheduler_config(shaped)
    return shaped


def test_nodes_default_to_a_kubelets_110_pods_on_a_stated_server() -> None:
    node = testenv._fake_node("kwok-node-0", NodeShape())
    assert node["status"] == {
        "allocatable": {"cpu": "48", "memory": "187Gi", "pods": "110", "ephemeral-storage": "1Ti"},
        "capacity": {"cpu": "48", "memory": "187Gi", "pods": "110", "ephemeral-storage": "1Ti"},
    }
    assert Cluster("x").nodes == testenv.FAKE_NODES


def test_controller_manager_and_scheduler_use_stock_clients_unless_tuned(tmp_path: Path) -> None:
    stock = started(tmp_path / "stock", tuned=False)
    argv = controlplane.argv(stock, "kube-controller-manager", Path("/bin"))
    assert not [flag for flag in argv if flag.startswith(("--kube-api-qps", "--kube-api-burst", "--concurrent-"))]
    assert "qps" not in (stock.directory / "scheduler.yaml").read_text()
    tuned = started(tmp_path / "tuned", tuned=True)
    assert set(controlplane.TUNED_CLIENT_FLAGS) <= set(
        controlplane.argv(tuned, "kube-controller-manager", Path("/bin"))
    )
    assert "qps: 500" in (tuned.directory / "scheduler.yaml").read_text()


def test_the_command_line_shapes_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Cluster] = []

    def fake_up(self: Cluster, real_node: bool = False) -> None:
        seen.append(self)
        raise testenv_package.TestenvError("not starting in a unit test")

    monkeypatch.setattr(Cluster, "up", fake_up)
    code = main(["up", "--nodes", "1", "--node-cpu", "48", "--node-memory", "187Gi", "--node-pods", "110"])
    assert code == 1
    (shaped,) = seen
    assert shaped.nodes == 1
    assert shaped.node_shape == NodeShape("48", "187Gi", 110)
    assert not shaped.tuned_clients


def test_the_plugin_runner_image_loads_what_a_plugin_imports() -> None:
    # sage-data-client's pandas and numpy link libstdc++, which Debian's essential variant leaves out: the
    # runner's first query failed on the real node. The build now imports them, so it fails instead.
    from vwclass.testenv import images

    image = images.PLUGIN_RUNNER_IMAGE
    assert "libstdc++6" in image.packages
    assert any("import waggle.plugin, sage_data_client" in hook for hook in image.customize)
