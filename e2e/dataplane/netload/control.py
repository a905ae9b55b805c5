"""The load generator's control API: tiny HTTP over a Unix socket.

``GET /counts`` → :meth:`NetLoad.snapshot` as JSON; ``PUT /rate`` with
``{"rps": N}``; ``PUT /targets`` with ``{"urls": [...]}``; ``GET /healthz``.
A target the ``allowed`` predicate refuses is answered 403 (the generator run in
the host's own network namespace allows loopback only).
"""

from __future__ import annotations

import json
import os
import socketserver
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from e2e.dataplane.netload.load import NetLoad

__all__ = ["ControlServer", "make_control_server"]


class ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def server_close(self) -> None:
        super().server_close()
        Path(str(self.server_address)).unlink(missing_ok=True)


def make_control_server(
    load: NetLoad, path: Path, *, allowed: Callable[[str], bool]
) -> ControlServer:
    """A bound, not yet serving, control server for ``load`` on the Unix socket ``path``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/counts":
                self._json(200, load.snapshot())
            elif self.path == "/healthz":
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": "not found"})

        def do_PUT(self) -> None:
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path == "/rate":
                    load.set_rate(float(body["rps"]))
                elif self.path == "/targets":
                    urls = [str(url) for url in body["urls"]]
                    refused = [url for url in urls if not allowed(url)]
                    if refused:
                        self._json(403, {"error": f"targets not allowed here: {refused}"})
                        return
                    load.set_targets(urls)
                else:
                    self._json(404, {"error": "not found"})
                    return
            except (KeyError, TypeError, ValueError) as err:
                self._json(400, {"error": str(err)})
                return
            self._json(200, {"ok": True})

        def _json(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ControlServer(os.fspath(path), Handler)
