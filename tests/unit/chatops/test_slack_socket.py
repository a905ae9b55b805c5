"""Slack in Socket Mode: envelopes acked at once, carried out as over HTTP, reconnects.

The client is ``slack_sdk``'s real built-in Socket Mode client; Slack's side is two
loopback stand-ins (Slack's servers can't be reached here): the Web API answering
``apps.connections.open`` with a ``ws://127.0.0.1`` URL, and the WebSocket server
behind it (:mod:`tests.support.socket_mode`). The dispatcher, its workers and the
``response_url`` replies are the real ones; only the Actor is fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from controller.chatops.commands import Verb
from controller.chatops.dispatch import Dispatcher
from controller.chatops.settings import ChatopsSettings
from controller.chatops.slack.replies import Responder
from controller.chatops.slack.socketmode import SlackSocket
from controller.cli import main
from tests.support.slack import SlackStandIn, click_payload, command_fields
from tests.support.socket_mode import SocketModeStandIn, click_envelope, command_envelope
from tests.support.waiting import eventually
from tests.unit.chatops.conftest import ALICE, FakeActor, FakeDirectory

APP_TOKEN = "xapp-1-A0LANDINGGEAR-1-stand-in"
ACK_WITHIN = 1.0


@dataclass
class Connected:
    slack: SlackStandIn
    ws: SocketModeStandIn
    actor: FakeActor
    dispatcher: Dispatcher
    socket: SlackSocket


@pytest.fixture
def connected(slack: SlackStandIn) -> Iterator[Connected]:
    ws = SocketModeStandIn().start()
    slack.socket_url = ws.url
    actor = FakeActor()
    dispatcher = Dispatcher(
        actor=actor,
        directory=FakeDirectory(),
        responder=Responder(api_url=slack.api_url, timeout=5),
        workers=4,
        queue=16,
    )
    socket = SlackSocket(app_token=APP_TOKEN, api_url=slack.api_url, dispatcher=dispatcher,
                         timeout=5, ping_interval=0.5, down_after=0.5)  # fmt: skip
    socket.start()
    eventually(socket.ready, timeout=10, what="the first Socket Mode connection")
    ws.wait_connections(1)
    yield Connected(slack, ws, actor, dispatcher, socket)
    socket.stop()
    dispatcher.shutdown(wait=True)
    ws.stop()


def test_the_connection_is_opened_with_the_app_token(connected: Connected) -> None:
    [opened] = [p for p in connected.slack.posts if p.path == "/api/apps.connections.open"]
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert connected.socket.connected()
    assert connected.socket.problems() == []


def test_a_slash_command_is_acked_at_once_then_answered_on_response_url(
    connected: Connected,
) -> None:
    url = connected.slack.response_url()
    envelope = command_envelope(
        command_fields("abort payments/checkout errors after deploy", response_url=url)
    )
    connected.ws.send(envelope)
    ack = connected.ws.wait_ack(envelope["envelope_id"])
    assert ack.seconds < ACK_WITHIN
    assert ack.payload == {
        "response_type": "ephemeral",
        "text": "Working on it: abort payments/checkout…",
        "replace_original": False,
    }
    reply = connected.slack.wait_reply(url)
    assert reply["response_type"] == "in_channel"
    assert reply["text"] == (
        "Requested abort of payments/checkout (as slack:alice): errors after deploy"
    )
    [call] = connected.actor.calls
    assert (call.command.verb, call.identity, call.who) == (Verb.ABORT, ALICE, "slack:alice")


def test_a_click_is_acked_and_carries_out_the_buttons_command(connected: Connected) -> None:
    url = connected.slack.response_url()
    envelope = click_envelope(click_payload("rollback payments/checkout", response_url=url))
    connected.ws.send(envelope)
    ack = connected.ws.wait_ack(envelope["envelope_id"])
    assert ack.seconds < ACK_WITHIN
    assert ack.payload is None  # Slack ignores a block_actions ack's payload
    assert connected.slack.wait_reply(url)["response_type"] == "in_channel"
    [call] = connected.actor.calls
    assert (call.command.verb, call.identity, call.who) == (Verb.ROLLBACK, ALICE, "slack:alice")


def test_words_that_are_not_a_command_get_the_usage_in_the_ack(connected: Connected) -> None:
    envelope = command_envelope(
        command_fields("explode payments/checkout", response_url=connected.slack.response_url())
    )
    connected.ws.send(envelope)
    ack = connected.ws.wait_ack(envelope["envelope_id"])
    assert ack.payload is not None
    assert ack.payload["response_type"] == "ephemeral"
    assert "explode" in ack.payload["text"]
    assert connected.actor.calls == []


def test_malformed_envelopes_are_acked_logged_and_ignored(connected: Connected) -> None:
    url = connected.slack.response_url()
    no_user = command_fields("abort payments/checkout", response_url=url)
    del no_user["user_id"]
    elsewhere = command_fields("abort payments/checkout", response_url="https://evil.example/")
    not_a_click = {**click_payload("rollback payments/checkout", response_url=url),
                   "type": "view_submission"}  # fmt: skip
    envelopes = [
        command_envelope(no_user),
        command_envelope(elsewhere),
        {**command_envelope({}), "payload": "abort payments/checkout"},
        click_envelope(not_a_click),
        {**click_envelope({}), "payload": ["rollback"]},
    ]
    with capture_logs() as logs:
        for envelope in envelopes:
            connected.ws.send(envelope)
        acks = [connected.ws.wait_ack(e["envelope_id"]) for e in envelopes]
    assert all(ack.payload is None and ack.seconds < ACK_WITHIN for ack in acks)
    ignored = [e for e in logs if e["event"] == "Ignored a malformed Socket Mode envelope"]
    assert len(ignored) == len(envelopes)
    assert {e["reason"] for e in ignored} >= {
        "team_id or user_id is missing or not a Slack id",
        "response_url is missing or not on Slack's hooks host",
        "payload is not a block_actions interaction",
    }
    assert connected.actor.calls == []
    assert connected.slack.replies(url) == []


def test_other_messages_are_acked_or_skipped_without_harm(connected: Connected) -> None:
    event = {"envelope_id": "e-1", "type": "events_api", "payload": {"event": {}}}
    connected.ws.send(event)
    connected.ws.send_raw("not json at all")
    connected.ws.send({"type": "slash_commands", "payload": {}})  # no envelope_id: no ack
    assert connected.ws.wait_ack("e-1").payload is None
    url = connected.slack.response_url()
    envelope = command_envelope(command_fields("status payments/checkout", response_url=url))
    connected.ws.send(envelope)
    connected.slack.wait_reply(url)  # still serving
    assert [a.envelope_id for a in connected.ws.acks] == ["e-1", envelope["envelope_id"]]


def test_a_dropped_connection_is_reopened_and_serves_again(connected: Connected) -> None:
    connected.ws.drop()
    connected.ws.wait_connections(2)
    eventually(lambda: len(connected.slack.calls("apps.connections.open")) >= 2, timeout=5,
               what="a second apps.connections.open")  # fmt: skip
    eventually(connected.socket.connected, timeout=5, what="connected again")
    url = connected.slack.response_url()
    envelope = command_envelope(command_fields("pause payments/checkout", response_url=url))
    connected.ws.send(envelope)
    assert connected.ws.wait_ack(envelope["envelope_id"]).seconds < ACK_WITHIN
    assert connected.slack.wait_reply(url)["response_type"] == "in_channel"


def test_slacks_disconnect_message_makes_the_client_reconnect(connected: Connected) -> None:
    connected.ws.send({"type": "disconnect", "reason": "refresh_requested",
                       "debug_info": {"host": "stand-in-1"}})  # fmt: skip
    connected.ws.wait_connections(2)
    assert len(connected.slack.calls("apps.connections.open")) >= 2


def test_a_connection_that_stays_down_fails_healthz_until_it_is_back(
    connected: Connected,
) -> None:
    connected.slack.socket_url = None  # apps.connections.open now fails: invalid_auth
    connected.ws.drop()
    [problem] = eventually(connected.socket.problems, timeout=10, what="a health problem")
    assert problem.startswith("the Slack Socket Mode connection has been down for")
    connected.slack.socket_url = connected.ws.url
    connected.ws.wait_connections(2)
    eventually(lambda: connected.socket.problems() == [], timeout=10, what="healthy again")


def test_the_first_connection_is_retried_until_slack_answers(slack: SlackStandIn) -> None:
    ws = SocketModeStandIn().start()
    dispatcher = Dispatcher(actor=FakeActor(), directory=FakeDirectory(),
                            responder=Responder(api_url=slack.api_url, timeout=5),
                            workers=1, queue=1)  # fmt: skip
    socket = SlackSocket(app_token=APP_TOKEN, api_url=slack.api_url, dispatcher=dispatcher,
                         timeout=5, ping_interval=0.5, down_after=0.2)  # fmt: skip
    try:
        socket.start()
        eventually(lambda: slack.calls("apps.connections.open"), timeout=5, what="a first try")
        assert not socket.ready()
        eventually(socket.problems, timeout=5, what="down reported")
        slack.socket_url = ws.url
        eventually(socket.ready, timeout=10, what="connected after a retry")
        assert socket.problems() == []
    finally:
        socket.stop()
        dispatcher.shutdown(wait=True)
        ws.stop()


def test_an_app_token_alone_configures_slack_and_must_be_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ChatopsSettings(slack_app_token_file="app-token", slack_token_file="bot-token")
    assert settings.networks() == ["slack"]
    assert settings.problem() is None
    (tmp_path / "bot").write_text("xoxb-not-an-app-token\n")
    assert main(["chatops", f"--slack-app-token-file={tmp_path / 'bot'}"]) == 2
    assert "holds no Slack app-level token (xapp-…)" in capsys.readouterr().err
