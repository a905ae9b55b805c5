"""Command line: ``python -m e2e.localcluster {up,down,status,kubeconfig,exec,build,install-crds}``.

Progress goes to stderr; ``up`` prints the kubeconfig path as the last line of
stdout so scripts can do ``export KUBECONFIG=$(python -m e2e.localcluster up | tail -1)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from e2e import netns
from e2e.localcluster import build, cluster, crds, monitoring, network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster", description=__doc__)
    parser.add_argument("--name", default="default", help="cluster name (several may run)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build what is missing, start, wait for a Ready node")
    up.add_argument(
        "--crds",
        default="",
        help=f"comma-separated third-party CRD bundles to install: {','.join(crds.BUNDLES)}",
    )
    sub.add_parser("down", help="stop every process 'up' started and remove its data")
    sub.add_parser("status", help="show what runs; exit 1 if the cluster is not healthy")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    ex = sub.add_parser(
        "exec", help="run a command inside the cluster's network namespace: exec -- CMD ARGS…"
    )
    ex.add_argument("argv", nargs=argparse.REMAINDER, metavar="CMD")
    bld = sub.add_parser("build", help="build (or locate) the binaries only")
    bld.add_argument("--link-kubectl", metavar="DIR", help="symlink the pinned kubectl into DIR")
    inst = sub.add_parser("install-crds", help="install third-party CRD bundles")
    inst.add_argument("bundles", nargs="*", default=list(crds.BUNDLES))
    inst.add_argument(
        "--kubeconfig", help="install into this cluster instead of the local one (e.g. kind)"
    )
    args = parser.parse_args(argv)

    exit_code = 0
    try:
        if args.command == "up":
            started = time.monotonic()
            state = cluster.up(args.name)
            wanted = tuple(b for b in args.crds.split(",") if b)
            if wanted:
                crds.install(
                    kubectl=build.ensure_binaries().kubectl,
                    kubeconfig=Path(state.kubeconfig),
                    names=wanted,
                )
            print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
            print(state.kubeconfig, flush=True)
        elif args.command == "down":
            stopped = cluster.down(args.name)
            print("stopped" if stopped else "not running")
        elif args.command == "status":
            found, healthy = cluster.status(args.name)
            if found is None:
                print(f"cluster {args.name!r}: not running")
                return 1
            print(f"cluster {args.name!r}: {'healthy' if healthy else 'UNHEALTHY'}")
            print(f"  server:     {found.server}")
            print(f"  kubeconfig: {found.kubeconfig}")
            print(f"  netns:      {network.namespace_of(found)} (exec -- CMD runs CMD there)")
            if monitoring.PROMETHEUS in found.ports:
                print(f"  prometheus: {monitoring.url(found)} (inside the netns, relayed)")
            for name, pid in found.pids.items():
                alive = cluster.process_alive(pid, found.binaries.get(name))
                print(f"  {name:<32} pid {pid:<8} {'running' if alive else 'DEAD'}")
            return 0 if healthy else 1
        elif args.command == "kubeconfig":
            recorded, _ = cluster.status(args.name)
            if recorded is None:
                print(f"cluster {args.name!r} is not running; run 'up' first", file=sys.stderr)
                return 1
            print(recorded.kubeconfig)
        elif args.command == "exec":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not argv:
                parser.error("exec needs a command: exec -- CMD ARGS…")
            exit_code = network.exec_in(args.name, argv)
        elif args.command == "build":
            binaries = build.ensure_binaries()
            for name, path in vars(binaries).items():
                print(f"{name:<24} {path}")
            print(f"{'prometheus':<24} {monitoring.ensure_binary()}")
            if args.link_kubectl:
                link = Path(args.link_kubectl) / "kubectl"
                link.unlink(missing_ok=True)
                link.symlink_to(binaries.kubectl)
        elif args.command == "install-crds":
            target = args.kubeconfig
            if target is None:
                running, ok = cluster.status(args.name)
                if running is None or not ok:
                    print(f"cluster {args.name!r} is not running; run 'up' first", file=sys.stderr)
                    return 1
                target = running.kubeconfig
            for bundle in crds.install(
                kubectl=build.ensure_binaries().kubectl,
                kubeconfig=Path(target),
                names=tuple(args.bundles),
            ):
                print(f"installed {bundle.name}")
    except (cluster.ClusterError, build.BuildError, netns.NetnsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
