"""Command line: ``python -m e2e.prometheus [--name N] {up,down,status,build}``.

``up`` starts (or reuses) a detached Prometheus on loopback and prints its URL as
the last line of stdout, so scripts can do
``export PROMETHEUS_URL=$(python -m e2e.prometheus up | tail -1)``. ``build``
builds (or finds cached) upstream Prometheus and promtool, for kubernetes_sd, and
prints their paths.
"""

from __future__ import annotations

import argparse
import sys
import time

from e2e.localcluster.build import BuildError
from e2e.prometheus import build, local
from e2e.prometheus.api import PrometheusError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.prometheus", description=__doc__)
    parser.add_argument("--name", default="default", help="instance name (several may run)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Prometheus (or reuse it) and print its URL")
    up.add_argument("--scrape-interval", default="1s", help="global scrape interval")
    sub.add_parser("down", help="stop the instance 'up' started and remove its data")
    sub.add_parser("status", help="show what runs; exit 1 if it is not ready")
    sub.add_parser("build", help="build (or find cached) upstream prometheus and promtool")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            started = time.monotonic()
            prometheus = local.up(args.name, scrape_interval=args.scrape_interval)
            print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
            print(f"targets dir: {prometheus.targets_dir}", file=sys.stderr)
            print(prometheus.url, flush=True)
        elif args.command == "down":
            print("stopped" if local.down(args.name) else "not running")
        elif args.command == "status":
            found, ready = local.status(args.name)
            if found is None:
                print(f"prometheus {args.name!r}: not running")
                return 1
            print(f"prometheus {args.name!r}: {'ready' if ready else 'NOT READY'}")
            print(f"  url:          {found.url}")
            print(f"  pid:          {found.pid}")
            print(f"  targets dir:  {found.targets_dir}")
            print(f"  log:          {found.log_file}")
            return 0 if ready else 1
        elif args.command == "build":
            built = build.ensure()
            print(f"prometheus {built.prometheus}")
            print(f"promtool   {built.promtool}")
    except (PrometheusError, BuildError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
