"""``python -m e2e.demo``: canary releases judged by metrics, end to end (``make demo``).

Starts (or reuses) the local control plane, applies the Rollout CRD, makes the
namespace afresh, and runs on loopback a real Prometheus, one demo app per
revision (the data plane), 100 requests/s of traffic and the controller. Then
``web`` v1 gets a Rollout with canary steps and an analysis; a healthy v2 is
promoted automatically, a bad v3 is caught by the analysis and rolled back
automatically, both shown live (``landinggear watch``); the summary says how
long each decision took and how many requests it used. Everything the demo
started is stopped at the end, on an error or on Ctrl-C; the cluster keeps
running for you to explore (``make down`` stops it). With ``--stay`` (the default
in a terminal) the apps, the traffic, Prometheus, Unleash and the controller keep
running after the story until Ctrl-C, so releases and rollbacks typed by hand are
carried out and judged.

``--kubeconfig`` runs the story on another cluster instead (the tests do);
``--summary-json`` writes the measured figures for a program to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from types import FrameType

from e2e.demo.entry import explore_hint, parse, place, stay_hint
from e2e.demo.script import NAME, DemoFailed, Options
from e2e.demo.stack import ProcessDied, Stack
from e2e.demo.story import prepare_namespace, run
from e2e.demo.summary import Summary, render
from e2e.prometheus import PrometheusError

NAMESPACE = "landinggear-demo"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    return parse(
        argv,
        prog="python -m e2e.demo",
        doc=__doc__ or "",
        namespace=NAMESPACE,
        logs="demo",
        stay=True,
    )


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: everything started is stopped


def _stay(stack: Stack) -> None:
    """Until Ctrl-C (or SIGTERM), with every process of the demo kept running; one that
    dies ends it (``ProcessDied``)."""
    try:
        while True:
            stack.check()
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nStopping everything the demo started …", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    stay = sys.stdout.isatty() if args.stay is None else args.stay
    signal.signal(signal.SIGTERM, _terminated)
    # Ctrl-C stops everything in order even when started with SIGINT ignored (a
    # background job of a shell without job control inherits that, and Python
    # then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    found = place(args, logs="demo", quiet=("httpx",))
    if found is None:
        return 1
    kubeconfig, kubectl, log_dir = found.kubeconfig, found.kubectl, found.log_dir
    options = Options(
        kubeconfig=kubeconfig,
        kubectl=kubectl,
        namespace=args.namespace,
        log_dir=log_dir,
        rps=args.rps,
        on_terminal=sys.stdout.isatty(),
    )
    stack = Stack(
        kubeconfig=kubeconfig,
        namespace=args.namespace,
        rollout=NAME,
        log_dir=log_dir,
        rps=args.rps,
        data_plane=args.data_plane,
    )
    print(f"Logs of this run: {log_dir}", flush=True)
    try:
        prepare_namespace(options)
        print(
            f"\n== {stack.plane_description()}, {args.rps:g} requests/s and the controller",
            flush=True,
        )
        with stack:
            print(f"Prometheus at {stack.prometheus.url}; controller log: {stack.controller_log}")
            summary = dataclasses.replace(run(options, stack), processes=stack.pids)
            _report(summary, args)
            if stay:
                stay_hint(args.namespace, kubeconfig, NAME)
                _stay(stack)
    except KeyboardInterrupt:
        print("\nInterrupted; everything the demo started is stopped.", file=sys.stderr)
        return 130
    except (DemoFailed, ProcessDied, PrometheusError) as err:
        print(f"\nerror: {err}\n(logs of this run: {log_dir})", file=sys.stderr)
        return 1
    print(f"\nEverything the demo started is stopped; its logs: {log_dir}")
    if stay:
        print("The cluster keeps running; stop it with: make down")
    else:
        explore_hint(args, kubeconfig, NAME, stay_offered=True)
    return 0


def _report(summary: Summary, args: argparse.Namespace) -> None:
    print("\n== Summary", flush=True)
    print(render(summary), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
