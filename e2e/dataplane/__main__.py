"""Command line: ``python -m e2e.dataplane --namespace NS --prometheus URL --rps N``.

Runs the data plane and the traffic generator until Ctrl-C (or ``--duration``),
printing requests and errors per revision every few seconds and at the end.
``--prometheus`` must be a local instance started with
``python -m e2e.prometheus up``; this process writes its file_sd targets. The
cluster is the one ``$KUBECONFIG`` names, else the local control plane.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kubernetes import config

from e2e.dataplane.plane import DataPlane
from e2e.dataplane.traffic import RevisionCounts, TrafficGenerator
from e2e.localcluster import cluster
from e2e.prometheus import local


def _kubeconfig(explicit: str | None) -> str | None:
    if explicit or os.environ.get("KUBECONFIG"):
        return explicit or os.environ["KUBECONFIG"]
    state, healthy = cluster.status()
    return state.kubeconfig if state is not None and healthy else None


def _report(counts: dict[str, RevisionCounts]) -> str:
    total = sum(c.sent for c in counts.values()) or 1
    parts = [
        f"{rev}: {c.sent} sent ({100 * c.sent / total:.0f} %), {c.errors} 5xx, {c.failed} failed"
        for rev, c in sorted(counts.items())
    ]
    return "; ".join(parts) or "no requests yet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.dataplane", description=__doc__)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--prometheus", required=True, metavar="URL", help="a local instance")
    parser.add_argument("--rps", type=float, default=20.0, help="requests per second")
    parser.add_argument("--rollout", help="send traffic to this rollout only (default: all)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else the local cluster")
    parser.add_argument("--seed", type=int, help="seed of every random choice")
    parser.add_argument("--log-dir", type=Path, help="write each demo app's output here")
    parser.add_argument("--report-every", type=float, default=5.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    prometheus = local.find_by_url(args.prometheus)
    if prometheus is None or not prometheus.ready():
        print(
            f"error: no ready local Prometheus serves {args.prometheus};"
            " start one with: python -m e2e.prometheus up",
            file=sys.stderr,
        )
        return 1
    kubeconfig = _kubeconfig(args.kubeconfig)
    if kubeconfig is None:
        print(
            "error: no cluster: set KUBECONFIG or run python -m e2e.localcluster up",
            file=sys.stderr,
        )
        return 1
    api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]

    done = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    plane = DataPlane(
        api=api, namespace=args.namespace, targets=prometheus, log_dir=args.log_dir, seed=args.seed
    )
    traffic = TrafficGenerator(
        lambda: plane.routes(args.rollout), rps=args.rps, duration=args.duration, seed=args.seed
    )
    with plane:
        traffic.start()
        print(f"Serving {args.namespace} at {args.rps:g} rps; Ctrl-C stops", file=sys.stderr)
        while not done.wait(args.report_every) and traffic.running:
            print(_report(traffic.counts()), flush=True)
        traffic.stop()
    print(f"total: {_report(traffic.counts())}", flush=True)
    api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
