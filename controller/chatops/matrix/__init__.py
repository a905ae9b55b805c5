"""Matrix: the ``!landinggear`` bot and the release-note sink, over the client-server API.

- :mod:`~controller.chatops.matrix.api`: the few client-server calls (``httpx``);
- :mod:`~controller.chatops.matrix.messages` (pure): which events are commands,
  and the contents sent (thread answers, notes, edits);
- :mod:`~controller.chatops.matrix.bot`: the sync loop and its bounded workers;
- :mod:`~controller.chatops.matrix.sink`: :class:`~controller.chatops.notes.Sink`
  for one room.

Only unencrypted rooms: the bot reads and writes no end-to-end encrypted messages.
"""

from controller.chatops.matrix.api import MatrixApi, MatrixError
from controller.chatops.matrix.bot import MatrixBot
from controller.chatops.matrix.sink import MatrixSink

__all__ = ["MatrixApi", "MatrixBot", "MatrixError", "MatrixSink"]
