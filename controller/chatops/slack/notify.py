"""Release notes as Slack messages: Block Kit, posted once, then ``chat.update``d in place.

The message is a section (the headline in bold, the note's lines below it) and,
when commands apply, an actions block with one button per verb. A button's
``value`` is the command's words, ``"<verb words> <namespace>/<rollout>"``
(``abort payments/web``): exactly what
:func:`controller.chatops.slack.inbound.read_click` reads from ``actions[0].value``
when someone clicks, so a click is a command like any other — verified, mapped to
the person's own Kubernetes identity and authorised by their RBAC. Aborting and
rolling back ask for a confirmation first.

The handle is ``<channel>:<ts>``. Calls go through the process' ``slack_sdk``
``WebClient`` (the bot token, the configured ``--slack-api-url``, its timeout).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from controller.chatops.commands import Verb
from controller.chatops.notes import ReleaseNote
from controller.redaction import scrub

__all__ = ["SlackSink", "blocks", "button_value"]

LABELS: dict[Verb, str] = {
    Verb.PROMOTE: "Promote",
    Verb.PAUSE: "Pause",
    Verb.RESUME: "Resume",
    Verb.ABORT: "Abort",
    Verb.ROLLBACK: "Roll back",
    Verb.RETRY: "Retry",
    Verb.FLAGS_OFF: "Flags off",
    Verb.STATUS: "Status",
}
_CONFIRM = {Verb.ABORT, Verb.ROLLBACK, Verb.FLAGS_OFF}
_MARKS = {"info": ":large_blue_circle:", "warning": ":warning:", "danger": ":red_circle:"}
_MAX_SECTION = 2900  # Slack allows 3000 characters in a section's text


def button_value(verb: Verb, note: ReleaseNote) -> str:
    """The command words a button carries: ``rollback payments/checkout``."""
    return f"{verb.words} {note.target}"


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped (no mentions or links from a Rollout)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(note: ReleaseNote) -> list[dict[str, Any]]:
    """The Block Kit of ``note``."""
    mark = _MARKS.get(note.severity, _MARKS["info"])
    text = f"{mark} *{_escape(note.headline)}*"
    if note.lines:
        text += "\n" + "\n".join(_escape(line) for line in note.lines)
    if len(text) > _MAX_SECTION:
        text = text[: _MAX_SECTION - 1] + "…"
    out: list[dict[str, Any]] = [
        {"type": "section", "block_id": "note", "text": {"type": "mrkdwn", "text": text}}
    ]
    if note.actions:
        out.append(
            {"type": "actions", "block_id": "release",
             "elements": [_button(verb, note) for verb in note.actions]}
        )  # fmt: skip
    return out


def _button(verb: Verb, note: ReleaseNote) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": verb.value,
        "text": {"type": "plain_text", "text": LABELS[verb]},
        "value": button_value(verb, note),
    }
    if verb is Verb.PROMOTE:
        button["style"] = "primary"
    if verb in _CONFIRM:
        button["style"] = "danger"
        button["confirm"] = {
            "title": {"type": "plain_text", "text": f"{LABELS[verb]}?"},
            "text": {"type": "plain_text",
                     "text": f"{LABELS[verb]} {note.target} (release {note.revision})"[:300]},
            "confirm": {"type": "plain_text", "text": LABELS[verb]},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }  # fmt: skip
    return button


class SlackRefused(RuntimeError):
    """A Slack Web API call failed: the method, the HTTP status and Slack's error code."""


class SlackSink:
    """One Slack channel; see the module docstring."""

    def __init__(self, client: WebClient, *, channel: str, name: str) -> None:
        self.client = client
        self.channel = channel
        self.name = name

    def post(self, note: ReleaseNote) -> str:
        try:
            answer = self.client.chat_postMessage(
                channel=self.channel, text=note.headline, blocks=blocks(note), unfurl_links=False
            )
        except SlackApiError as err:
            raise self._refused("chat.postMessage", err) from None
        channel = answer.get("channel") or self.channel
        ts = answer.get("ts")
        if not isinstance(ts, str) or not ts:
            raise RuntimeError("chat.postMessage answered without a ts")
        return f"{channel}:{ts}"

    def update(self, handle: str, note: ReleaseNote) -> None:
        channel, sep, ts = handle.rpartition(":")
        if not sep or not channel:
            raise ValueError(f"not a Slack message handle: {handle!r}")
        try:
            self.client.chat_update(channel=channel, ts=ts, text=note.headline, blocks=blocks(note))
        except SlackApiError as err:
            raise self._refused("chat.update", err) from None

    def _refused(self, method: str, err: SlackApiError) -> SlackRefused:
        """Slack's error code, never its whole answer (a proxy may echo the token)."""
        data = err.response.data if isinstance(err.response.data, dict) else {}
        code = scrub(str(data.get("error") or "no error code"), self.client.token or "")
        return SlackRefused(f"{method} answered {err.response.status_code}: {code[:100]}")
