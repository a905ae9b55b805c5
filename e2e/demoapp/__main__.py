"""Command line: ``python -m e2e.demoapp --port P --revision R [options]``.

Serves on 127.0.0.1 (or ``--host``) until SIGINT or SIGTERM (or, with
``--exit-with-parent``, until its parent ends), then exits 0. Prints one line,
``listening on http://HOST:P``, once the socket is bound. With ``--unix-socket
PATH`` it then asks itself ``GET /healthz`` on HOST:P and, once answered, serves
its admin endpoints (``/healthz``, ``/metrics``, ``/counts``) on that Unix socket
and prints ``answering on http://HOST:P, admin on PATH, at T`` (T: Unix time it
first answered): the socket file exists only once the app answers on its address.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from e2e.demoapp.app import AdminServer, AppConfig, AppServer, make_admin_server, make_server
from e2e.demoapp.flags import FlagWatcher, UnleashSource

if TYPE_CHECKING:
    from e2e.demoapp.flagd import FlagdSource


def _watch_parent(server: ThreadingHTTPServer) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def _answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _serve_admin(app: AppServer, path: Path, admins: list[AdminServer]) -> None:
    """Once ``app`` answers on its own address, serve its admin endpoints on ``path``."""
    host, port = str(app.server_address[0]), int(app.server_address[1])
    while not _answers(host, port):
        time.sleep(0.01)
    admin = make_admin_server(app, path)
    admins.append(admin)
    print(f"answering on http://{host}:{port}, admin on {path}, at {time.time():.6f}", flush=True)
    admin.serve_forever(poll_interval=0.1)


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
    parser.add_argument(
        "--flag", default="", help="feature flag whose new code path fails (see --flag-error-rate)"
    )
    parser.add_argument(
        "--flag-error-rate", type=float, default=0.0, help="share of 500s while --flag is on"
    )
    parser.add_argument(
        "--unleash-url",
        default="",
        help="evaluate --flag with the Unleash SDK against this server "
        "(backend token in $UNLEASH_API_TOKEN)",
    )
    parser.add_argument(
        "--flagd-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="evaluate --flag with the OpenFeature SDK and flagd's in-process resolver "
        "reading this flagd JSON file (reloaded when it changes)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the random numbers")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the process that started this one ends (no orphans)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind: a pod IP when run inside the cluster's network namespace",
    )
    parser.add_argument("--pod", default="", help="the pod it stands for, sent as X-Pod")
    parser.add_argument(
        "--unix-socket",
        type=Path,
        default=None,
        metavar="PATH",
        help="serve /healthz, /metrics and /counts here too, once the app answers",
    )
    args = parser.parse_args(argv)
    try:
        config = AppConfig(
            revision=args.revision,
            error_rate=args.error_rate,
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.latency_jitter_ms,
            errors_after_seconds=args.errors_after_seconds,
            flag_error_rate=args.flag_error_rate,
            seed=args.seed,
            pod=args.pod,
        )
    except ValueError as err:
        parser.error(str(err))
    sources = [name for name in ("unleash_url", "flagd_file") if getattr(args, name)]
    if args.flag and len(sources) != 1:
        parser.error("--flag needs exactly one flag source: --unleash-url or --flagd-file")
    if sources and not args.flag:
        parser.error(f"--{sources[0].replace('_', '-')} needs --flag")
    closing: list[Callable[[], None]] = []

    def flag(registry: CollectorRegistry) -> Callable[[], bool]:
        source: UnleashSource | FlagdSource
        if args.flagd_file is not None:
            from e2e.demoapp.flagd import FlagdSource  # the SDK loads grpc: only when asked

            source = FlagdSource(
                path=args.flagd_file, flag=args.flag, context={"revision": args.revision}
            )
        else:
            cache = Path(tempfile.mkdtemp(prefix="demoapp-unleash-"))
            closing.append(lambda: shutil.rmtree(cache, ignore_errors=True))
            source = UnleashSource(
                url=args.unleash_url,
                token=os.environ.get("UNLEASH_API_TOKEN", ""),
                flag=args.flag,
                app_name=f"demoapp-{args.revision}",
                cache_dir=cache,
            )
        watcher = FlagWatcher(args.flag, source.is_on, registry)
        closing[:0] = [watcher.close, source.close]
        return lambda: watcher.on

    server = make_server(config, host=args.host, port=args.port, flag=flag if args.flag else None)

    def shut_down(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, which runs in this thread: hand it off.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(server,), daemon=True).start()
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}", flush=True)
    admins: list[AdminServer] = []
    if args.unix_socket is not None:
        threading.Thread(
            target=_serve_admin, args=(server, args.unix_socket, admins), daemon=True
        ).start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        for admin in admins:  # its daemon thread ends with the process
            admin.server_close()
        server.server_close()
        for close in closing:
            close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
