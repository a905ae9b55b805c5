"""Command line: ``python -m e2e.demoapp --port P --revision R [options]``.

Serves on 127.0.0.1 until SIGINT or SIGTERM (or, with ``--exit-with-parent``,
until its parent ends), then exits 0. Prints one line,
``listening on http://127.0.0.1:P``, once the socket is bound.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from types import FrameType

from e2e.demoapp.app import AppConfig, make_server


def _watch_parent(server: ThreadingHTTPServer) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.demoapp", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--revision", required=True, help="value of the revision label")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 500s, 0..1")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering")
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0, help="± uniform jitter")
    parser.add_argument(
        "--errors-after-seconds",
        type=float,
        default=0.0,
        help="answer errors only this long after start (a late regression)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the random numbers")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the process that started this one ends (no orphans)",
    )
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = AppConfig(
            revision=args.revision,
            error_rate=args.error_rate,
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.latency_jitter_ms,
            errors_after_seconds=args.errors_after_seconds,
            seed=args.seed,
        )
    except ValueError as err:
        parser.error(str(err))
    server = make_server(config, host=args.host, port=args.port)

    def shut_down(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, which runs in this thread: hand it off.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(server,), daemon=True).start()
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
