"""``python -m e2e.demo.chat``: a release aborted from a Matrix room (``make demo-chat``).

Starts (or reuses) the local control plane, makes the namespace afresh, and runs on
loopback Prometheus, the demo apps, 100 requests/s of traffic, the controller, a
local Synapse homeserver and the chat-ops bot (``landinggear chatops``, as a
ServiceAccount holding the shipped ``manifests/chatops/rbac.yaml`` rights). A
release that fails 10 % of requests waits at a pause; the bot posts its release
note in ``#deploys``; bob, who may not patch Rollouts, is refused; alice, on call,
types ``!landinggear abort``: the summary says how long until the answer in her
thread, the canary at 0 replicas and the traffic all back on the stable. Everything
the demo started is stopped at the end, on an error or on Ctrl-C; the cluster keeps
running (``make down`` stops it).

``--kubeconfig`` runs the story on another cluster instead (the tests do);
``--summary-json`` writes the measured figures for a program to read.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import signal
import sys
from types import FrameType

from e2e.demo.chatstory import ChatSummary, render, run
from e2e.demo.entry import explore_hint, parse, place
from e2e.demo.script import NAME, DemoFailed, Options
from e2e.demo.stack import ProcessDied, Stack
from e2e.demo.story import prepare_namespace
from e2e.matrix import SynapseError, SynapseServer
from e2e.matrix.client import ChatError
from e2e.prometheus import PrometheusError

NAMESPACE = "landinggear-demo-chat"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    return parse(
        argv,
        prog="python -m e2e.demo.chat",
        doc=__doc__ or "",
        namespace=NAMESPACE,
        logs="demo-chat",
    )


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # also for SIGINT: asyncio.run then keeps out of the way


def _story(options: Options, stack: Stack, synapse: SynapseServer) -> ChatSummary:
    with stack, synapse:
        print(f"Prometheus at {stack.prometheus.url}; controller log: {stack.controller_log}")
        homeserver = synapse.pids
        summary = asyncio.run(run(options, stack, synapse))
    return dataclasses.replace(summary, processes=[*summary.processes, *stack.pids, *homeserver])


def main(argv: list[str] | None = None) -> int:
    """Run the chat story; 0 when it went as it should, 130 on Ctrl-C, 1 otherwise."""
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    found = place(args, logs="demo-chat", quiet=("httpx", "nio"))
    if found is None:
        return 1
    kubeconfig, kubectl, log_dir = found.kubeconfig, found.kubectl, found.log_dir
    options = Options(
        kubeconfig=kubeconfig, kubectl=kubectl, namespace=args.namespace, log_dir=log_dir,
        rps=args.rps,
    )  # fmt: skip
    stack = Stack(
        kubeconfig=kubeconfig, namespace=args.namespace, rollout=NAME, log_dir=log_dir,
        rps=args.rps, flags=False, data_plane=args.data_plane,
    )  # fmt: skip
    shutil.rmtree(log_dir / "synapse", ignore_errors=True)  # fresh accounts every run
    synapse = SynapseServer(log_dir / "synapse")
    print(f"Logs of this run: {log_dir}", flush=True)
    try:
        prepare_namespace(options)
        print(
            f"\n== {stack.plane_description()}, {args.rps:g} requests/s, the controller"
            " and a Matrix homeserver on loopback",
            flush=True,
        )
        summary = _story(options, stack, synapse)
    except KeyboardInterrupt:
        print("\nInterrupted; everything the demo started is stopped.", file=sys.stderr)
        return 130
    except (DemoFailed, ProcessDied, PrometheusError, SynapseError, ChatError,
            TimeoutError) as err:  # fmt: skip
        print(f"\nerror: {err}\n(logs of this run: {log_dir})", file=sys.stderr)
        return 1
    print("\n== Summary", flush=True)
    print(render(summary), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_json(), indent=2) + "\n")
    print(f"\nEverything the demo started is stopped; its logs: {log_dir}")
    explore_hint(args, kubeconfig, NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
