"""The Matrix bot: reads ``!landinggear`` commands in its rooms, answers in a thread.

One daemon thread runs the sync loop:

1. ``whoami`` (the bot's own user id, so its own messages are never read as
   commands), then each configured room is resolved (an alias) and joined; a room
   that refuses the join (not invited yet) is joined when its invite arrives.
   Invites to any other room are left pending, never accepted.
2. A first ``/sync`` without waiting: its ``next_batch`` is where reading starts.
   Its timeline is history, so nothing typed before the bot started (or while it
   was down) is carried out late; the sync token lives in memory only, on purpose.
   Likewise, in a room joined later (an invite accepted), only what follows the
   bot's own join counts.
3. Long-polled ``/sync`` from that token, for ever: command messages in the
   configured rooms (see :func:`~controller.chatops.matrix.messages.commands_in`)
   are parsed; words that are not a command are answered with the usage; a command
   goes to a bounded pool of ``workers`` threads (``workers + queue`` at most in
   flight; beyond that the answer is "busy"), so a slow API server never holds up
   reading. Failures are logged and retried with a capped exponential backoff.

A worker looks the sender up (:func:`~controller.chatops.identities.matrix_key`),
asks the Actor (``who`` is ``matrix:<sender>``; an unmapped sender gets identity
None, which the Actor refuses politely) and answers in a thread on the command.
Each event is handled once: the sync token moves past it, and the ids of the
last few thousand handled events are remembered against a repeated delivery.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from controller.chatops.commands import MATRIX_PREFIX, Command, Refusal, parse
from controller.chatops.dispatch import Acting, Looking, reply_for
from controller.chatops.identities import matrix_key
from controller.chatops.matrix.api import MatrixApi, MatrixError
from controller.chatops.matrix.messages import (
    FILTER,
    Incoming,
    commands_in,
    invites_in,
    joined_in,
    thread_reply,
    timeline_limited,
)
from controller.chatops.matrix.sink import MatrixSink

__all__ = ["BUSY", "MatrixBot"]

log = structlog.get_logger("landinggear.chatops.matrix")

BUSY = "Sorry, I am busy with other commands right now and did not start this one; try again."
STUCK_AFTER_SECONDS = 300.0
_REMEMBERED = 4096
_MAX_BACKOFF = 30.0


class MatrixBot:
    """The sync loop and its workers; see the module docstring."""

    def __init__(
        self,
        api: MatrixApi,
        *,
        rooms: Sequence[str],
        actor: Acting,
        directory: Looking,
        workers: int,
        queue: int,
        poll: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.configured = tuple(rooms)
        self.actor = actor
        self.directory = directory
        self.poll = poll
        self.clock = clock
        self.user_id: str | None = None
        self.room_ids: frozenset[str] = frozenset()
        self._reading: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matrix")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._busy: dict[int, float] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._last_sync = clock()
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the sync loop in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="matrix-sync", daemon=True)
        self._thread.start()

    def stop(self, *, wait: bool = True) -> None:
        """Stop reading; with ``wait``, finish (and answer) the commands already taken."""
        self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        if self._thread is not None:
            self._thread.join(timeout=1.0)  # a long poll in flight ends with the client
        self.api.close()

    def ready(self) -> bool:
        """Whether the rooms are joined and the first sync is done (reading has started)."""
        return self._synced.is_set()

    def problems(self) -> list[str]:
        """What makes the bot unhealthy: a dead loop, no sync for long, a stuck command."""
        now = self.clock()
        found = []
        if self._thread is not None and not self._thread.is_alive():
            found.append("the Matrix sync loop is not running")
        if now - self._last_sync > max(4 * self.poll, 120.0):
            found.append(f"no Matrix sync for {now - self._last_sync:.0f}s")
        with self._lock:
            started = list(self._busy.values())
        found += [f"a Matrix command has run for {now - s:.0f}s" for s in started
                  if now - s > STUCK_AFTER_SECONDS]  # fmt: skip
        return found

    def sinks(self) -> list[MatrixSink]:
        """A release-note sink per configured room (after :meth:`ready`)."""
        return [MatrixSink(self.api, room_id) for room_id in sorted(self.room_ids)]

    # the sync loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        since: str | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                if self.user_id is None:
                    self.user_id = self.api.whoami()
                    log.info("Signed in to Matrix", user=self.user_id,
                             homeserver=self.api.homeserver)  # fmt: skip
                if not self.room_ids:
                    self.room_ids = self._join_rooms()
                since = self._first_sync() if since is None else self._sync(since)
                failures = 0
                self._last_sync = self.clock()
            except Exception as err:
                if self._stopping.is_set():
                    return
                failures += 1
                backoff = min(_MAX_BACKOFF, 0.5 * 2 ** min(failures, 8))
                log.warning("Matrix request failed; retrying", error=str(err),
                            failures=failures, retry_in=backoff)  # fmt: skip
                self._stopping.wait(backoff)

    def _join_rooms(self) -> frozenset[str]:
        """The configured rooms' ids (aliases resolved), each joined if it lets us in."""
        ids = set()
        for room in self.configured:
            room_id = self.api.resolve(room) if room.startswith("#") else room
            try:
                self.api.join(room_id)
                log.info("Joined a Matrix room", room=room, room_id=room_id)
            except MatrixError as err:
                if err.status == 0 or err.status >= 500:
                    raise
                log.warning("Could not join a Matrix room yet; waiting for an invite",
                            room=room, room_id=room_id, error=str(err))  # fmt: skip
            ids.add(room_id)
        return frozenset(ids)

    def _first_sync(self) -> str:
        body = self.api.sync(since=None, timeout=0, sync_filter=FILTER)
        self._reading = joined_in(body, rooms=self.room_ids)
        self._accept_invites(body)
        self._synced.set()
        log.info("Reading Matrix commands", rooms=sorted(self.room_ids))
        return str(body["next_batch"])

    def _sync(self, since: str) -> str:
        body = self.api.sync(since=since, timeout=self.poll, sync_filter=FILTER)
        self._accept_invites(body)
        for room_id in timeline_limited(body, rooms=self.room_ids):
            log.warning("Skipped Matrix messages: too many at once", room_id=room_id)
        found = commands_in(body, rooms=self.room_ids, me=self.user_id or "", known=self._reading)
        for incoming in list(found):
            if self._first_time(incoming.event_id):
                self._take(incoming)
        self._reading |= joined_in(body, rooms=self.room_ids)
        return str(body["next_batch"])

    def _accept_invites(self, body: dict[str, Any]) -> None:
        for room_id in invites_in(body, rooms=self.room_ids):
            try:
                self.api.join(room_id)
                log.info("Accepted an invite to a Matrix room", room_id=room_id)
            except MatrixError as err:
                log.warning("Could not accept an invite", room_id=room_id, error=str(err))

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return True

    # commands --------------------------------------------------------------------------------

    def _take(self, incoming: Incoming) -> None:
        """Hand a command to a worker (never waits for one); the usage for other words."""
        asked = parse(incoming.body, prefix=MATRIX_PREFIX)
        if not self._slots.acquire(blocking=False):
            log.warning("Refused a Matrix command: every worker is busy", who=incoming.sender)
            self._answer(incoming, BUSY)
            return
        try:
            self._pool.submit(self._work, incoming, asked)
        except RuntimeError:  # shutting down
            self._slots.release()

    def _work(self, incoming: Incoming, asked: Command | Refusal) -> None:
        me = threading.get_ident()
        with self._lock:
            self._busy[me] = self.clock()
        try:
            text = asked.message if isinstance(asked, Refusal) else self._carry_out(incoming, asked)
            self._answer(incoming, text)
        finally:
            with self._lock:
                self._busy.pop(me, None)
            self._slots.release()

    def _carry_out(self, incoming: Incoming, command: Command) -> str:
        who = f"matrix:{incoming.sender}"
        log_ = log.bind(who=who, verb=command.verb.value, rollout=command.target)
        try:
            key = matrix_key(incoming.sender)
            identity = self.directory.lookup(key) if key is not None else None
            outcome = self.actor.act(command, identity, who=who)
        except Exception:
            log_.exception("Failed to carry out a chat command")
            return (
                f"Sorry, something went wrong while I tried to {command.verb.words} "
                f"{command.target}; check its status before trying again."
            )
        log_.info("Carried out a chat command" if outcome.done else "Refused a chat command",
                  user=identity.user if identity else None, answer=outcome.text)  # fmt: skip
        return reply_for(command, outcome).text

    def _answer(self, incoming: Incoming, text: str) -> None:
        try:
            self.api.send(incoming.room_id, thread_reply(incoming, text))
        except MatrixError as err:
            log.warning("Failed to answer in Matrix", room_id=incoming.room_id,
                        event_id=incoming.event_id, error=str(err))  # fmt: skip
