"""The ``landinggear`` command line, also installed as ``kubectl-landinggear``.

kubectl finds ``kubectl-landinggear`` on PATH and runs it for
``kubectl landinggear …``, passing the remaining arguments unchanged, so both
spellings behave identically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controller import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landinggear",
        description="Canary deployments and one-command rollback for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"landinggear {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the client version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"landinggear {__version__}")
        return 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
