"""Answers to Slack: the outcome to ``response_url``, and the Web API client.

An outcome is posted with ``slack_sdk.webhook.WebhookClient`` to the request's
``response_url`` (valid for 30 minutes, five posts): a change that was carried
out ``in_channel``, so the channel sees who rolled back what; a refusal, a
status or an error ``ephemeral``, only to the person who asked. The original
message (a notification's buttons) is never replaced.

The URL is checked again here with
:func:`~controller.chatops.slack.inbound.reply_allowed` before anything is sent,
so no code path posts to a host that is not Slack's (or the configured Web API's).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from controller.chatops.slack.inbound import reply_allowed

__all__ = ["Reply", "Responder", "check_token", "working_text"]

log = structlog.get_logger("landinggear.chatops.slack")


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One message for ``response_url``."""

    text: str
    visible: bool
    """``in_channel`` (everyone in the channel sees it) rather than ``ephemeral``."""

    def body(self) -> dict[str, object]:
        """The JSON a response (or the HTTP answer to Slack's request) carries."""
        return {
            "response_type": "in_channel" if self.visible else "ephemeral",
            "text": self.text,
            "replace_original": False,
        }


def working_text(verb_words: str, target: str) -> str:
    return f"Working on it: {verb_words} {target}…"


class Responder:
    """Posts replies to ``response_url``s on Slack's hosts only."""

    def __init__(self, *, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout

    def send(self, url: str, reply: Reply) -> bool:
        """Post ``reply``; whether Slack took it. Never raises."""
        if not reply_allowed(url, api_url=self.api_url):
            log.warning("Refused to reply to a host that is not Slack's", url=url[:200])
            return False
        client = WebhookClient(url, timeout=max(1, round(self.timeout)))
        try:
            response = client.send(
                text=reply.text,
                response_type="in_channel" if reply.visible else "ephemeral",
                replace_original=False,
            )
        except Exception as err:  # a reply that cannot be sent is logged, never fatal
            log.warning("Failed to reply to Slack", error=repr(err))
            return False
        if response.status_code != 200:
            log.warning("Slack refused a reply", status=response.status_code,
                        body=str(response.body)[:200])  # fmt: skip
            return False
        return True


def check_token(client: WebClient) -> str | None:
    """``auth.test`` with the bot token: who the bot is (None, logged, when it fails)."""
    try:
        answer = client.auth_test()
    except SlackApiError as err:
        log.warning("Slack refused the bot token", error=str(err.response.get("error")))
        return None
    except Exception as err:
        log.warning("Could not reach Slack's Web API", error=repr(err))
        return None
    who = f"{answer.get('user')} in {answer.get('team')}"
    log.info("Checked the Slack bot token", bot=who)
    return who
