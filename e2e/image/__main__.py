"""Command line: ``python -m e2e.image {base,build}``.

Progress goes to stderr; the image's name is the last line of stdout, so scripts
can do ``IMAGE=$(python -m e2e.image build | tail -1)``.
"""

from __future__ import annotations

import argparse
import sys
import time

from e2e.image import build
from e2e.image.progress import CommandFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.image", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("base", help="make (or find) the local Debian base image")
    sub.add_parser("build", help="build (or find) the controller image on that base")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        name = build.ensure_base() if args.command == "base" else build.ensure_image()
    except CommandFailed as err:
        print(err, file=sys.stderr)
        return 1
    print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
