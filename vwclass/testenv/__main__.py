"""`python -m vwclass.testenv up|down|status|build`: the local control plane from the shell."""

from __future__ import annotations

import argparse
import sys
import time

from vwclass.testenv import TestenvError, build, images, realnode
from vwclass.testenv.cluster import FAKE_NODES, Cluster, NodeShape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vwclass.testenv", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status", "build"))
    parser.add_argument("--name", default="default", help="cluster name (default: %(default)s)")
    parser.add_argument(
        "--real-node",
        action="store_true",
        help="up: add one real node (containerd, kubelet; root; one per machine) beside the kwok nodes, with "
        "the images of a class with default components; "
        "build: also build its tools and images",
    )
    shape = NodeShape()
    parser.add_argument("--nodes", type=int, default=FAKE_NODES, help="kwok nodes (up; default: %(default)s)")
    parser.add_argument("--node-cpu", default=shape.cpu, help="each node's CPUs (up; default: %(default)s)")
    parser.add_argument("--node-memory", default=shape.memory, help="each node's memory (up; default: %(default)s)")
    parser.add_argument(
        "--node-pods",
        type=int,
        default=shape.pods,
        help="each node's pod slots (up; default: the kubelet's %(default)s)",
    )
    parser.add_argument(
        "--tuned-clients",
        action="store_true",
        help="controller manager and scheduler at 500 QPS with more workers (up; default: stock settings)",
    )
    args = parser.parse_args(argv)
    cluster = Cluster(
        args.name, nodes=args.nodes, node_shape=NodeShape(args.node_cpu, args.node_memory, args.node_pods)
    )
    if args.tuned_clients:
        cluster.tuned_clients = True
    try:
        if args.command == "build":
            started = time.monotonic()
            print(build.ensure_binaries())
            if args.real_node:  # what `up --real-node` and its tests need, built ahead (CI times it apart)
                for module in (build.KUBE_ROUTER, build.COREDNS):
                    print(build.ensure_tool(module))
                print(images.pause_image())
                print(images.debian_image(images.TEST_IMAGE))
                for archive in images.class_images():  # a class with default components, on the real node
                    print(archive)
            print(f"testenv: binaries ready in {time.monotonic() - started:.0f}s", file=sys.stderr)
        elif args.command == "up":
            started = time.monotonic()
            cluster.up(real_node=args.real_node)
            if args.real_node:  # a class with default images then runs there unchanged
                real_node = realnode.RealNode(cluster)
                for archive in images.class_images():
                    real_node.import_image(archive)
            print(f"testenv: cluster '{args.name}' up in {time.monotonic() - started:.0f}s", file=sys.stderr)
            print(cluster.kubectl("get", "nodes"), file=sys.stderr, end="")
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "down":
            cluster.down()
            print(f"testenv: cluster '{args.name}' stopped", file=sys.stderr)
        else:
            running = cluster.running()
            if not running:
                print(f"cluster '{args.name}': not running")
                return 1
            for component, alive in running.items():
                print(f"{component:26} {'running' if alive else 'STOPPED'}  pid {cluster.pids()[component]}")
            node = realnode.RealNode(cluster).running()
            for component, (pid, alive) in node.items():
                print(f"{'real node: ' + component:26} {'running' if alive else 'STOPPED'}  pid {pid}")
            print(f"export KUBECONFIG={cluster.kubeconfig}")
            return 0 if cluster.is_up() and all(alive for _, alive in node.values()) else 1
    except TestenvError as error:
        print(f"testenv: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
