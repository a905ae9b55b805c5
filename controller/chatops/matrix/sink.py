"""Release notes in a Matrix room: one ``m.notice`` per release, edited in place.

:class:`MatrixSink` implements :class:`~controller.chatops.notes.Sink` for one
room: :meth:`~MatrixSink.post` sends the note (headline, lines, and the
``!landinggear <verb> <namespace>/<rollout>`` lines to type for its actions) and
returns the event id; :meth:`~MatrixSink.update` sends an edit of that event
(``m.new_content`` with an ``m.replace`` relation), which clients show as the
same message, changed.
"""

from __future__ import annotations

from typing import Protocol

from controller.chatops.matrix.messages import edit_content, note_content
from controller.chatops.notes import ReleaseNote

__all__ = ["MatrixSink"]


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
