"""The command line's grammar: verbs, their flags, and kubectl's global flags.

Global flags (``-n``, ``--context``, ``--kubeconfig``) are accepted before or
after the verb, as with kubectl: each verb's parser repeats them with a
suppressed default, so a value given after the verb wins and none is lost.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from controller import __version__
from controller.api.base import parse_duration

__all__ = ["OUTPUT_FORMATS", "build_parser", "parse", "program_name"]

OUTPUT_FORMATS = ("json", "yaml", "wide")

_REQUEST_VERBS = {
    "promote": "advance the canary one step (or to the end with --full)",
    "abort": "stop the canary and send all traffic back to the stable revision",
    "retry": "release the blocked (aborted or rolled-back) revision again",
    "rollback": "go back to the previous stable revision",
}


def program_name(argv0: str) -> str:
    """``kubectl landinggear`` when run as the kubectl plugin, else ``landinggear``."""
    if os.path.basename(argv0).startswith("kubectl-landinggear"):
        return "kubectl landinggear"
    return "landinggear"


def _seconds(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _global_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("cluster flags (as kubectl)")
    group.add_argument(
        "-n",
        "--namespace",
        default=default,
        help="namespace of the Rollout (default: the context's namespace, else 'default')",
    )
    group.add_argument("--context", default=default, help="kubeconfig context to use")
    group.add_argument(
        "--kubeconfig",
        default=default,
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )


def build_parser(prog: str = "landinggear") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Canary deployments and one-command rollback for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"landinggear {__version__}")
    _global_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def verb(name: str, help_text: str, *, rollout: bool = True) -> argparse.ArgumentParser:
        verb_parser = sub.add_parser(name, help=help_text, description=help_text)
        if rollout:
            verb_parser.add_argument("name", metavar="NAME", help="name of the Rollout")
        _global_flags(verb_parser, suppress=True)
        return verb_parser

    get = verb("get", "show one Rollout: phase, steps, weights, revisions, history")
    get.add_argument("-o", "--output", choices=OUTPUT_FORMATS, help="json, yaml or wide")
    listing = verb("list", "list Rollouts as a table", rollout=False)
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list Rollouts in every namespace"
    )
    listing.add_argument("-o", "--output", choices=OUTPUT_FORMATS, help="json, yaml or wide")
    watch = verb("watch", "follow a Rollout live until Ctrl-C")
    watch.add_argument(
        "--until-done",
        action="store_true",
        help="exit 0 once Healthy/Completed, 2 once Degraded",
    )
    watch.add_argument(
        "--timeout",
        type=_seconds,
        metavar="DURATION",
        help="give up after this long (e.g. 5m) with exit code 1",
    )
    for name, help_text in _REQUEST_VERBS.items():
        request = verb(name, help_text)
        if name == "promote":
            request.add_argument(
                "--full", action="store_true", help="skip the remaining steps and pauses"
            )
        if name == "retry":
            request.add_argument(
                "--keep-flags-off",
                action="store_true",
                help="leave the feature flags the abort switched off as they are",
            )
        request.add_argument("--reason", default="", help="why, recorded in the history")
    verb("pause", "hold the canary at its current step")
    verb("resume", "continue a paused canary")
    verb("history", "show who did what to which revision, and when")
    verb("flags", "list the Rollout's feature flags: wanted and confirmed state, errors")
    verb("version", "print the client version", rollout=False)
    from controller.cli import run

    run.add_arguments(
        verb("run", "run the controller (-n: watch one namespace; default all)", rollout=False)
    )
    return parser


def parse(argv: Sequence[str] | None, prog: str = "landinggear") -> argparse.Namespace:
    """Parse ``argv`` (exits with status 2 on a usage error, like every argparse tool)."""
    return build_parser(prog).parse_args(argv)
