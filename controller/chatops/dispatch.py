"""Commands carried out after the ack: a bounded pool of workers, one reply per command.

Slack wants an answer within 3 s, and carrying out a command (a
SubjectAccessReview, a read, a guarded patch, an Event) may take longer when the
API server is slow. So the HTTP handler only verifies, parses and hands the
command to :class:`Dispatcher.submit`, which never blocks: it queues the command
for one of ``workers`` threads, or answers False when ``workers + queue``
commands are already running or waiting (the person is told the bot is busy).

A worker looks the sender up in the identities, asks the
:class:`~controller.chatops.acting.Actor` (which authorises the person, refuses
politely and leaves Warning Events), and posts the outcome to the request's
``response_url``: ``in_channel`` when a change was carried out, ``ephemeral``
otherwise. Nothing a worker meets escapes it: an unexpected error is logged and
answered as one.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import structlog

from controller.chatops.acting import Outcome
from controller.chatops.commands import Command
from controller.chatops.identities import Identity
from controller.chatops.slack.replies import Reply

__all__ = ["Acting", "Dispatcher", "Job", "Looking", "Replying", "reply_for"]

log = structlog.get_logger("landinggear.chatops")

STUCK_AFTER_SECONDS = 300.0
"""A command running longer than this is stuck (each API request is bounded far
below it): ``/healthz`` fails so the kubelet restarts the process."""


class Acting(Protocol):
    def act(self, command: Command, identity: Identity | None, *, who: str) -> Outcome: ...


class Looking(Protocol):
    def lookup(self, key: str) -> Identity | None: ...


class Replying(Protocol):
    def send(self, url: str, reply: Reply) -> bool: ...


class Job(Protocol):
    """What a worker needs of a request (a Slack :class:`~controller.chatops.slack.inbound.
    Inbound` is one)."""

    @property
    def identity_key(self) -> str: ...

    @property
    def who(self) -> str: ...

    @property
    def response_url(self) -> str: ...


def reply_for(command: Command, outcome: Outcome) -> Reply:
    """A change carried out is shown to the channel (with its reason); the rest to the asker."""
    visible = outcome.done and command.verb.changes
    text = outcome.text
    if visible and command.reason:
        text = f"{text}: {command.reason}"
    return Reply(text=text, visible=visible)


class Dispatcher:
    """Runs commands on a bounded pool; see the module docstring."""

    def __init__(
        self,
        *,
        actor: Acting,
        directory: Looking,
        responder: Replying,
        workers: int,
        queue: int,
    ) -> None:
        self.actor = actor
        self.directory = directory
        self.responder = responder
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatops")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._busy: dict[int, float] = {}
        self._lock = threading.Lock()

    def submit(self, job: Job, command: Command) -> bool:
        """Queue ``command`` for a worker; False (nothing queued) when the pool is full."""
        if not self._slots.acquire(blocking=False):
            log.warning("Refused a command: every worker is busy", who=job.who,
                        verb=command.verb.value, rollout=command.target)  # fmt: skip
            return False
        try:
            self._pool.submit(self._run, job, command)
        except RuntimeError:  # shutting down
            self._slots.release()
            return False
        return True

    def problems(self) -> list[str]:
        """Commands stuck for longer than :data:`STUCK_AFTER_SECONDS`."""
        now = time.monotonic()
        with self._lock:
            started = list(self._busy.values())
        return [f"a command has run for {now - s:.0f}s" for s in started
                if now - s > STUCK_AFTER_SECONDS]  # fmt: skip

    def shutdown(self, *, wait: bool = True) -> None:
        """Take no more commands; with ``wait``, finish those queued and running."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _run(self, job: Job, command: Command) -> None:
        me = threading.get_ident()
        with self._lock:
            self._busy[me] = time.monotonic()
        try:
            reply = self._carry_out(job, command)
            self.responder.send(job.response_url, reply)
        finally:
            with self._lock:
                self._busy.pop(me, None)
            self._slots.release()

    def _carry_out(self, job: Job, command: Command) -> Reply:
        log_ = log.bind(who=job.who, verb=command.verb.value, rollout=command.target)
        try:
            identity = self.directory.lookup(job.identity_key)
            outcome = self.actor.act(command, identity, who=job.who)
        except Exception:
            log_.exception("Failed to carry out a chat command")
            return Reply(
                text=f"Sorry, something went wrong while I tried to {command.verb.words} "
                f"{command.target}; check its status before trying again.",
                visible=False,
            )
        log_.info("Carried out a chat command" if outcome.done else "Refused a chat command",
                  user=identity.user if identity else None, answer=outcome.text)  # fmt: skip
        return reply_for(command, outcome)
