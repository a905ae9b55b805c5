"""What the bot reads in a ``/sync`` answer, and the message contents it sends (pure).

:func:`commands_in` picks the command messages out of one sync: ``m.room.message``
events of ``msgtype`` ``m.text`` whose first word is ``!landinggear``, in a
configured room, from anyone but the bot itself, and not an edit (an
``m.replace`` relation: changing a message's words never runs a command again).
Notices (``m.notice``, what bots send), redacted events and every other kind are
not commands either. :func:`invites_in` lists the configured rooms the bot is
invited to (others are ignored and stay pending).

:func:`thread_reply` answers in a thread on the command (or in the thread the
command was typed in: Matrix threads do not nest); :func:`note_content` and
:func:`edit_content` are a release note and its in-place edit.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from controller.chatops.commands import MATRIX_PREFIX
from controller.chatops.notes import ReleaseNote

__all__ = [
    "FILTER",
    "Incoming",
    "commands_in",
    "edit_content",
    "invites_in",
    "joined_in",
    "note_content",
    "thread_reply",
    "timeline_limited",
]

THREAD = "m.thread"
REPLACE = "m.replace"
TIMELINE_LIMIT = 100

FILTER: dict[str, Any] = {
    "room": {
        "timeline": {"limit": TIMELINE_LIMIT, "types": ["m.room.message", "m.room.member"]},
        "state": {"types": []},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
}
"""Only room messages, memberships (the bot's own join) and invites from ``/sync``: no
presence, receipts, typing or state."""


@dataclass(frozen=True, kw_only=True)
class Incoming:
    """A command message: where, who, what, and the thread an answer goes in."""

    room_id: str
    event_id: str
    sender: str
    body: str
    thread_root: str
    """The command's own event, or the root of the thread it was typed in."""


def commands_in(
    sync: Mapping[str, Any], *, rooms: Collection[str], me: str, known: Collection[str]
) -> Iterator[Incoming]:
    """The command messages of one ``/sync`` answer, oldest first per room.

    ``known`` are the rooms the bot was already reading; in a room it has just joined,
    the timeline may hold history from before the join, so only what follows the
    bot's own join event counts (nothing, if that event is not in the timeline)."""
    joined = (sync.get("rooms") or {}).get("join") or {}
    for room_id, room in joined.items():
        if room_id not in rooms or not isinstance(room, dict):
            continue
        events = (room.get("timeline") or {}).get("events") or []
        if room_id not in known:
            events = _after_join(events, me)
        for event in events:
            incoming = _command(room_id, event, me)
            if incoming is not None:
                yield incoming


def timeline_limited(sync: Mapping[str, Any], *, rooms: Collection[str]) -> list[str]:
    """Configured rooms whose timeline this sync cut short (messages were skipped)."""
    joined = (sync.get("rooms") or {}).get("join") or {}
    return [r for r, room in joined.items()
            if r in rooms and ((room or {}).get("timeline") or {}).get("limited")]  # fmt: skip


def joined_in(sync: Mapping[str, Any], *, rooms: Collection[str]) -> set[str]:
    """The configured rooms this sync shows the bot in."""
    return {r for r in (sync.get("rooms") or {}).get("join") or {} if r in rooms}


def _after_join(events: list[Any], me: str) -> list[Any]:
    for n in range(len(events) - 1, -1, -1):
        event = events[n]
        if (isinstance(event, dict) and event.get("type") == "m.room.member"
                and event.get("state_key") == me
                and (event.get("content") or {}).get("membership") == "join"):  # fmt: skip
            return events[n + 1 :]
    return []


def invites_in(sync: Mapping[str, Any], *, rooms: Collection[str]) -> list[str]:
    """The configured rooms this sync says the bot is invited to."""
    invited = (sync.get("rooms") or {}).get("invite") or {}
    return [room_id for room_id in invited if room_id in rooms]


def _command(room_id: str, event: object, me: str) -> Incoming | None:
    if not isinstance(event, dict) or event.get("type") != "m.room.message":
        return None
    sender, event_id, content = event.get("sender"), event.get("event_id"), event.get("content")
    if not (isinstance(sender, str) and isinstance(event_id, str) and isinstance(content, dict)):
        return None
    if sender == me or content.get("msgtype") != "m.text":
        return None
    body = content.get("body")
    if not isinstance(body, str) or body.split(maxsplit=1)[:1] != [MATRIX_PREFIX]:
        return None
    relation = content.get("m.relates_to")
    relation = relation if isinstance(relation, dict) else {}
    if relation.get("rel_type") == REPLACE or "m.new_content" in content:
        return None
    root = relation.get("event_id") if relation.get("rel_type") == THREAD else None
    return Incoming(
        room_id=room_id,
        event_id=event_id,
        sender=sender,
        body=body,
        thread_root=root if isinstance(root, str) else event_id,
    )


def thread_reply(incoming: Incoming, text: str) -> dict[str, Any]:
    """An ``m.notice`` answering ``incoming`` in its thread (a reply to it, for clients
    that show no threads)."""
    return {
        "msgtype": "m.notice",
        "body": text,
        "m.relates_to": {
            "rel_type": THREAD,
            "event_id": incoming.thread_root,
            "is_falling_back": incoming.thread_root == incoming.event_id,
            "m.in_reply_to": {"event_id": incoming.event_id},
        },
    }


def note_content(note: ReleaseNote) -> dict[str, Any]:
    """A release note as an ``m.notice``: headline, lines, and the commands to type."""
    commands = [f"{MATRIX_PREFIX} {verb.words} {note.target}" for verb in note.actions]
    plain = [note.headline, *note.lines]
    rich = [f"<b>{html.escape(note.headline)}</b>", *(html.escape(line) for line in note.lines)]
    if commands:
        plain += ["Commands:", *(f"  {c}" for c in commands)]
        rich += ["Commands:<br><code>" + "</code><br><code>".join(map(html.escape, commands))
                 + "</code>"]  # fmt: skip
    return {
        "msgtype": "m.notice",
        "body": "\n".join(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": "<br>".join(rich),
    }


def edit_content(event_id: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """An edit replacing message ``event_id`` with ``content`` (``* `` fallback body for
    clients that do not apply edits)."""
    edit: dict[str, Any] = {**content, "body": f"* {content['body']}"}
    if "formatted_body" in content:
        edit["formatted_body"] = f"* {content['formatted_body']}"
    edit["m.new_content"] = dict(content)
    edit["m.relates_to"] = {"rel_type": REPLACE, "event_id": event_id}
    return edit
