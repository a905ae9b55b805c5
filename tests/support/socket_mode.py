"""A loopback **stand-in** for Slack's Socket Mode WebSocket server.

Slack's servers cannot be reached from this machine, so :class:`SocketModeStandIn`
plays the WebSocket end of Socket Mode: a ``websockets`` server on loopback
(``ws://127.0.0.1:<port>``; the SDK's built-in client speaks plain ``ws`` to any
port but 443) that greets each connection with ``hello`` as Slack does, sends the
envelopes a test gives it, and records every ack with the time it arrived. The
URL is handed out by :class:`~tests.support.slack.SlackStandIn`'s
``apps.connections.open``. It is not Slack: it checks nothing Slack would check
(tickets, the app token), and answers pings only because the library does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.support.waiting import eventually

__all__ = ["Ack", "SocketModeStandIn", "click_envelope", "command_envelope"]


@dataclass(frozen=True)
class Ack:
    """One ack the client sent: the envelope it acks, its payload, and how long it took."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float
    """From the envelope's sending to the ack's arrival (monotonic clock)."""


@dataclass
class SocketModeStandIn:
    """The stand-in (see the module docstring); :meth:`start` it, hand out :attr:`url`."""

    acks: list[Ack] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    connections: int = 0
    _sent: dict[str, float] = field(default_factory=dict)
    _current: ServerConnection | None = None
    _server: Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SocketModeStandIn:
        self._server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=stand-in"

    def wait_connections(self, count: int, timeout: float = 10) -> None:
        """Until ``count`` connections have been made (and the last greeted)."""
        eventually(lambda: self.connections >= count or None, timeout=timeout,
                   what=f"{count} Socket Mode connection(s)")  # fmt: skip

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` on the current connection (an envelope, or ``disconnect``)."""
        with self._lock:
            connection = self._current
            if isinstance(message.get("envelope_id"), str):
                self._sent[message["envelope_id"]] = time.monotonic()
        assert connection is not None, "no client is connected"
        connection.send(json.dumps(message))

    def send_raw(self, text: str) -> None:
        with self._lock:
            connection = self._current
        assert connection is not None, "no client is connected"
        connection.send(text)

    def drop(self) -> None:
        """Close the current connection from the server's side, as a restarting Slack host."""
        with self._lock:
            connection = self._current
        assert connection is not None
        connection.close()

    def wait_ack(self, envelope_id: str, timeout: float = 5) -> Ack:
        def found() -> Ack | None:
            with self._lock:
                return next((a for a in self.acks if a.envelope_id == envelope_id), None)

        return eventually(found, timeout=timeout, what=f"an ack of {envelope_id}")

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections += 1
            self._current = connection
            number = self.connections
        connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": f"stand-in-{number}", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0LANDINGGEAR"},
        }))  # fmt: skip
        try:
            for text in connection:
                self._record(text if isinstance(text, str) else text.decode())
        except ConnectionClosed:
            pass

    def _record(self, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.received.append(text)
            try:
                message = json.loads(text)
            except ValueError:
                return
            envelope = message.get("envelope_id") if isinstance(message, dict) else None
            if isinstance(envelope, str):
                sent = self._sent.get(envelope, now)
                self.acks.append(Ack(envelope, message.get("payload"), now - sent))


def command_envelope(fields: dict[str, str]) -> dict[str, Any]:
    """A ``slash_commands`` envelope as Slack sends it: the form's fields as ``payload``."""
    return {"envelope_id": str(uuid.uuid4()), "type": "slash_commands",
            "accepts_response_payload": True, "payload": fields}  # fmt: skip


def click_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """An ``interactive`` envelope: the ``block_actions`` JSON a click posts as ``payload=``."""
    return {"envelope_id": str(uuid.uuid4()), "type": "interactive",
            "accepts_response_payload": False, "payload": payload}  # fmt: skip
