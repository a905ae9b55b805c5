"""The ``landinggear`` command line, also installed as ``kubectl-landinggear``.

kubectl finds ``kubectl-landinggear`` on PATH and runs it for
``kubectl landinggear …``, passing the remaining arguments unchanged, so both
spellings behave identically.

Verbs act by patching the Rollout (``spec.paused``, or a one-shot request
annotation the controller acts on once), so plain RBAC on ``rollouts`` governs
them and they work while the controller is down. Modules: ``arguments`` (the
grammar), ``session`` (kubeconfig, context, namespace), ``api`` (raw JSON
calls), ``render``/``frame``/``text`` (pure formatting), ``changes`` (pure
patches, Events and refusals), ``commands`` and ``watch`` (the verbs' I/O).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controller import __version__

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failed or refused, 2 usage)."""
    from controller.cli.arguments import VERBS, build_parser, parse_args, program_name, wanted_verb

    words = sys.argv[1:] if argv is None else list(argv)
    only = wanted_verb(words, VERBS)
    if only == "completion":
        only = None  # the script completes every verb
    parser = build_parser(program_name(sys.argv[0] if sys.argv else ""), only=only)
    args = parse_args(parser, argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "version":
        print(f"landinggear {__version__}")
        return 0
    if args.command == "completion":
        from controller.cli.completion import script

        sys.stdout.write(script(parser, args.shell))
        return 0
    from controller.cli.errors import CliError

    try:
        return _run(args)
    except CliError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command in ("run", "chatops"):
        from controller.cli import chatops, run

        return run.run(args) if args.command == "run" else chatops.run(args)
    from controller.cli import commands
    from controller.cli.session import DEFAULT_TIMEOUT, connect

    timeout = args.request_timeout
    session = connect(
        kubeconfig=args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        as_user=args.as_user,
        as_groups=args.as_group or (),
        as_uid=args.as_uid,
        request_timeout=DEFAULT_TIMEOUT if timeout is None else (timeout or None),
    )
    match args.command:
        case "get":
            return commands.get(session, args.name, output=args.output)
        case "list":
            return commands.list_rollouts(
                session, all_namespaces=args.all_namespaces, output=args.output
            )
        case "history" | "flags" if getattr(args, "flags_action", "list") == "list":
            reader = commands.history if args.command == "history" else commands.flags
            return reader(session, args.name)
        case "watch":
            from controller.cli.watch import watch

            return watch(session, args.name, until_done=args.until_done, timeout=args.timeout)
        case _:
            return commands.change(
                session,
                _verb(args),
                args.name,
                full=getattr(args, "full", False),
                reason=getattr(args, "reason", ""),
                keep_flags_off=getattr(args, "keep_flags_off", False),
                flags=getattr(args, "flag_names", ()),
                wait=_wait(args),
            )


def _wait(args: argparse.Namespace) -> float | None:
    """Seconds to wait for the controller to act on the request (``--wait``), or None."""
    from controller.cli.arguments import WAIT_DEFAULT

    if not getattr(args, "wait", False):
        return None
    return WAIT_DEFAULT if args.timeout is None else float(args.timeout)


def _verb(args: argparse.Namespace) -> str:
    """The changing verb: the command, or ``flags-off`` / ``flags-restore``."""
    return f"flags-{args.flags_action}" if args.command == "flags" else str(args.command)
