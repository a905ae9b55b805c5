"""``watch``: follow a Rollout, its ReplicaSets and its Events, redrawing on each change.

One thread per watch lists, then watches from the list's resourceVersion, and
lists again when the watch ends or expires; it feeds :class:`~controller.cli.frame.Update`
values to the main thread, which folds them into a :class:`WatchState` and redraws.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from datetime import UTC, datetime

from controller.cli import api
from controller.cli.errors import CliError, api_failure
from controller.cli.frame import Feed, Update, WatchState, frame, outcome
from controller.cli.session import Session
from controller.cli.transport import LineStream, StreamRefused, Unreachable
from controller.core.revisions import ROLLOUT_LABEL
from controller.kube.objects import KubeObject
from controller.kube.resources import Resource

__all__ = ["watch"]

_CORE_EVENTS = Resource(group="", version="v1", plural="events")
_WATCH_SECONDS = 50
_RETRY_SECONDS = 1.0
_CLEAR_SCREEN = "\x1b[H\x1b[2J"


class _Pump(threading.Thread):
    """Lists and watches one resource type forever, putting what it sees on ``out``."""

    def __init__(
        self,
        feed: Feed,
        session: Session,
        resource: Resource,
        selectors: list[tuple[str, str]],
        out: queue.Queue[Update],
    ) -> None:
        super().__init__(name=f"watch-{feed}", daemon=True)
        self.feed: Feed = feed
        self.session = session
        self.path = resource.collection_path(session.namespace)
        self.selectors = selectors
        self.out = out
        self.stopped = threading.Event()
        self.stream: LineStream | None = None

    def stop(self) -> None:
        self.stopped.set()
        if self.stream is not None:
            self.stream.close()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self._list_and_watch()
            except CliError as err:
                self.out.put(Update(feed=self.feed, kind="FAILED", message=err.message))
                return
            except StreamRefused as err:
                failure = api_failure(err.answer.status, err.answer.reason, err.answer.body)
                self.out.put(Update(feed=self.feed, kind="FAILED", message=failure.message))
                return
            except Unreachable as err:
                message = api.unreachable(self.session, err).message
                self.out.put(Update(feed=self.feed, kind="FAILED", message=message))
                self.stopped.wait(_RETRY_SECONDS)

    def _list_and_watch(self) -> None:
        items: list[KubeObject] = []
        token, version = "", ""
        while True:
            query = [*self.selectors, ("limit", "500"), *([("continue", token)] if token else [])]
            page = api.send(self.session, "GET", self.path, query=query) or {}
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or "")
            token = str(metadata.get("continue") or "")
            if not token:
                break
        self.out.put(Update(feed=self.feed, kind="SYNC", objects=tuple(items)))
        query = [
            *self.selectors,
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", str(_WATCH_SECONDS)),
        ]
        self.stream = self.session.api.stream(
            self.path, query=query, read_timeout=_WATCH_SECONDS + 30
        )
        for line in self.stream:
            if not line.strip():
                continue
            event = json.loads(line)
            kind = event.get("type")
            if self.stopped.is_set() or kind == "ERROR":  # ERROR: expired; list again
                return
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                obj = event.get("object") or {}
                self.out.put(Update(feed=self.feed, kind=kind, objects=(obj,)))


def _pumps(session: Session, name: str, out: queue.Queue[Update]) -> list[_Pump]:
    return [
        _Pump("rollout", session, api.ROLLOUTS, [("fieldSelector", f"metadata.name={name}")], out),
        _Pump(
            "replicasets",
            session,
            api.REPLICA_SETS,
            [("labelSelector", f"{ROLLOUT_LABEL}={name}")],
            out,
        ),
        _Pump("events", session, _CORE_EVENTS, [], out),
    ]


def watch(session: Session, name: str, *, until_done: bool, timeout: float | None) -> int:
    """Redraw until Ctrl-C; with ``until_done``, exit 0 on success and 3 when Degraded.

    ``--request-timeout`` bounds each list and the wait for each watch to open; an open
    watch may stay silent up to its server-side timeout."""
    state = WatchState(name=name, rollout=api.get_rollout(session, name))
    updates: queue.Queue[Update] = queue.Queue()
    pumps = _pumps(session, name, updates)
    for pump in pumps:
        pump.start()
    interactive = sys.stdout.isatty()
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = ""
    key = f"{session.namespace}/{name}"
    try:
        while True:
            text = frame(state, datetime.now(UTC))
            if text != shown:
                print((_CLEAR_SCREEN if interactive else "") + text + ("" if interactive else "\n"))
                sys.stdout.flush()
                shown = text
            if state.deleted:
                raise CliError(f"rollout {key} was deleted")
            if "rollout" in state.problems and not pumps[0].is_alive():
                raise CliError(state.problems["rollout"])
            if until_done and state.rollout and (code := outcome(state.rollout)) is not None:
                return code
            _next_updates(state, updates, deadline, key)
    except KeyboardInterrupt:
        return 130 if until_done else 0
    finally:
        for pump in pumps:
            pump.stop()


def _next_updates(
    state: WatchState, updates: queue.Queue[Update], deadline: float | None, key: str
) -> None:
    """Wait for at least one update and apply it with any already queued behind it."""
    while True:
        wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
        if wait <= 0:
            raise CliError(f"timed out watching rollout {key}")
        try:
            state.apply(updates.get(timeout=wait))
            break
        except queue.Empty:
            continue
    with contextlib.suppress(queue.Empty):
        while True:
            state.apply(updates.get_nowait())
