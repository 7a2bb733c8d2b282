"""`python -m vwclass.operator`: the operator in the foreground (what the container runs)."""

from __future__ import annotations

import argparse

from vwclass.operator.metrics import DEFAULT_ADDRESS
from vwclass.operator.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vwclass.operator", description=__doc__)
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL")
    parser.add_argument("--resync-seconds", type=float, default=120.0, help="how often every class is compared")
    parser.add_argument(
        "--metrics", default="", metavar="HOST:PORT", help=f"serve Prometheus metrics there (e.g. {DEFAULT_ADDRESS})"
    )
    args = parser.parse_args()
    run(args.kubeconfig, args.context, args.liveness, args.resync_seconds, args.metrics or None)


if __name__ == "__main__":
    main()
