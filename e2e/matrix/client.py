"""A person in a Matrix room, for tests: a thin ``matrix-nio`` client (asyncio).

:class:`ChatUser` does what the on-call engineer does in a chat client: create a
room and invite people, accept an invite, type a message (optionally in a thread or
as a reply), edit one, and read the room as a person sees it. Reading goes through
the room's history (``/messages``), so a burst of messages is never lost to a
truncated sync; waiting (:meth:`ChatUser.wait_for`) long-polls ``/sync`` between
reads, so a test wakes as soon as the server has something new instead of sleeping.

What a person sees is :func:`conversation`: every message once, with its newest edit
applied (an edit is an ``m.replace`` relation from the original sender whose
``m.new_content`` replaces the body) and ``edited`` set. Threads are ``m.thread``
relations to their root. Only unencrypted rooms: the bot will not use end-to-end
encryption, and nio's needs libolm.

Every nio error response becomes a :class:`ChatError` carrying the Matrix error code
(``M_FORBIDDEN`` when the user may not read or write the room).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, TypeVar

import nio
from nio.client.async_client import AsyncClient

from e2e.matrix.server import Account

__all__ = ["ChatError", "ChatUser", "Message", "conversation", "message_from_event"]

R = TypeVar("R")
T = TypeVar("T")
THREAD = "m.thread"
REPLACE = "m.replace"


class ChatError(RuntimeError):
    """The homeserver refused a request; ``code`` is the Matrix error code."""

    def __init__(self, what: str, response: nio.ErrorResponse) -> None:
        super().__init__(f"{what}: {response.status_code} {response.message}")
        self.code = response.status_code


@dataclass(frozen=True, kw_only=True)
class Message:
    """One ``m.room.message`` event as a chat client shows it.

    ``replaces`` is set on an edit (the event it edits; ``body`` is then the new
    text); ``thread_root`` on a message in a thread; ``in_reply_to`` on a reply;
    ``edited`` only in :func:`conversation`, on a message whose body an edit replaced.
    """

    event_id: str
    sender: str
    body: str
    msgtype: str = "m.text"
    thread_root: str | None = None
    in_reply_to: str | None = None
    replaces: str | None = None
    edited: bool = False


def message_from_event(event: dict[str, Any]) -> Message | None:
    """The message in a raw client-API event, or ``None`` for any other event."""
    content = event.get("content") or {}
    if event.get("type") != "m.room.message" or "body" not in content:
        return None
    relation = content.get("m.relates_to") or {}
    rel_type = relation.get("rel_type")
    new_content = content.get("m.new_content") or {}
    replaces = relation.get("event_id") if rel_type == REPLACE else None
    body = new_content.get("body", content["body"]) if replaces else content["body"]
    return Message(
        event_id=str(event["event_id"]),
        sender=str(event["sender"]),
        body=str(body),
        msgtype=str(content.get("msgtype", "m.text")),
        thread_root=relation.get("event_id") if rel_type == THREAD else None,
        in_reply_to=(relation.get("m.in_reply_to") or {}).get("event_id"),
        replaces=replaces,
    )


def conversation(timeline: Iterable[Message]) -> list[Message]:
    """The messages of a timeline (oldest first) as a person sees them: edits folded
    into the message they edit (the newest edit by the original sender wins), in the
    original's place; an edit of a message not in the timeline is dropped."""
    shown: dict[str, Message] = {}
    for message in timeline:
        if message.replaces is None:
            shown.setdefault(message.event_id, message)
            continue
        original = shown.get(message.replaces)
        if original is not None and original.sender == message.sender:
            shown[original.event_id] = replace(original, body=message.body, edited=True)
    return list(shown.values())


