"""What the demos' entry points share: their flags, where they run, their logs, the
closing hint (``python -m e2e.demo`` and ``python -m e2e.demo.chat``)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from e2e.demo.network import local_cluster_of
from e2e.localcluster import build, cluster

__all__ = ["Place", "explore_hint", "parse", "place", "stay_hint"]


def parse(
    argv: list[str] | None, *, prog: str, doc: str, namespace: str, logs: str, stay: bool = False
) -> argparse.Namespace:
    """The demos' flags; ``stay``: also ``--stay`` (the main demo's)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n", maxsplit=1)[0])
    if stay:
        parser.add_argument(
            "--stay",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="after the story, keep the apps, the traffic, Prometheus, Unleash and the"
            " controller running until Ctrl-C, to try releases and rollbacks by hand"
            " (default: when the output is a terminal)",
        )
    parser.add_argument("--namespace", default=namespace, help="deleted and made afresh")
    parser.add_argument("--rps", type=float, default=100.0, help="requests per second")
    parser.add_argument(
        "--kubeconfig", help="run on this cluster (default: the local control plane, started)"
    )
    parser.add_argument("--log-dir", type=Path, help=f"default: the local cluster's logs/{logs}")
    parser.add_argument("--summary-json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--data-plane",
        choices=("auto", "network", "loopback"),
        default="auto",
        help="network: the local cluster's real network (ClusterIP → kube-proxy → pod"
        " apps, Prometheus in its namespace); loopback: an app per revision and a"
        " traffic split by Ready pods on loopback (what runs on other clusters);"
        " auto (default): network on the local cluster, else loopback",
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Place:
    kubeconfig: str
    kubectl: Path
    log_dir: Path


def place(args: argparse.Namespace, *, logs: str, quiet: tuple[str, ...]) -> Place | None:
    """The cluster (``--kubeconfig``, else the local control plane, started or reused), the
    pinned kubectl and the log folder, with ``demo.log`` set up; None (said) on failure."""
    try:
        kubectl = build.ensure_binaries().kubectl
        if args.kubeconfig:
            kubeconfig = str(args.kubeconfig)
            log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix=f"landinggear-{logs}-"))
        else:
            state = cluster.up()
            kubeconfig = state.kubeconfig
            log_dir = args.log_dir or Path(state.run_dir) / "logs" / logs
    except (cluster.ClusterError, build.BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    if args.data_plane == "network" and local_cluster_of(kubeconfig) is None:
        print(
            f"error: --data-plane network needs the local cluster with its network;"
            f" {kubeconfig} is not one (python -m e2e.localcluster up starts it)",
            file=sys.stderr,
        )
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        filename=log_dir / "demo.log",
        filemode="w",
    )
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return Place(kubeconfig=kubeconfig, kubectl=kubectl, log_dir=log_dir)


def explore_hint(
    args: argparse.Namespace, kubeconfig: str, rollout: str, *, stay_offered: bool = False
) -> None:
    """On the local control plane (it keeps running): what is left of the demo, how to
    look around, and how to stop it."""
    if args.kubeconfig:
        return
    print(
        "The cluster keeps running with the Rollout and its history; the demo's apps,"
        " traffic and controller are stopped, so its pods are not Ready and a change"
        " waits for a controller."
    )
    print("Look around with:")
    _exports(kubeconfig)
    print(f"  kubectl landinggear -n {args.namespace} get {rollout}")
    if stay_offered:
        print("To try releases and rollbacks by hand: make demo in a terminal (or --stay).")
    print("Stop the cluster with: make down")


def stay_hint(namespace: str, kubeconfig: str, rollout: str) -> None:
    """While the demo stays: what to type in another terminal."""
    print(
        "\nEverything keeps running until Ctrl-C: the apps, the traffic, Prometheus, Unleash"
        " and the controller. In another terminal:"
    )
    _exports(kubeconfig)
    ns = f"-n {namespace}"
    commands = [
        (f"kubectl landinggear {ns} watch {rollout}", "follow it live"),
        (f"kubectl {ns} set env deployment/{rollout} ERROR_RATE=0.2", "a bad release: aborted"),
        (f"kubectl {ns} set env deployment/{rollout} ERROR_RATE=0.004", "a healthy one: promoted"),
        (f"kubectl landinggear {ns} rollback {rollout} --wait", "back to the previous stable"),
    ]
    width = max(len(command) for command, _ in commands)
    for command, what in commands:
        print(f"  {command:<{width}}  # {what}")
    print("Ctrl-C here stops the demo's processes; the cluster keeps running (make down stops it).")


def _exports(kubeconfig: str) -> None:
    print(f"  export KUBECONFIG={kubeconfig}")
    print(f"  export PATH={Path(sys.executable).parent}:$PATH")
