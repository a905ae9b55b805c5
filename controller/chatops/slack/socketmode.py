"""Slack over Socket Mode: the same commands and buttons, for clusters with no public endpoint.

With an app-level token (``xapp-…``, scope ``connections:write``) the process
opens the connection itself: ``slack_sdk``'s built-in
:class:`~slack_sdk.socket_mode.builtin.SocketModeClient` calls
``apps.connections.open`` on the configured Web API URL and connects to the
WebSocket URL it returns. Slack then sends each slash command and click as an
*envelope* on that connection instead of an HTTP request, and nothing needs to
reach the cluster from outside.

No signature is checked here: there is no signed request. The app token
authenticates the connection, which this process opens to the URL Slack's Web
API gave it (TLS on ``wss://``), so whatever arrives on it comes from Slack. The
signing secret is needed only for the HTTP endpoints.

Each envelope is handled as the HTTP endpoints handle a request
(:func:`envelope_ack`), from the SDK's message thread and without blocking:

- ``slash_commands``: its ``payload`` holds the slash command's form fields,
  read by :func:`~controller.chatops.slack.inbound.command_from_fields`;
- ``interactive``: its ``payload`` is the ``block_actions`` JSON a click posts
  as ``payload=``, read by :func:`~controller.chatops.slack.inbound.click_from_payload`;
- a command goes to the same :class:`~controller.chatops.dispatch.Dispatcher`
  (:func:`~controller.chatops.server.first_answer`), and the envelope is acked at
  once. Where Slack takes a message with the ack (``accepts_response_payload``:
  slash commands) the ack carries the HTTP answer's "Working on it: …" (or the
  usage, or "busy"); a click's ack carries nothing, as Slack ignores it. The
  outcome follows on ``response_url``, exactly as over HTTP;
- an envelope that is not what Slack sends is acked (so Slack does not resend
  it), logged with the reason and otherwise ignored; other types (``events_api``)
  are acked and ignored.

Reconnecting is the SDK's: it answers Slack's ``disconnect`` message, pings the
server, and opens a new connection (a new ``apps.connections.open``) when one
closes or goes stale. Until the first connection, :meth:`SlackSocket.start`'s
thread retries with backoff. :meth:`SlackSocket.problems` reports a connection
down for longer than ``down_after`` seconds, so ``/healthz`` fails and the
kubelet restarts the process; :meth:`SlackSocket.ready` is False until the first
connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient

from controller.chatops.server import Submitting, first_answer
from controller.chatops.slack.inbound import (
    Inbound,
    Malformed,
    click_from_payload,
    command_from_fields,
)

__all__ = ["SlackSocket", "envelope_ack"]

log = structlog.get_logger("landinggear.chatops.slack.socket")

VIA = "socket-mode"
_FIRST_RETRY = 1.0
_LAST_RETRY = 30.0


def envelope_ack(
    message: Mapping[str, Any], *, api_url: str, dispatcher: Submitting
) -> dict[str, Any] | None:
    """The ack to send for one Socket Mode message (None: nothing to ack), having handed a
    command in it to ``dispatcher``."""
    kind = message.get("type")
    envelope = message.get("envelope_id")
    if not isinstance(envelope, str) or not envelope:
        if kind in ("slash_commands", "interactive"):
            log.warning("Ignored a Socket Mode envelope without an envelope_id", type=str(kind))
        elif kind == "hello":
            log.info("Connected to Slack in Socket Mode")
        return None
    ack: dict[str, Any] = {"envelope_id": envelope}
    payload = message.get("payload")
    inbound: Inbound | Malformed
    if kind == "slash_commands":
        inbound = (
            command_from_fields(payload, api_url=api_url)
            if isinstance(payload, Mapping)
            else Malformed("payload is not an object")
        )
    elif kind == "interactive":
        inbound = click_from_payload(payload, api_url=api_url)
    else:
        log.debug("Acked a Socket Mode envelope of no interest", type=str(kind))
        return ack
    if isinstance(inbound, Malformed):
        log.info("Ignored a malformed Socket Mode envelope", type=kind, envelope=envelope[:80],
                 reason=inbound.reason)  # fmt: skip
        return ack
    reply = first_answer(inbound, dispatcher, via=VIA)
    if message.get("accepts_response_payload") is True:
        ack["payload"] = reply.body()
    return ack


class SlackSocket:
    """One Socket Mode connection to Slack, kept open by the SDK (see the module docstring)."""

    def __init__(
        self,
        *,
        app_token: str,
        api_url: str,
        dispatcher: Submitting,
        timeout: float = 10.0,
        ping_interval: float = 5.0,
        down_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_token = app_token
        self.api_url = api_url
        self.dispatcher = dispatcher
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.down_after = down_after
        self._clock = clock
        self._client: SocketModeClient | None = None
        self._connecting: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connected_once = threading.Event()
        self._lock = threading.Lock()
        self._down_since: float | None = None

    def start(self) -> None:
        """Create the SDK client and connect from a daemon thread (retrying until it works)."""
        web = WebClient(base_url=self.api_url, timeout=max(1, round(self.timeout)))
        client = SocketModeClient(
            app_token=self.app_token,
            logger=logging.getLogger("landinggear.chatops.slack.sdk"),
            web_client=web,
            ping_interval=self.ping_interval,
            concurrency=4,
            on_close_listeners=[self._on_close],
        )
        client.message_listeners.append(self._on_message)
        with self._lock:
            self._client = client
            self._down_since = self._clock()
        self._connecting = threading.Thread(target=self._connect, name="slack-socket", daemon=True)
        self._connecting.start()

    def stop(self) -> None:
        """Close the connection; no more envelopes are taken."""
        self._stopping.set()
        client = self._client
        if client is None:
            return
        client.auto_reconnect_enabled = False
        _end_reading(client)
        if self._connecting is not None:
            self._connecting.join(timeout=self.timeout)
        client.close()  # joins the SDK's threads, which may have been reconnecting meanwhile:
        late = client.current_session  # a session that replaced the one close() closed
        if late is not None:
            late.close()

    def connected(self) -> bool:
        """Whether the connection is open now."""
        return self._client is not None and self._client.is_connected()

    def ready(self) -> bool:
        """Connected at least once."""
        return self._connected_once.is_set()

    def problems(self) -> list[str]:
        """The connection down for longer than ``down_after`` seconds (``/healthz``)."""
        if self._client is None or self._stopping.is_set():
            return []
        now = self._clock()
        with self._lock:
            if self._client.is_connected():
                self._down_since = None
                return []
            if self._down_since is None:
                self._down_since = now
            down = now - self._down_since
        if down < self.down_after:
            return []
        return [f"the Slack Socket Mode connection has been down for {down:.0f}s"]

    def _connect(self) -> None:
        client = self._client
        assert client is not None
        delay = _FIRST_RETRY
        while not self._stopping.is_set():
            try:
                client.connect_to_new_endpoint(force=True)
            except Exception as err:
                log.warning("Could not connect to Slack in Socket Mode; retrying",
                            error=repr(err)[:300], retry_in=delay)  # fmt: skip
                self._stopping.wait(delay)
                delay = min(delay * 2, _LAST_RETRY)
                continue
            self._connected_once.set()
            log.info("Opened the Slack Socket Mode connection", session=client.session_id())
            return

    def _on_close(self, code: int, reason: str | None) -> None:
        log.info("The Slack Socket Mode connection closed", code=code, reason=reason)
        with self._lock:
            if self._down_since is None:
                self._down_since = self._clock()

    def _on_message(
        self, client: BaseSocketModeClient, message: dict[str, Any], raw: str | None
    ) -> None:
        del raw
        ack = envelope_ack(message, api_url=self.api_url, dispatcher=self.dispatcher)
        if ack is not None:
            client.send_socket_mode_response(ack)


def _end_reading(client: SocketModeClient) -> None:
    """End the SDK's blocking read of the current socket (it holds the socket for up to 3 s
    per read, and closing waits for it): shut the socket down under it."""
    session = client.current_session
    if session is not None and session.sock is not None:
        with contextlib.suppress(OSError):
            session.sock.shutdown(socket.SHUT_RDWR)
