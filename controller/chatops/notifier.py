"""Watches Rollouts and keeps one message per release and destination up to date.

For each Rollout it sees (an :class:`~controller.kube.informer.Informer`'s add and
update, see :func:`watch`), the notifier computes the release's note
(:func:`~controller.chatops.narrate.note_for`), reads the destinations the
Rollout's ``landinggear.dev/notify`` annotation names
(:mod:`controller.chatops.destinations`) and, per (Rollout uid, revision,
destination), posts the message once, then updates it only when the note
changed. When a Rollout's release is replaced by a newer revision before it ended,
the old message gets its final words (superseded) and the new release a message
of its own. A message whose note is ``done`` is forgotten once delivered.

Each destination has a lane: its own thread delivering its own messages, so a
slow or failing destination delays only itself. A failed post or update is
retried with exponential backoff (``min_backoff`` doubling to ``max_backoff``);
meanwhile newer notes for that message replace the pending one (only the latest
is sent).

Handles live in memory only. After a restart the informer's first list shows
every Rollout again: a release still running (a canary present) gets a new
message, which is then updated as before; a release that already ended gets none
(its old message stays as it was last updated). So a restart during a release
leaves one stale message and starts a fresh one, and never re-posts old news.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from controller.chatops.destinations import destinations
from controller.chatops.narrate import note_for, superseded
from controller.chatops.notes import ReleaseNote, Sink
from controller.kube.objects import KubeObject

__all__ = ["Notifier"]

log = structlog.get_logger("landinggear.chatops.notify")


@dataclass
class _Message:
    """One release's message at one destination."""

    wanted: ReleaseNote
    sent: ReleaseNote | None = None
    handle: str | None = None
    failures: int = 0
    due: float = 0.0

    @property
    def pending(self) -> bool:
        return self.sent != self.wanted


