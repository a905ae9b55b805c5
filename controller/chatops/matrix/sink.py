"""Release notes in a Matrix room: one ``m.notice`` per release, edited in place.

:class:`MatrixSink` implements :class:`~controller.chatops.notes.Sink` for one
room: :meth:`~MatrixSink.post` sends the note (headline, lines, and the
``!landinggear <verb> <namespace>/<rollout>`` lines to type for its actions) and
returns the event id; :meth:`~MatrixSink.update` sends an edit of that event
(``m.new_content`` with an ``m.replace`` relation), which clients show as the
same message, changed.
"""

from __future__ import annotations

import json
from typing import Protocol

from controller.chatops.matrix.messages import edit_content, note_content
from controller.chatops.notes import ReleaseNote

__all__ = ["MatrixRoomsSink", "MatrixSink"]


class Sending(Protocol):
    def send(self, room_id: str, content: dict[str, object]) -> str: ...


class MatrixSink:
    """Posts and edits release notes in the room ``room_id`` (the bot must have joined it)."""

    def __init__(self, api: Sending, room_id: str) -> None:
        self.api = api
        self.room_id = room_id
        self.name = f"matrix:{room_id}"

    def post(self, note: ReleaseNote) -> str:
        """Send ``note``; its event id. Raises :class:`~controller.chatops.matrix.api.
        MatrixError` on failure."""
        return self.api.send(self.room_id, note_content(note))

    def update(self, handle: str, note: ReleaseNote) -> None:
        """Edit the message ``handle`` (an event id from :meth:`post`) to show ``note``."""
        self.api.send(self.room_id, edit_content(handle, note_content(note)))


class Rooms(Protocol):
    @property
    def room_ids(self) -> frozenset[str]: ...


class MatrixRoomsSink:
    """The ``matrix`` destination: every room the bot reads, one message per room.

    Its handle is the JSON map of room id → event id; an update edits each. Until
    the bot has joined its rooms, :meth:`post` raises and the notifier retries."""

    name = "matrix"

    def __init__(self, api: Sending, rooms: Rooms) -> None:
        self.api = api
        self.rooms = rooms

    def post(self, note: ReleaseNote) -> str:
        rooms = sorted(self.rooms.room_ids)
        if not rooms:
            raise RuntimeError("the Matrix bot has not joined its rooms yet")
        return json.dumps({room: MatrixSink(self.api, room).post(note) for room in rooms})

    def update(self, handle: str, note: ReleaseNote) -> None:
        for room, event_id in json.loads(handle).items():
            MatrixSink(self.api, room).update(event_id, note)