class ChatUser:
    """A Matrix account driven through ``matrix-nio``; use it as ``async with``."""

    def __init__(self, homeserver: str, account: Account) -> None:
        self.user_id = account.user_id
        self._nio = AsyncClient(homeserver, account.user_id)
        self._nio.access_token = account.access_token

    async def __aenter__(self) -> ChatUser:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._nio.close()  # type: ignore[no-untyped-call]  # nio leaves it unannotated

    async def create_room(
        self, *, name: str, invite: Sequence[str] = (), alias: str | None = None
    ) -> str:
        """A new private room, this server only, with ``invite`` invited (and the local
        alias ``#<alias>:<server>`` if given); its room ID."""
        response = await self._nio.room_create(
            name=name, invite=invite, federate=False, alias=alias
        )
        return _ok(response, nio.RoomCreateResponse, f"creating room {name!r}").room_id

    async def invite(self, room_id: str, user_id: str) -> None:
        _ok(await self._nio.room_invite(room_id, user_id), nio.RoomInviteResponse, "inviting")

    async def join(self, room_id: str) -> None:
        _ok(await self._nio.join(room_id), nio.JoinResponse, f"joining {room_id}")

    async def invites(self) -> set[str]:
        """The rooms this user is invited to and has not joined, after a sync."""
        await self.sync(timeout=0)
        return set(self._nio.invited_rooms)

    async def wait_for_invite(self, room_id: str, *, timeout: float = 10.0) -> None:
        """Sync until the invite to ``room_id`` has arrived."""

        async def invited() -> bool | None:
            return True if room_id in self._nio.invited_rooms else None

        await self._until(invited, timeout)

    async def send_text(
        self, room_id: str, body: str, *, thread_root: str | None = None,
        reply_to: str | None = None,
    ) -> str:  # fmt: skip
        """Type ``body`` into the room (in the thread of ``thread_root`` and/or as a
        reply to ``reply_to`` if given); the new event's ID."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        relation: dict[str, Any] = {}
        if thread_root is not None:
            relation = {"rel_type": THREAD, "event_id": thread_root}
            relation |= {"is_falling_back": reply_to is None}
            relation |= {"m.in_reply_to": {"event_id": reply_to or thread_root}}
        elif reply_to is not None:
            relation = {"m.in_reply_to": {"event_id": reply_to}}
        if relation:
            content["m.relates_to"] = relation
        return await self._send(room_id, content)

    async def edit(self, room_id: str, event_id: str, body: str) -> str:
        """Replace the text of this user's message ``event_id`` (an ``m.replace``
        relation with the usual ``* `` fallback body); the edit's event ID."""
        content = {
            "msgtype": "m.text",
            "body": f"* {body}",
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": REPLACE, "event_id": event_id},
        }
        return await self._send(room_id, content)

    async def _send(self, room_id: str, content: dict[str, Any]) -> str:
        response = await self._nio.room_send(room_id, "m.room.message", content)
        return _ok(response, nio.RoomSendResponse, f"sending to {room_id}").event_id

    async def timeline(self, room_id: str, *, limit: int = 500) -> list[Message]:
        """The room's last ``limit`` messages, oldest first, edits as separate entries.
        Raises :class:`ChatError` (``M_FORBIDDEN``) if this user may not read the room."""
        events: list[dict[str, Any]] = []
        start: str | None = None
        while len(events) < limit:
            response = _ok(
                await self._nio.room_messages(room_id, start=start, limit=min(100, limit)),
                nio.RoomMessagesResponse,
                f"reading {room_id}",
            )
            events.extend(event.source for event in response.chunk)
            if not response.chunk or not response.end:
                break
            start = response.end
        messages = (message_from_event(event) for event in reversed(events[:limit]))
        return [message for message in messages if message is not None]

    async def conversation(self, room_id: str) -> list[Message]:
        """The room as this user's chat client shows it (see :func:`conversation`)."""
        return conversation(await self.timeline(room_id))

    async def thread(self, room_id: str, root: str) -> list[Message]:
        """The messages in the thread of ``root`` (the root not included), edits applied."""
        return [m for m in await self.conversation(room_id) if m.thread_root == root]

    async def wait_for(
        self, room_id: str, matches: Callable[[Message], bool], *, timeout: float = 10.0
    ) -> Message:
        """The first message of the room's conversation that ``matches``, waiting for
        new events (a long-polled sync) until ``timeout`` seconds have passed."""
        latest: list[Message] = []

        async def found() -> Message | None:
            latest[:] = await self.conversation(room_id)
            return next((m for m in latest if matches(m)), None)

        try:
            return await self._until(found, timeout)
        except TimeoutError:
            shown = "\n".join(f"  {m.sender}: {m.body!r}" for m in latest)
            raise TimeoutError(
                f"no matching message in {room_id} after {timeout}s; the room shows:\n{shown}"
            ) from None

    async def joined_rooms(self) -> set[str]:
        """The rooms this user has joined, after a sync."""
        await self.sync(timeout=0)
        return set(self._nio.rooms)

    async def sync(self, *, timeout: float) -> None:
        """One ``/sync``, long-polled for up to ``timeout`` seconds when nothing is new."""
        light = {"room": {"timeline": {"limit": 1}}}  # messages are read from the history
        response = await self._nio.sync(timeout=int(timeout * 1000), sync_filter=light)
        _ok(response, nio.SyncResponse, "syncing")

    async def _until(self, ready: Callable[[], Awaitable[T | None]], timeout: float) -> T:
        """``ready()``'s first answer other than ``None``; between tries, a sync that
        returns as soon as the server has anything new (the first one at once)."""
        deadline = time.monotonic() + timeout
        while True:
            result = await ready()
            if result is not None:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user_id}: nothing after {timeout}s")
            await self.sync(timeout=min(left, 1.0))


def _ok(response: object, expected: type[R], what: str) -> R:
    if isinstance(response, expected):
        return response
    if isinstance(response, nio.ErrorResponse):
        raise ChatError(what, response)
    raise ChatError(what, nio.ErrorResponse(f"unexpected {type(response).__name__}"))
