"""A loopback **stand-in** for a Prometheus query endpoint that records every request.

It answers each ``/api/v1/query`` with one sample of ``value`` (a vector of one
series), or — with ``status``/``location`` set — with that status and a
``Location`` header (``302`` to redirect elsewhere). It checks nothing a real
Prometheus would check: tests use it to prove where requests went, with which
headers, or that none came at all.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    """The PromQL sent (GET parameter or form field)."""
    headers: dict[str, str]


@dataclass
class RecordingPrometheus(LoopbackServer):
    """See the module docstring; ``value``, ``status`` and ``location`` may change while
    it runs."""

    value: float = 1.0
    status: int = 200
    location: str = ""
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> RecordingPrometheus:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                fields = parse_qs(parts.query) | parse_qs(body)
                with stand_in._lock:
                    stand_in.requests.append(
                        Request(
                            method=self.command,
                            path=parts.path,
                            query=(fields.get("query") or [""])[0],
                            headers=dict(self.headers.items()),
                        )
                    )
                    status, location, value = stand_in.status, stand_in.location, stand_in.value
                answer = {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [time.time(), str(value)]}],
                    },
                }
                data = json.dumps(answer).encode()
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._serve(Handler)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def seen(self) -> list[Request]:
        with self._lock:
            return list(self.requests)
