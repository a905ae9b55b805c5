"""A loopback HTTP backend that fails every request and echoes it back, for the tests
that no credential leaks: it answers 401, 403, 500, 400, 404 … in turn, with the
request's ``Authorization`` header, path and body in a JSON error's ``message`` and
``error`` (as a naive proxy's error page would), in JSON without them, or in plain text.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer

STATUSES = (401, 403, 500, 400, 404, 401, 400)


class EchoingBackend(LoopbackServer):
    """Answers every request with the next failing status and the request's headers
    (in a JSON error with a message, in JSON without one, or in plain text)."""

    def __init__(self) -> None:
        self.answered = 0
        self.received: list[str] = []
        """Each request's headers, as text."""
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                sent = self.rfile.read(length).decode(errors="replace") if length else ""
                status = STATUSES[backend.answered % len(STATUSES)]
                backend.answered += 1
                backend.received.append(str(self.headers))
                echo = f"{self.path} {self.headers.get('Authorization', '')}"
                echoed = {
                    "authorization": self.headers.get("Authorization", ""),  # first, whole
                    "headers": dict(self.headers),
                    "body": sent,
                }
                kind = backend.answered % 3  # JSON with a message, JSON without, plain text
                if kind == 0:
                    echoed = {"message": f"rejected {echo}", "error": echo, **echoed}
                body = (json.dumps(echoed) if kind < 2 else f"rejected: {echoed}").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if kind < 2 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._serve(Handler)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"
