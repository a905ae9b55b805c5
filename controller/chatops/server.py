"""The chat-ops HTTP server: Slack's two endpoints, ``/healthz`` and ``/readyz``.

``POST /slack/commands`` (slash commands) and ``POST /slack/interactions``
(button clicks) go through the same steps, and each answers within
milliseconds, whatever the API server's speed:

1. the body is read whole (``Content-Length`` required, at most 64 KiB: 411/413);
2. :class:`~controller.chatops.slack.verifying.RequestVerifier` checks signature,
   age and replay (401, logged with the reason; the sender learns nothing more);
3. :mod:`~controller.chatops.slack.inbound` reads it (400 when it is not what
   Slack sends);
4. words that are not a command get a polite ephemeral answer with the usage;
   a command goes to the :class:`~controller.chatops.dispatch.Dispatcher`, and the
   answer is the ephemeral "Working on it: rollback payments/checkout…" (or "busy"
   when the pool is full). The outcome follows on ``response_url``.

Slack shows a slash command's answer body to the person who typed it; for a
button click it ignores the body, so the outcome on ``response_url`` is the
answer the person sees.

Socket Mode (:mod:`~controller.chatops.slack.socketmode`) takes steps 3 and 4 from
here (:func:`first_answer`), with the envelope's ack in place of the HTTP answer.

The server is the standard library's ``ThreadingHTTPServer`` (one thread per
connection, a listen backlog of 128 so a burst of clicks is not dropped); each
connection has a 10 s socket timeout, so a slow sender holds only its own thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import structlog

from controller.chatops.commands import Command, Refusal
from controller.chatops.slack.inbound import Inbound, Malformed, read_click, read_command
from controller.chatops.slack.replies import Reply, working_text
from controller.chatops.slack.verifying import RequestVerifier

__all__ = [
    "MAX_BODY",
    "ChatopsServer",
    "SlackEndpoints",
    "Submitting",
    "first_answer",
    "serve",
]

log = structlog.get_logger("landinggear.chatops.http")

MAX_BODY = 64 * 1024
COMMANDS_PATH = "/slack/commands"
INTERACTIONS_PATH = "/slack/interactions"
BUSY = (
    "Sorry, I am busy with other commands right now and did not start this one; "
    "try again in a minute."
)


class Submitting(Protocol):
    def submit(self, job: Inbound, command: Command) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class SlackEndpoints:
    """What Slack's endpoints need: the verifier, the Web API URL (for reply hosts), workers."""

    verifier: RequestVerifier
    api_url: str
    dispatcher: Submitting

    def answer(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """The HTTP status and body for one POST to a Slack endpoint."""
        rejected = self.verifier.check(body, headers)
        if rejected is not None:
            log.info("Refused a request that is not Slack's", path=path, reason=rejected.reason)
            return 401, b"unauthorized\n"
        reader = read_command if path == COMMANDS_PATH else read_click
        inbound = reader(body, api_url=self.api_url)
        if isinstance(inbound, Malformed):
            log.info("Refused a malformed Slack request", path=path, reason=inbound.reason)
            return 400, f"bad request: {inbound.reason}\n".encode()
        return 200, _json(first_answer(inbound, self.dispatcher, via=path))


def first_answer(inbound: Inbound, dispatcher: Submitting, *, via: str) -> Reply:
    """The answer at once to a parsed request, over HTTP or Socket Mode (step 4 above)."""
    asked = inbound.asked
    if isinstance(asked, Refusal):
        log.info("Answered words that are not a command", who=inbound.who, via=via)
        return Reply(text=asked.message, visible=False)
    if not dispatcher.submit(inbound, asked):
        return Reply(text=BUSY, visible=False)
    log.info("Accepted a chat command", who=inbound.who, kind=inbound.kind.value,
             verb=asked.verb.value, rollout=asked.target, via=via)  # fmt: skip
    return Reply(text=working_text(asked.verb.words, asked.target), visible=False)


class ChatopsServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` with daemon threads and a backlog for bursts."""

    daemon_threads = True
    request_queue_size = 128


def serve(
    address: str,
    *,
    slack: SlackEndpoints | None,
    healthy: Callable[[], list[str]] = list,
    ready: Callable[[], bool] = lambda: True,
) -> ChatopsServer:
    """Serve on ``host:port`` (port 0: any) from a daemon thread; returns the server."""
    host, _, port = address.rpartition(":")
    posts = {COMMANDS_PATH, INTERACTIONS_PATH} if slack is not None else set()

    class Handler(BaseHTTPRequestHandler):
        timeout = 10.0
        server_version = "landinggear-chatops"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path == "/healthz":
                problems = healthy()
                text = "".join(f"{p}\n" for p in problems) if problems else "ok\n"
                self._send(503 if problems else 200, text.encode())
            elif self.path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path not in posts or slack is None:
                self._send(404, b"not found\n")
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                self._send(411, b"length required\n")
                return
            if int(length) > MAX_BODY:
                self._send(413, b"too large\n")
                return
            body = self.rfile.read(int(length))
            if len(body) != int(length):
                self._send(400, b"short body\n")
                return
            status, answer = slack.answer(self.path, body, dict(self.headers.items()))
            kind = "application/json" if answer.startswith(b"{") else "text/plain"
            self._send(status, answer, kind)

        def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ChatopsServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="chatops-http", daemon=True
    ).start()
    return server


def _json(reply: Reply) -> bytes:
    return json.dumps(reply.body()).encode()
