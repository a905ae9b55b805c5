"""The command line's grammar: verbs, their flags, and kubectl's global flags.

Global flags (``-n``, ``--context``, ``--kubeconfig``) are accepted before or
after the verb, as with kubectl: each verb's parser repeats them with a
suppressed default, so a value given after the verb wins and none is lost.

``flags`` takes words rather than argparse subcommands, so that ``flags NAME``
keeps working for a Rollout of any name: one word is always the Rollout to list
(``flags off`` lists a Rollout called "off"); with more, the first is the action
(``list``, ``off`` or ``restore``), then the Rollout, then the flags.
:func:`parse_args` reads them into ``flags_action``, ``name`` and ``flag_names``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from controller import __version__
from controller.api.wire import parse_duration
from controller.cli.session import DEFAULT_TIMEOUT

__all__ = [
    "FLAGS_ACTIONS",
    "OUTPUT_FORMATS",
    "SHELLS",
    "VERBS",
    "build_parser",
    "parse",
    "parse_args",
    "program_name",
    "wanted_verb",
]

OUTPUT_FORMATS = ("json", "yaml", "wide", "name", "jsonpath=TEMPLATE")
_OUTPUT_HELP = (
    "json, yaml, wide, name (rollout.landinggear.dev/NAME) or jsonpath=TEMPLATE "
    "(kubectl's {.status.phase} and {range .items[*]}…{end}; see the README)"
)

_REQUEST_VERBS = {
    "promote": "advance the canary one step (or to the end with --full)",
    "abort": "stop the canary and send all traffic back to the stable revision",
    "retry": "release the blocked (aborted or rolled-back) revision again",
    "rollback": "go back to the previous stable revision",
}

FLAGS_ACTIONS = ("list", "off", "restore")

_WATCH_EXIT_CODES = """\
exit codes with --until-done:
  0    the Rollout is Healthy (or its Completed condition is True)
  1    an API error, the Rollout deleted, or --timeout reached
  2    a usage error (an unknown flag, a bad --timeout)
  3    the Rollout is Degraded: aborted or rolled back
  130  interrupted (Ctrl-C)"""

_SERVERS = ("run", "chatops")
"""Long-running processes, configured by their own settings, not kubectl's flags."""

SHELLS = ("bash", "zsh", "fish")
"""What ``completion`` writes scripts for."""

_FLAGS_USAGE = """%(prog)s [list] NAME
       %(prog)s off NAME [FLAG ...] [--reason TEXT]
       %(prog)s restore NAME [FLAG ...] [--reason TEXT]"""

_FLAGS_DESCRIPTION = """\
list the Rollout's feature flags, or switch them off or back by hand.

  [list] NAME                 each flag: what switches it, wanted and confirmed
                              state, since when, the last error
  off NAME [FLAG ...]         the kill switch without a rollback: switch the
                              named flags (default: all) off now, whatever their
                              disableOn says; the release goes on untouched, and
                              `retry` does not switch them back on
  restore NAME [FLAG ...]     put the named flags (default: all that are off)
                              back as they were before they were switched off

One word is always the Rollout's NAME: `flags off` lists a Rollout called "off"
(as does `flags list off`)."""


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


