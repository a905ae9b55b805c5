"""Command line: ``python -m e2e.dataplane.netload --control PATH --rps N [--target URL…]``.

Meant to run inside the cluster's network namespace (``e2e.netns.argv_in``),
where pod IPs and ClusterIPs are reachable; controlled and read from the host
through the Unix socket ``--control`` (see :mod:`e2e.dataplane.netload.control`).
It accepts other than loopback targets only when it runs inside the namespace
``--netns`` names (its own namespace is checked, not assumed).
Prints ``control on PATH`` once the socket serves; runs until SIGINT or SIGTERM
(or, with ``--exit-with-parent``, until its parent ends).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from e2e import netns
from e2e.dataplane.netload.control import make_control_server
from e2e.dataplane.netload.load import NetLoad
from e2e.dataplane.netload.targets import loopback_only


def _inside(name: str) -> bool:
    """Whether this process runs in network namespace ``name``."""
    try:
        return bool(name) and netns.inode_of("self") == (netns.NETNS_DIR / name).stat().st_ino
    except OSError:  # cannot tell: assume not
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.dataplane.netload", description=__doc__)
    parser.add_argument("--control", type=Path, required=True, help="Unix socket of the API")
    parser.add_argument("--rps", type=float, default=50.0, help="requests per second")
    parser.add_argument("--target", action="append", default=[], help="URL (repeatable)")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--exit-with-parent", action="store_true")
    parser.add_argument(
        "--netns", default="", help="the namespace it must run in to send beyond loopback"
    )
    args = parser.parse_args(argv)
    inside = _inside(args.netns)

    def allowed(url: str) -> bool:
        return inside or loopback_only(url)

    if not all(allowed(url) for url in args.target):
        parser.error(f"not inside netns {args.netns!r}: only loopback targets are allowed")
    load = NetLoad(
        args.target, rps=args.rps, max_in_flight=args.max_in_flight, timeout=args.timeout
    )
    server = make_control_server(load, args.control, allowed=allowed)

    def shut_down(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            server.shutdown()

        threading.Thread(target=watch_parent, daemon=True).start()
    load.start()
    print(f"control on {args.control}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        load.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