class _Lane:
    """One destination's messages (guarded by the notifier's lock)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.messages: dict[tuple[str, str], _Message] = {}
        self.current: dict[str, str] = {}
        """Per Rollout uid: the revision of its newest message."""
        self.wake = threading.Event()

    def want(self, uid: str, note: ReleaseNote, *, running: bool, now: float) -> None:
        previous = self.current.get(uid)
        if previous is not None and previous != note.revision:
            self._supersede(uid, previous, by_revision=note.revision, now=now)
        message = self.messages.get((uid, note.revision))
        if message is None:
            if not running:
                return  # an ended release not seen running (a restart): old news
            self.messages[(uid, note.revision)] = _Message(wanted=note, due=now)
        elif message.wanted != note:
            message.wanted = note
            if not message.failures:
                message.due = now
        self.current[uid] = note.revision

    def _supersede(self, uid: str, revision: str, *, by_revision: str, now: float) -> None:
        old = self.messages.get((uid, revision))
        if old is None:
            return
        if old.handle is None or old.sent is None:
            del self.messages[(uid, revision)]  # never posted: nothing to close
            return
        old.wanted = superseded(old.sent, by_revision=by_revision)
        old.due = min(old.due, now) if not old.failures else old.due

    def forget(self, uid: str) -> None:
        for key in [k for k in self.messages if k[0] == uid]:
            del self.messages[key]
        self.current.pop(uid, None)


class Notifier:
    """See the module docstring. ``sinks``: destination key (``slack:deploys``) → sink."""

    def __init__(
        self,
        sinks: Mapping[str, Sink],
        *,
        clock: Callable[[], float] = time.monotonic,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
    ) -> None:
        self._lanes = {key: _Lane(sink) for key, sink in sinks.items()}
        self._clock = clock
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._lock = threading.Lock()
        self._warned: dict[str, tuple[str, ...]] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(self._lanes)

    # -- what the informer tells ---------------------------------------------------

    def observe(self, rollout: KubeObject) -> None:
        """A Rollout as it is now: queue its note for the destinations it names."""
        meta = rollout.get("metadata") or {}
        uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        named, bad = destinations(meta.get("annotations"))
        self._warn(uid, meta, named, bad)
        note = note_for(rollout)
        canary = (rollout.get("status") or {}).get("canaryRevision")
        now = self._clock()
        with self._lock:
            for key, lane in self._lanes.items():
                if key not in named:
                    lane.forget(uid)
                elif note is not None:
                    lane.want(uid, note, running=bool(canary) and canary == note.revision, now=now)
                    lane.wake.set()

    def forget(self, rollout: KubeObject) -> None:
        """The Rollout is gone: drop its messages (nothing more is sent)."""
        meta = rollout.get("metadata") or {}
        uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        with self._lock:
            for lane in self._lanes.values():
                lane.forget(uid)
            self._warned.pop(uid, None)

    def _warn(
        self, uid: str, meta: dict[str, object], named: tuple[str, ...], bad: tuple[str, ...]
    ) -> None:
        unknown = tuple(k for k in named if k not in self._lanes) + bad
        if unknown and self._warned.get(uid) != unknown:
            log.warning("Skipped notification destinations this process was not configured with",
                        namespace=meta.get("namespace"), rollout=meta.get("name"),
                        destinations=list(unknown), configured=list(self._lanes))  # fmt: skip
        self._warned[uid] = unknown

    # -- delivering ------------------------------------------------------------------

    def deliver(self, destination: str, *, now: float | None = None) -> float | None:
        """Send what is due at ``destination``; seconds until the next attempt is due
        (None: nothing pending). The lanes' threads call this; tests call it directly."""
        lane = self._lanes[destination]
        now = self._clock() if now is None else now
        with self._lock:
            due = [(k, m.wanted, m.handle) for k, m in lane.messages.items()
                   if m.pending and m.due <= now]  # fmt: skip
        for key, note, handle in due:
            self._send(lane, key, note, handle, now=now)
        with self._lock:
            waits = [max(0.0, m.due - now) for m in lane.messages.values() if m.pending]
        return min(waits) if waits else None

    def _send(
        self, lane: _Lane, key: tuple[str, str], note: ReleaseNote, handle: str | None, *,
        now: float,
    ) -> None:  # fmt: skip
        try:
            if handle is None:
                handle = lane.sink.post(note)
            else:
                lane.sink.update(handle, note)
        except Exception as err:  # any failure of a destination is retried, never fatal
            with self._lock:
                message = lane.messages.get(key)
                if message is not None:
                    message.failures += 1
                    backoff = self._min_backoff * 2 ** min(message.failures - 1, 30)
                    message.due = now + min(self._max_backoff, backoff)
                    log.warning(
                        "Failed to notify; retrying",
                        destination=lane.sink.name,
                        namespace=note.namespace,
                        rollout=note.rollout,
                        revision=note.revision,
                        failures=message.failures,
                        retry_in=round(message.due - now, 3),
                        error=repr(err)[:300],
                    )
            return
        with self._lock:
            message = lane.messages.get(key)
            if message is None:
                return
            message.sent, message.handle, message.failures = note, handle, 0
            if note.done and not message.pending:
                del lane.messages[key]
        log.info("Notified", destination=lane.sink.name, namespace=note.namespace,
                 rollout=note.rollout, revision=note.revision, headline=note.headline)  # fmt: skip

    # -- threads -----------------------------------------------------------------------

    def start(self) -> None:
        """One delivering thread per destination."""
        for key in self._lanes:
            thread = threading.Thread(target=self._run, args=(key,), name=f"notify-{key}",
                                      daemon=True)  # fmt: skip
            thread.start()
            self._threads.append(thread)

    def _run(self, destination: str) -> None:
        lane = self._lanes[destination]
        while not self._stopping.is_set():
            lane.wake.clear()
            wait = self.deliver(destination)
            lane.wake.wait(timeout=60.0 if wait is None else max(wait, 0.01))

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for lane in self._lanes.values():
            lane.wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads) and not self._stopping.is_set()