def request_timeout(text: str) -> float:
    """kubectl's ``--request-timeout``: ``0`` (no limit), whole seconds (``5``), or a
    duration (``5s``, ``1m``, ``1m30s``, ``500ms``)."""
    if text.isdigit():
        return float(text)
    seconds = _seconds(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: use e.g. 0, 5s, 1m")
    return seconds


def _output(text: str) -> str:
    """An ``-o`` value; a jsonpath template is checked here, so a bad one is a usage error."""
    kind, _, template = text.partition("=")
    if kind == "jsonpath" and template:
        from controller.cli.jsonpath import TemplateError, parse

        try:
            parse(template)
        except TemplateError as err:
            raise argparse.ArgumentTypeError(str(err)) from err
        return text
    if text in OUTPUT_FORMATS:
        return text
    choices = ", ".join(OUTPUT_FORMATS)
    raise argparse.ArgumentTypeError(f"unknown output format {text!r} (choose from {choices})")


def _global_flags(
    parser: argparse.ArgumentParser, *, suppress: bool, requests: bool = True
) -> None:
    """kubectl's flags; ``requests``: also those of the requests a verb sends (``--as``,
    ``--as-group``, ``--as-uid``, ``--request-timeout``), which the servers (run, chatops)
    do not take."""
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
    if not requests:
        return
    group.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        default=default,
        help="act as this user or service account (system:serviceaccount:NS:NAME): "
        "impersonation, which the kubeconfig's user must be allowed",
    )
    group.add_argument(
        "--as-group",
        action="append",
        metavar="GROUP",
        default=default,
        help="act as a member of this group too (repeatable; needs --as)",
    )
    group.add_argument(
        "--as-uid",
        metavar="UID",
        default=default,
        help="act with this UID too (needs --as)",
    )
    group.add_argument(
        "--request-timeout",
        type=request_timeout,
        metavar="DURATION",
        default=default,
        help="how long one API request may take: 0 (no limit), 5s, 1m "
        f"(default {DEFAULT_TIMEOUT:g}s)",
    )


_VALUED_GLOBALS = frozenset(
    (
        "-n",
        "--namespace",
        "--context",
        "--kubeconfig",
        "--as",
        "--as-group",
        "--as-uid",
        "--request-timeout",
    )
)


def wanted_verb(argv: Sequence[str], verbs: Sequence[str]) -> str | None:
    """The verb ``argv`` names, read past the global flags before it; ``""`` when it
    names none, None when its first word is no verb (the full grammar then explains)."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_GLOBALS:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in verbs else None
    return ""


VERBS = (
    *("get", "list", "watch", *_REQUEST_VERBS, "pause", "resume", "history", "flags"),
    *("version", "completion", "run", "chatops"),
)


def build_parser(prog: str = "landinggear", *, only: str | None = None) -> argparse.ArgumentParser:
    """The grammar; with ``only``, the other verbs are registered by name and help alone
    (their flags unbuilt: the one-click path starts sooner), ``""``: every verb so."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Canary deployments and one-command rollback for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"landinggear {__version__}")
    _global_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def verb(
        name: str, help_text: str, *, rollout: bool = True, epilog: str | None = None
    ) -> argparse.ArgumentParser | None:
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            return None
        verb_parser = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if rollout:
            verb_parser.add_argument("name", metavar="NAME", help="name of the Rollout")
        _global_flags(verb_parser, suppress=True, requests=name not in _SERVERS)
        return verb_parser

    if get := verb("get", "show one Rollout: phase, steps, weights, revisions, history"):
        get.add_argument("-o", "--output", type=_output, metavar="FORMAT", help=_OUTPUT_HELP)
    if listing := verb("list", "list Rollouts as a table", rollout=False):
        listing.add_argument(
            "-A", "--all-namespaces", action="store_true", help="list Rollouts in every namespace"
        )
        listing.add_argument("-o", "--output", type=_output, metavar="FORMAT", help=_OUTPUT_HELP)
    if watch := verb("watch", "follow a Rollout live until Ctrl-C", epilog=_WATCH_EXIT_CODES):
        watch.add_argument(
            "--until-done",
            action="store_true",
            help="exit once the release is over: 0 Healthy/Completed, 3 Degraded",
        )
        watch.add_argument(
            "--timeout",
            type=_seconds,
            metavar="DURATION",
            help="give up after this long (e.g. 5m) with exit code 1",
        )
    for name, help_text in _REQUEST_VERBS.items():
        if request := verb(name, help_text):
            _request_flags(name, request)
    verb("pause", "hold the canary at its current step")
    verb("resume", "continue a paused canary")
    verb("history", "show who did what to which revision, and when")
    if only is None or only == "flags":
        _flags_verb(sub)
    else:
        sub.add_parser("flags", help=_FLAGS_HELP)
    verb("version", "print the client version", rollout=False)
    if completion := verb("completion", "print a shell completion script", rollout=False):
        completion.add_argument("shell", choices=SHELLS, help="bash, zsh or fish")
    if running := verb(
        "run", "run the controller (-n: watch one namespace; default all)", rollout=False
    ):
        from controller.cli import run

        run.add_arguments(running)
    if serving := verb(
        "chatops", "serve chat commands (Slack, Matrix): authorised per person", rollout=False
    ):
        from controller.cli import chatops

        chatops.add_arguments(serving)
    return parser


