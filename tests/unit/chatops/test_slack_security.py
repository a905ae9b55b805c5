"""Requests that are not Slack's, or not new, or not what Slack sends, change nothing.

The real server on loopback, signed requests as Slack makes them (the SDK's own
signature helper), a fake Actor that records whether anything reached it.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from controller.chatops.server import MAX_BODY
from controller.chatops.slack.replies import Reply, Responder
from tests.support.slack import (
    SlackStandIn,
    click_body,
    command_body,
    post,
    signed_headers,
)
from tests.unit.chatops.conftest import Bot


def _nothing_happened(bot: Bot) -> None:
    time.sleep(0.1)  # a worker, had one been started, would have called the actor by now
    assert bot.actor.calls == []
    assert bot.slack.posts == []


def test_a_forged_signature_is_refused(bot: Bot) -> None:
    body = command_body("abort payments/checkout", response_url=bot.slack.response_url())
    status, _ = post(bot.commands, body, signed_headers(body, secret="not-the-app-secret"))
    assert status == 401
    _nothing_happened(bot)


@pytest.mark.parametrize("skew", [-301, -3600, 301])
def test_a_timestamp_more_than_five_minutes_away_is_refused(bot: Bot, skew: int) -> None:
    body = command_body("abort payments/checkout", response_url=bot.slack.response_url())
    status, _ = post(bot.commands, body, signed_headers(body, timestamp=int(time.time()) + skew))
    assert status == 401
    _nothing_happened(bot)


def test_the_same_signed_request_twice_is_carried_out_once(bot: Bot) -> None:
    url = bot.slack.response_url()
    body = command_body("abort payments/checkout", response_url=url)
    headers = signed_headers(body)
    first, _ = post(bot.commands, body, headers)
    again, _ = post(bot.commands, body, headers)
    assert (first, again) == (200, 401)
    bot.slack.wait_reply(url)
    time.sleep(0.1)
    assert len(bot.actor.calls) == 1
    assert len(bot.slack.replies(url)) == 1


def test_a_replayed_click_is_refused_too(bot: Bot) -> None:
    body = click_body("rollback payments/checkout", response_url=bot.slack.response_url())
    headers = signed_headers(body)
    assert post(bot.interactions, body, headers)[0] == 200
    assert post(bot.interactions, body, headers)[0] == 401


def test_an_altered_body_is_refused(bot: Bot) -> None:
    url = bot.slack.response_url()
    signed = command_body("status payments/checkout", response_url=url)
    altered = command_body("abort payments/checkout", response_url=url)
    status, _ = post(bot.commands, altered, signed_headers(signed))
    assert status == 401
    _nothing_happened(bot)


def test_a_request_without_slacks_headers_is_refused(bot: Bot) -> None:
    body = command_body("abort payments/checkout", response_url=bot.slack.response_url())
    headers = signed_headers(body)
    for missing in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
        status, _ = post(bot.commands, body, {k: v for k, v in headers.items() if k != missing})
        assert status == 401
    bad_stamp = {**headers, "X-Slack-Request-Timestamp": "soon"}
    assert post(bot.commands, body, bad_stamp)[0] == 401
    _nothing_happened(bot)


def _payload(bot: Bot, payload: object) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    "make",
    [
        lambda bot: b"payload=%7Bnot+json",
        lambda bot: urlencode({"text": "abort a/b"}).encode(),  # a click without payload
        lambda bot: _payload(bot, ["block_actions"]),
        lambda bot: _payload(bot, {"type": "view_submission"}),
        lambda bot: _payload(bot, {"type": "block_actions", "actions": [], "user": {"id": "U1"}}),
        lambda bot: _payload(
            bot, {"type": "block_actions", "actions": [{"value": 7}], "user": {"id": "U1"}}
        ),
        lambda bot: _payload(bot, {"type": "block_actions", "actions": [{"value": "abort a/b"}]}),
        lambda bot: _payload(
            bot,
            {
                "type": "block_actions",
                "actions": [{"value": "abort a/b"}],
                "user": {"id": "u-not-slack", "team_id": "T1"},
                "response_url": bot.slack.response_url(),
            },
        ),
        lambda bot: _payload(
            bot,
            {
                "type": "block_actions",
                "actions": [{"value": "abort a/b"}],
                "user": {"id": "U1", "team_id": "T1"},
            },  # no response_url
        ),
        lambda bot: b"payload=a&payload=b",
    ],
    ids=[
        "not-json",
        "no-payload",
        "not-an-object",
        "other-type",
        "no-actions",
        "value-not-text",
        "no-user",
        "user-not-slack",
        "no-response-url",
        "field-twice",
    ],
)
def test_a_malformed_click_is_a_bad_request(bot: Bot, make: object) -> None:
    body = make(bot)  # type: ignore[operator]
    status, _ = post(bot.interactions, body, signed_headers(body))
    assert status == 400
    _nothing_happened(bot)


def test_a_malformed_command_is_a_bad_request(bot: Bot) -> None:
    url = bot.slack.response_url()
    for body in (
        command_body("abort a/b", response_url=url, team=""),
        command_body("abort a/b", response_url=url, user="../etc"),
        command_body("abort a/b", response_url=""),
        b"text=abort+a%2Fb&user_id=%FF",  # not UTF-8 once decoded
    ):
        assert post(bot.commands, body, signed_headers(body))[0] == 400
    _nothing_happened(bot)


def test_a_body_that_is_too_large_is_refused_unread(bot: Bot) -> None:
    body = b"text=" + b"a" * MAX_BODY
    assert post(bot.commands, body, signed_headers(body))[0] == 413
    _nothing_happened(bot)


def test_a_response_url_on_a_foreign_host_is_never_called(bot: Bot) -> None:
    foreign = SlackStandIn(name="elsewhere").start()
    try:
        for url in (
            foreign.response_url(),  # loopback too, but another port: another origin
            "https://hooks.slack.com.evil.example/actions/T/1/x",
            "http://hooks.slack.com/actions/T/1/x",
            "https://attacker@hooks.slack.com/actions/T/1/x",
        ):
            body = command_body("abort payments/checkout", response_url=url)
            assert post(bot.commands, body, signed_headers(body))[0] == 400
            body = click_body("abort payments/checkout", response_url=url)
            assert post(bot.interactions, body, signed_headers(body))[0] == 400
        # and the reply path refuses on its own, whatever a caller hands it
        responder = Responder(api_url=bot.slack.api_url, timeout=2)
        assert not responder.send(foreign.response_url(), Reply(text="hi", visible=True))
        time.sleep(0.1)
        assert foreign.posts == []
    finally:
        foreign.stop()
    _nothing_happened(bot)


def test_an_unknown_verb_gets_the_usage_politely(bot: Bot) -> None:
    body = command_body("explode payments/checkout", response_url=bot.slack.response_url())
    status, answer = post(bot.commands, body, signed_headers(body))
    assert status == 200
    reply = json.loads(answer)
    assert reply["response_type"] == "ephemeral"
    assert "unknown verb `explode`" in reply["text"]
    assert "usage:" in reply["text"]
    _nothing_happened(bot)


@pytest.mark.parametrize("words", ["abort checkout", "abort Payments/checkout", "abort a/b/c", ""])
def test_a_bad_rollout_gets_a_polite_answer(bot: Bot, words: str) -> None:
    body = click_body(words, response_url=bot.slack.response_url())
    status, answer = post(bot.interactions, body, signed_headers(body))
    assert status == 200
    assert json.loads(answer)["response_type"] == "ephemeral"
    _nothing_happened(bot)


def test_an_unmapped_user_is_refused_politely_in_private(bot: Bot) -> None:
    url = bot.slack.response_url()
    body = command_body("abort payments/checkout", user="U0MALLORY", name="mallory",
                        response_url=url)  # fmt: skip
    assert post(bot.commands, body, signed_headers(body))[0] == 200
    reply = bot.slack.wait_reply(url)
    assert reply["response_type"] == "ephemeral"
    assert "slack:mallory is not mapped" in reply["text"]
    assert bot.actor.calls[0].identity is None
