"""Command line: ``python -m e2e.podagent --netns NAME [--kubeconfig PATH] [--namespace NS…]``.

Runs the pod agent until SIGINT or SIGTERM: a demo app on each demo-app pod's IP
inside network namespace NAME (see :mod:`e2e.podagent`). The cluster is the one
``--kubeconfig`` or ``$KUBECONFIG`` names. Each app's admin socket and log are
under ``--run-dir``; ``apps.json`` there lists the running apps.
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

from e2e.dataplane.apps import FlagServer
from e2e.podagent.agent import PodAgent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.podagent", description=__doc__)
    parser.add_argument("--netns", required=True, help="the cluster's network namespace")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    parser.add_argument(
        "--namespace", action="append", default=[], help="watch only these (repeatable)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="sockets, logs and apps.json (default: /tmp/lg-podagent-<netns>)",
    )
    parser.add_argument("--drain-seconds", type=float, default=2.0)
    parser.add_argument(
        "--flagd-file",
        type=Path,
        default=None,
        help="flagd JSON file the apps of pods with a FLAG evaluate it from",
    )
    args = parser.parse_args(argv)
    if not args.kubeconfig:
        parser.error("--kubeconfig or $KUBECONFIG is needed")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    agent = PodAgent(
        api=api,
        netns_name=args.netns,
        run_dir=args.run_dir or Path(f"/tmp/lg-podagent-{args.netns}"),  # noqa: S108 - short, for socket paths
        namespaces=args.namespace,
        drain_seconds=args.drain_seconds,
        flags=FlagServer(flagd_file=args.flagd_file) if args.flagd_file else None,
    )
    done = threading.Event()

    def shut_down(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    with agent:
        print(f"pod agent running in netns {args.netns}; apps in {agent.run_dir}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