def _request_flags(name: str, request: argparse.ArgumentParser) -> None:
    if name == "promote":
        request.add_argument(
            "--full", action="store_true", help="skip the remaining steps and pauses"
        )
    if name == "retry":
        request.add_argument(
            "--keep-flags-off",
            action="store_true",
            help="leave the feature flags the abort switched off as they are (flags "
            "switched off by hand with `flags off` stay off either way)",
        )
    request.add_argument("--reason", default="", help="why, recorded in the history")
    _wait_flag(request)


WAIT_DEFAULT = 60.0
"""``--wait`` alone: how long the CLI waits for the controller to act on the request."""


def _wait_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the controller has acted on the request and print the outcome"
        " (exit 1 if it has not within --timeout)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="DURATION",
        help=f"with --wait: how long to wait (default {WAIT_DEFAULT:g}s)",
    )


_FLAGS_HELP = "list the Rollout's feature flags; switch them off or restore them by hand"


def _flags_verb(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    flags = sub.add_parser(
        "flags",
        help=_FLAGS_HELP,
        usage=_FLAGS_USAGE,
        description=_FLAGS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flags.add_argument("words", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    flags.add_argument(
        "--reason",
        default="",
        metavar="TEXT",
        help="why (off and restore), recorded in the history",
    )
    _wait_flag(flags)
    _global_flags(flags, suppress=True)
    flags.set_defaults(usage_error=flags.error)  # a mistake shows the flags usage


def _flags_words(args: argparse.Namespace) -> str | None:
    """Read ``flags``' words into ``flags_action``, ``name`` and ``flag_names``; the usage
    error, if any."""
    words: list[str] = args.words
    if len(words) == 1:
        if args.reason and words[0] in FLAGS_ACTIONS:
            return f"flags {words[0]} needs the Rollout's NAME"
        action, name, names = "list", words[0], []
    else:
        action, name, *names = words
    if action not in FLAGS_ACTIONS:
        return (
            f"unknown flags action {action!r} (choose from list, off, restore; "
            "one word alone is the Rollout's NAME)"
        )
    if action == "list" and names:
        return "flags list takes only the Rollout's NAME"
    if action == "list" and args.reason:
        return "--reason goes with flags off or flags restore"
    if action == "list" and (args.wait or args.timeout is not None):
        return "--wait and --timeout go with flags off or flags restore"
    args.flags_action, args.name, args.flag_names = action, name, tuple(dict.fromkeys(names))
    return None


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, where ``flags``' words may come before, between or after
    options (exits with status 2 on a usage error, like every argparse tool)."""
    args, extra = parser.parse_known_args(argv)
    if args.command == "flags":
        args.words = [*args.words, *(word for word in extra if not word.startswith("-"))]
        extra = [word for word in extra if word.startswith("-")]
    error = getattr(args, "usage_error", parser.error)
    if extra:
        error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in _SERVERS and any(
        getattr(args, flag, None) is not None
        for flag in ("as_user", "as_group", "as_uid", "request_timeout")
    ):
        error(f"--as, --as-group, --as-uid and --request-timeout do not apply to {args.command}")
    if args.command == "flags":
        problem = _flags_words(args)
        if problem is not None:
            error(problem)
        del args.usage_error, args.words
    waits = args.command == "watch" or getattr(args, "wait", False)
    if not waits and getattr(args, "timeout", None) is not None:
        error("--timeout goes with --wait")
    return args


def parse(argv: Sequence[str] | None, prog: str = "landinggear") -> argparse.Namespace:
    """Parse ``argv`` (exits with status 2 on a usage error, like every argparse tool)."""
    return parse_args(build_parser(prog), argv)
