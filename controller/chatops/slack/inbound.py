"""What a verified Slack request asks for, and who sent it (pure: no I/O, no clock).

Two shapes arrive, both form-encoded:

- a slash command (``POST /slack/commands``): fields ``text`` (the words after
  ``/landinggear``), ``team_id``, ``user_id``, ``user_name``, ``response_url`` …;
- a button click (``POST /slack/interactions``): one field ``payload``, a JSON
  ``block_actions`` object whose ``actions[0].value`` carries the command's words
  (``rollback payments/checkout``), with ``user``, ``team`` and ``response_url``.

In Socket Mode the same fields arrive as an envelope's ``payload`` (JSON):
:func:`command_from_fields` and :func:`click_from_payload` read them, and the two
HTTP readers above are those after the form is decoded.

Either becomes an :class:`Inbound` whose ``asked`` is what
:func:`controller.chatops.commands.parse` made of the words — a ``Command``, or a
``Refusal`` to answer politely — or a :class:`Malformed` (answered 400) when the
request lacks what every Slack request carries. The sender's identity key is
``slack.<team>.<user>`` (:func:`~controller.chatops.identities.slack_key`) and their
handle ``slack:<user name>`` (the user id when the name is missing or odd).

:func:`reply_allowed` decides where answers may go: ``https://hooks.slack.com``,
or the scheme, host and port of the configured Web API URL (a test's stand-in,
an Enterprise proxy). Nothing else is ever called, whatever a request says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from controller.chatops.commands import Command, Refusal, parse
from controller.chatops.identities import slack_key

__all__ = [
    "Inbound",
    "Kind",
    "Malformed",
    "click_from_payload",
    "command_from_fields",
    "read_click",
    "read_command",
    "reply_allowed",
]

SLACK_HOOKS = ("https", "hooks.slack.com", 443)
_NAME = re.compile(r"[A-Za-z0-9._-]{1,80}")
_MAX_FIELDS = 64
_MAX_WORDS = 2000
_COMMAND_FIELDS = ("text", "team_id", "user_id", "user_name", "response_url")


class Kind(StrEnum):
    COMMAND = "command"
    CLICK = "click"


@dataclass(frozen=True, kw_only=True)
class Inbound:
    """One verified request: what it asks, who asks, and where the answer goes."""

    kind: Kind
    asked: Command | Refusal
    team_id: str
    user_id: str
    identity_key: str
    who: str
    response_url: str


@dataclass(frozen=True)
class Malformed:
    """Not a request Slack sends: answered 400, nothing done."""

    reason: str


def read_command(body: bytes, *, api_url: str) -> Inbound | Malformed:
    """A slash command's form body."""
    form = _form(body)
    if isinstance(form, Malformed):
        return form
    return command_from_fields(form, api_url=api_url)


def command_from_fields(fields: Mapping[str, object], *, api_url: str) -> Inbound | Malformed:
    """A slash command's fields: the form over HTTP, an envelope's ``payload`` in Socket Mode."""
    if not all(isinstance(fields.get(name, ""), str) for name in _COMMAND_FIELDS):
        return Malformed("a slash command field is not text")
    text = _text(fields.get("text", ""))
    if len(text) > _MAX_WORDS:
        return Malformed("text is too long")
    return _inbound(
        Kind.COMMAND,
        text,
        team_id=_text(fields.get("team_id")),
        user_id=_text(fields.get("user_id")),
        user_name=_text(fields.get("user_name")),
        response_url=_text(fields.get("response_url")),
        api_url=api_url,
    )


def read_click(body: bytes, *, api_url: str) -> Inbound | Malformed:
    """A button click's form body (``payload=`` JSON)."""
    form = _form(body)
    if isinstance(form, Malformed):
        return form
    try:
        payload = json.loads(form.get("payload", ""))
    except ValueError:
        return Malformed("payload is not JSON")
    return click_from_payload(payload, api_url=api_url)


def click_from_payload(payload: object, *, api_url: str) -> Inbound | Malformed:
    """A ``block_actions`` payload: ``payload=`` over HTTP, an envelope's in Socket Mode."""
    value = _clicked(payload)
    if isinstance(value, Malformed):
        return value
    assert isinstance(payload, dict)  # _clicked refused anything else
    user = payload.get("user")
    team = payload.get("team")
    if not isinstance(user, dict):
        return Malformed("payload has no user")
    team_id = (team.get("id") if isinstance(team, dict) else None) or user.get("team_id")
    return _inbound(
        Kind.CLICK,
        value,
        team_id=_text(team_id),
        user_id=_text(user.get("id")),
        user_name=_text(user.get("username") or user.get("name")),
        response_url=_text(payload.get("response_url")),
        api_url=api_url,
    )


def _clicked(payload: object) -> str | Malformed:
    """The command words a ``block_actions`` payload's first button carries."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return Malformed("payload is not a block_actions interaction")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return Malformed("payload has no actions")
    value = actions[0].get("value")
    if not isinstance(value, str) or len(value) > _MAX_WORDS:
        return Malformed("the action carries no command")
    return value


def reply_allowed(url: str, *, api_url: str) -> bool:
    """Whether answers may be sent to ``url``: Slack's hooks host, or the Web API's origin."""
    return bool(url) and _origin(url) in (SLACK_HOOKS, _origin(api_url))


def _inbound(
    kind: Kind,
    words: str,
    *,
    team_id: str,
    user_id: str,
    user_name: str,
    response_url: str,
    api_url: str,
) -> Inbound | Malformed:
    key = slack_key(team_id, user_id)
    if key is None:
        return Malformed("team_id or user_id is missing or not a Slack id")
    if not reply_allowed(response_url, api_url=api_url):
        return Malformed("response_url is missing or not on Slack's hooks host")
    name = user_name if _NAME.fullmatch(user_name) else user_id
    return Inbound(
        kind=kind,
        asked=parse(words),
        team_id=team_id,
        user_id=user_id,
        identity_key=key,
        who=f"slack:{name}",
        response_url=response_url,
    )


def _form(body: bytes) -> dict[str, str] | Malformed:
    try:
        fields = parse_qs(
            body.decode(), keep_blank_values=True, strict_parsing=bool(body),
            max_num_fields=_MAX_FIELDS, errors="strict",
        )  # fmt: skip
    except ValueError as err:  # also UnicodeDecodeError
        return Malformed(f"not a form: {err}")
    if any(len(values) != 1 for values in fields.values()):
        return Malformed("a field appears more than once")
    return {name: values[0] for name, values in fields.items()}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
