"""Slack, as far as it can be here: requests signed exactly as Slack signs them, and a
loopback **stand-in** for Slack's servers.

Slack's servers cannot be reached from this machine, so :class:`SlackStandIn` plays
them: a small ``ThreadingHTTPServer`` on loopback that records every POST (a
``response_url`` reply, a Web API call such as ``auth.test``) and answers as Slack
does (``ok`` for a response_url, ``{"ok": true}`` for the Web API;
``apps.connections.open`` hands out :attr:`SlackStandIn.socket_url`, a
:class:`~tests.support.socket_mode.SocketModeStandIn`). It is not Slack;
it checks nothing Slack would check. What is real is the other side: requests are
signed with the SDK's own ``SignatureVerifier.generate_signature`` and sent over
HTTP to the real endpoint.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode

from slack_sdk.signature import SignatureVerifier

from tests.support.loopback import LoopbackServer
from tests.support.waiting import eventually

TEAM = "T024BE7LD"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass(frozen=True)
class Recorded:
    """One POST the stand-in received."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class SlackStandIn(LoopbackServer):
    """A loopback stand-in for Slack's Web API and response_url host (see the module doc)."""

    name: str = "slack"
    posts: list[Recorded] = field(default_factory=list)
    socket_url: str | None = None
    """What ``apps.connections.open`` answers (a :class:`~tests.support.socket_mode.
    SocketModeStandIn`'s URL); None: the call fails as with a revoked app token."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SlackStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stand_in._lock:
                    stand_in.posts.append(Recorded(self.path, dict(self.headers.items()), body))
                if self.path.startswith("/api/"):
                    method = self.path.removeprefix("/api/")
                    found = (
                        stand_in._connections_open()
                        if method == "apps.connections.open"
                        else _web_answer(method, body)
                    )
                    answer = json.dumps(found).encode()
                    kind = "application/json"
                else:
                    answer, kind = b"ok", "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._serve(Handler)
        return self

    @property
    def origin(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/"

    def _connections_open(self) -> dict[str, Any]:
        url = self.socket_url
        return {"ok": True, "url": url} if url else {"ok": False, "error": "invalid_auth"}

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The arguments of each Web API call of ``method`` (``chat.postMessage``), in order."""
        with self._lock:
            return [_arguments(p.body) for p in self.posts if p.path == f"/api/{method}"]

    def response_url(self, n: int = 1) -> str:
        """A response_url on this stand-in, as Slack makes them (one per request)."""
        return f"{self.origin}/actions/{TEAM}/{n}/hook{n}"

    def replies(self, response_url: str) -> list[dict[str, Any]]:
        path = response_url.removeprefix(self.origin)
        with self._lock:
            return [p.json() for p in self.posts if p.path == path]

    def wait_reply(self, response_url: str, timeout: float = 10) -> dict[str, Any]:
        def first() -> dict[str, Any] | None:
            replies = self.replies(response_url)
            return replies[0] if replies else None

        return eventually(
            first,
            timeout=timeout,
            what=f"a reply to {response_url}",
        )


def _arguments(body: bytes) -> dict[str, Any]:
    """A Web API call's arguments: ``slack_sdk`` sends JSON, or a form."""
    try:
        found = json.loads(body)
    except ValueError:
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    return found if isinstance(found, dict) else {}


def _web_answer(method: str, body: bytes) -> dict[str, Any]:
    """What Slack answers: ``auth.test`` names the bot; a message call its channel and ts."""
    if method == "auth.test":
        return {"ok": True, "user": "landinggear", "team": "Payments"}
    arguments = _arguments(body)
    ts = arguments.get("ts") if method == "chat.update" else None
    return {"ok": True, "channel": arguments.get("channel"), "ts": ts or f"{time.time():.6f}"}


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack sends with ``body``: signed by the SDK's own helper."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def command_body(
    text: str, *, user: str = "U0ALICE", name: str = "alice", response_url: str, team: str = TEAM
) -> bytes:
    """A slash command's form, with the fields Slack sends."""
    fields = command_fields(text, user=user, name=name, response_url=response_url, team=team)
    return urlencode(fields).encode()


def command_fields(
    text: str, *, user: str = "U0ALICE", name: str = "alice", response_url: str, team: str = TEAM
) -> dict[str, str]:
    """A slash command's fields: the form over HTTP, the envelope's payload in Socket Mode."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team,
        "team_domain": "payments",
        "channel_id": "C0RELEASES",
        "channel_name": "releases",
        "user_id": user,
        "user_name": name,
        "command": "/landinggear",
        "text": text,
        "api_app_id": "A0LANDINGGEAR",
        "response_url": response_url,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }


def click_body(
    value: str, *, user: str = "U0ALICE", name: str = "alice", response_url: str, team: str = TEAM
) -> bytes:
    """A button click's form: ``payload=`` a ``block_actions`` JSON object."""
    payload = click_payload(value, user=user, name=name, response_url=response_url, team=team)
    return urlencode({"payload": json.dumps(payload)}).encode()


def click_payload(
    value: str, *, user: str = "U0ALICE", name: str = "alice", response_url: str, team: str = TEAM
) -> dict[str, Any]:
    """A click's ``block_actions`` object: ``payload=`` over HTTP, the envelope's payload."""
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "payments"},
        "user": {"id": user, "username": name, "name": name, "team_id": team},
        "api_app_id": "A0LANDINGGEAR",
        "channel": {"id": "C0RELEASES", "name": "releases"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": "rollback",
                "block_id": "release",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes]:
    """POST and return (status, body), for any status."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()
