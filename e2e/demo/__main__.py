"""``python -m e2e.demo``: canary releases judged by metrics, end to end (``make demo``).

Starts (or reuses) the local control plane, applies the Rollout CRD, makes the
namespace afresh, and runs on loopback a real Prometheus, one demo app per
revision (the data plane), 100 requests/s of traffic and the controller. Then
``web`` v1 gets a Rollout with canary steps and an analysis; a healthy v2 is
promoted automatically, a bad v3 is caught by the analysis and rolled back
automatically, both shown live (``landinggear watch``); the summary says how
long each decision took and how many requests it used. Everything the demo
started is stopped at the end, on an error or on Ctrl-C; the cluster keeps
running for you to explore (``make down`` stops it).

``--kubeconfig`` runs the story on another cluster instead (the tests do);
``--summary-json`` writes the measured figures for a program to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from e2e.demo.stack import ProcessDied, Stack
from e2e.demo.story import NAME, DemoFailed, Options, prepare_namespace, run
from e2e.demo.summary import render
from e2e.localcluster import build, cluster
from e2e.prometheus import PrometheusError

NAMESPACE = "landinggear-demo"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.demo", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--namespace", default=NAMESPACE, help="deleted and made afresh")
    parser.add_argument("--rps", type=float, default=100.0, help="requests per second")
    parser.add_argument(
        "--kubeconfig", help="run on this cluster (default: the local control plane, started)"
    )
    parser.add_argument("--log-dir", type=Path, help="default: the local cluster's logs/demo")
    parser.add_argument("--summary-json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: everything started is stopped


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        kubectl = build.ensure_binaries().kubectl
        if args.kubeconfig:
            kubeconfig = str(args.kubeconfig)
            log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="landinggear-demo-"))
        else:
            state = cluster.up()
            kubeconfig = state.kubeconfig
            log_dir = args.log_dir or Path(state.run_dir) / "logs" / "demo"
    except (cluster.ClusterError, build.BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        filename=log_dir / "demo.log",
        filemode="w",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = Options(
        kubeconfig=kubeconfig,
        kubectl=kubectl,
        namespace=args.namespace,
        log_dir=log_dir,
        rps=args.rps,
        on_terminal=sys.stdout.isatty(),
    )
    stack = Stack(
        kubeconfig=kubeconfig, namespace=args.namespace, rollout=NAME, log_dir=log_dir, rps=args.rps
    )
    print(f"Logs of this run: {log_dir}", flush=True)
    try:
        prepare_namespace(options)
        print(
            f"\n== Prometheus, the demo apps, {args.rps:g} requests/s and the controller,"
            " all on loopback",
            flush=True,
        )
        with stack:
            print(f"Prometheus at {stack.prometheus.url}; controller log: {stack.controller_log}")
            summary = run(options, stack)
    except KeyboardInterrupt:
        print("\nInterrupted; everything the demo started is stopped.", file=sys.stderr)
        return 130
    except (DemoFailed, ProcessDied, PrometheusError) as err:
        print(f"\nerror: {err}\n(logs of this run: {log_dir})", file=sys.stderr)
        return 1
    summary = dataclasses.replace(summary, processes=stack.pids)
    print("\n== Summary", flush=True)
    print(render(summary), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(f"\nEverything the demo started is stopped; its logs: {log_dir}")
    if not args.kubeconfig:
        print("The cluster keeps running. Explore it with:")
        print(f"  export KUBECONFIG={kubeconfig}")
        print(f"  export PATH={Path(sys.executable).parent}:$PATH")
        print(f"  kubectl landinggear -n {args.namespace} get {NAME}")
        print("Stop it with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
