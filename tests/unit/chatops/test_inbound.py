"""What a verified Slack request asks for, who sent it, and where answers may go (pure)."""

from __future__ import annotations

import pytest

from controller.chatops.commands import Command, Refusal, Verb
from controller.chatops.slack.inbound import Inbound, Kind, read_click, read_command, reply_allowed
from tests.support.slack import TEAM, click_body, command_body

API = "https://slack.com/api/"
HOOK = "https://hooks.slack.com/commands/T024BE7LD/1/abc"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (HOOK, True),
        ("https://hooks.slack.com:443/actions/T/1/x", True),
        ("https://HOOKS.slack.com/actions/T/1/x", True),
        ("https://slack.com/api/chat.postMessage", True),  # the Web API's own origin
        ("http://hooks.slack.com/actions/T/1/x", False),
        ("https://hooks.slack.com:8443/actions/T/1/x", False),
        ("https://hooks.slack.com.evil.example/x", False),
        ("https://evil.example/?https://hooks.slack.com/", False),
        ("https://u:p@hooks.slack.com/x", False),
        ("https://hooks.slack.com:99999/x", False),
        ("", False),
        ("file:///etc/passwd", False),
    ],
)
def test_answers_go_only_to_slacks_hooks_or_the_web_apis_origin(url: str, allowed: bool) -> None:
    assert reply_allowed(url, api_url=API) is allowed


def test_a_slash_command_names_its_sender_and_their_identity_key() -> None:
    read = read_command(command_body("abort payments/web spike", response_url=HOOK), api_url=API)
    assert read == Inbound(
        kind=Kind.COMMAND,
        asked=Command(verb=Verb.ABORT, namespace="payments", rollout="web", reason="spike"),
        team_id=TEAM,
        user_id="U0ALICE",
        identity_key=f"slack.{TEAM}.U0ALICE",
        who="slack:alice",
        response_url=HOOK,
    )


def test_a_click_reads_the_team_from_the_user_when_the_payload_has_none() -> None:
    body = click_body("flags off payments/web", response_url=HOOK)
    without_team = body.replace(b"%22team%22%3A+%7B", b"%22teamx%22%3A+%7B")
    assert without_team != body
    read = read_click(without_team, api_url=API)
    assert isinstance(read, Inbound)
    assert read.identity_key == f"slack.{TEAM}.U0ALICE"
    assert isinstance(read.asked, Command)
    assert read.asked.verb is Verb.FLAGS_OFF


def test_words_that_are_not_a_command_are_a_refusal_to_answer() -> None:
    read = read_command(command_body("help", response_url=HOOK), api_url=API)
    assert isinstance(read, Inbound)
    assert isinstance(read.asked, Refusal)
    assert read.asked.message.startswith("usage:")
