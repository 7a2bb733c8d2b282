"""A real local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok).

Built from Go modules (`build`), given certificates (`pki`) and command lines (`controlplane`), run as
local processes (`cluster`, over `processes`), and driven by `python -m vwclass.testenv up|down|status`.
Nothing here is needed on a real cluster.
"""


class TestenvError(Exception):
    """A set-up problem with a one-line explanation for the person running it."""
