"""Kubernetes Events on Rollouts (``events.k8s.io/v1``), recorded on transitions only,
sent in order by a thread of their own."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from kubernetes.client import ApiClient

from controller.core.actions import Event
from controller.kube.errors import describe
from controller.kube.transport import Resource, request_json

EVENTS = Resource(group="events.k8s.io", version="v1", plural="events")
REPORTING_CONTROLLER = "landinggear.dev/controller"

log = structlog.get_logger("landinggear.events")

QUEUE_LIMIT = 1000
"""Events waiting to be sent at most; more are dropped (the status keeps the record)."""


def event_body(
    *, regarding: dict[str, Any], event: Event, now: datetime, instance: str, action: str
) -> dict[str, Any]:
    meta = regarding["metadata"]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
            "namespace": meta["namespace"],
        },
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance[:128],
        "action": action[:128],
        "reason": event.reason[:128],
        "note": event.message[:1024],
        "type": event.type,
        "regarding": {
            "apiVersion": regarding.get("apiVersion", ""),
            "kind": regarding.get("kind", ""),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
    }


class EventRecorder:
    """Best effort and off the reconcile's path: an Event is queued and one thread sends
    them in order, so a reconcile waits for its status and workload writes only. A
    failed Event is logged, never fails the reconcile; past :data:`QUEUE_LIMIT`
    waiting Events, new ones are dropped (logged)."""

    def __init__(
        self, api: ApiClient, clock: Callable[[], datetime], *, limit: int = QUEUE_LIMIT
    ) -> None:
        self.api = api
        self.clock = clock
        self.instance = socket.gethostname()
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=limit)
        self._lock = threading.Lock()
        self._sent = threading.Condition(self._lock)
        self._unsent = 0
        """Events queued and not yet sent (or failed): what :meth:`flush` waits for."""
        self._sender: threading.Thread | None = None

    def record(self, regarding: dict[str, Any], event: Event) -> None:
        body = event_body(
            regarding=regarding,
            event=event,
            now=self.clock(),
            instance=self.instance,
            action="Reconcile",
        )
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_all, name="events", daemon=True)
                self._sender.start()
            try:  # under the lock: a flush sees every queued Event counted
                self._queue.put_nowait(body)
                self._unsent += 1
                return
            except queue.Full:
                self.dropped += 1  # workers record concurrently
                dropped = self.dropped
        log.warning("Dropped event: too many waiting", reason=event.reason,
                    waiting=self._queue.qsize(), dropped=dropped)  # fmt: skip

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued Event to be sent (or fail)."""
        with self._sent:
            return self._sent.wait_for(lambda: not self._unsent, timeout)

    def close(self, timeout: float) -> None:
        """Send what is queued, then stop the sender: ``timeout`` seconds in all (a sender
        still blocked then is a daemon thread, left to the process' exit)."""
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            sender.join(max(0.0, deadline - time.monotonic()))

    def _send_all(self) -> None:
        while (body := self._queue.get()) is not None:
            try:
                self._send(body)
            finally:
                with self._sent:
                    self._unsent -= 1
                    self._sent.notify_all()

    def _send(self, body: dict[str, Any]) -> None:
        try:
            request_json(
                self.api,
                "POST",
                EVENTS.collection_path(body["metadata"]["namespace"]),
                body=body,
                timeout=(5.0, 10.0),
            )
        except Exception as err:  # a refused write (fenced, 4xx) or a dead connection alike
            log.warning("Failed to record event", reason=body["reason"], error=describe(err))
