"""A loopback **stand-in** for the few Kubernetes API calls a unit test needs answered.

Not an API server: it answers fixed JSON per (method, path) and records every
request, so wiring (a client built from a kubeconfig, a periodic read, the
Actor's SubjectAccessReview) can be tested without a cluster. Behaviour against
the real API server is tested in ``tests/cluster``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.kubeconfigs import token_kubeconfig
from tests.support.loopback import LoopbackServer

Answer = tuple[int, dict[str, Any]]


@dataclass
class FakeApi(LoopbackServer):
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                with fake._lock:
                    fake.requests.append((self.command, path, json.loads(raw) if raw else None))
                    status, body = fake.answers.get(
                        (self.command, path), (404, {"kind": "Status", "code": 404})
                    )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._serve(Handler)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        with self._lock:
            self.answers[(method, path)] = (status, body)

    def seen(self, method: str, path: str) -> list[Any]:
        with self._lock:
            return [body for m, p, body in self.requests if (m, p) == (method, path)]

    def kubeconfig(self, directory: Path) -> Path:
        return token_kubeconfig(directory / "kubeconfig", server=self.url, token="t")
