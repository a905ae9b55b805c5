"""Events leave the reconcile's path: recorded at once, sent in order by one thread,
a failure or a hang of one never stops a reconcile, a flood is bounded.

The API is replaced by an in-memory sender (this tests the queueing; the cluster
tests read real Events back from the API server).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.api.reasons import EventReason, EventType
from controller.core.actions import Event
from controller.reconcile import events as events_module
from controller.reconcile.events import EventRecorder

ROLLOUT = {
    "apiVersion": "landinggear.dev/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "7"},
}


def event(message: str) -> Event:
    return Event(type=EventType.NORMAL, reason=EventReason.STEP_STARTED, message=message)


class Sender:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on: set[str] = set()

    def __call__(self, api: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        assert (method, path) == ("POST", "/apis/events.k8s.io/v1/namespaces/shop/events")
        self.gate.wait(10)
        note = kwargs["body"]["note"]
        if note in self.fail_on:
            raise ApiException(status=403, reason="Forbidden")
        self.sent.append(note)
        return {}


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> Sender:
    fake = Sender()
    monkeypatch.setattr(events_module, "request_json", fake)
    return fake


def recorder(**kwargs: Any) -> EventRecorder:
    return EventRecorder(object(), lambda: datetime(2026, 1, 1, tzinfo=UTC), **kwargs)  # type: ignore[arg-type]


def test_events_are_sent_in_the_order_recorded_and_a_failure_stops_none(sender: Sender) -> None:
    events = recorder()
    sender.fail_on = {"e3"}
    for index in range(10):
        events.record(ROLLOUT, event(f"e{index}"))
    assert events.flush(timeout=5)
    assert sender.sent == [f"e{i}" for i in range(10) if i != 3]
    events.close(timeout=1)


def test_recording_does_not_wait_for_a_server_that_hangs(sender: Sender) -> None:
    events = recorder()
    sender.gate.clear()  # the API server holds every request
    started = time.monotonic()
    for index in range(50):
        events.record(ROLLOUT, event(f"e{index}"))
    assert time.monotonic() - started < 1.0
    assert not events.flush(timeout=0.2)
    sender.gate.set()
    assert events.flush(timeout=5)
    assert len(sender.sent) == 50
    events.close(timeout=1)


def test_a_flood_beyond_the_limit_is_dropped_not_queued_forever(sender: Sender) -> None:
    events = recorder(limit=5)
    sender.gate.clear()
    for index in range(20):
        events.record(ROLLOUT, event(f"e{index}"))
    # One may be in the sender's hands already; the queue holds five more at most.
    assert 14 <= events.dropped <= 15
    sender.gate.set()
    assert events.flush(timeout=5)
    numbers = [int(note[1:]) for note in sender.sent]
    assert numbers == sorted(numbers)
    assert len(numbers) + events.dropped == 20
    events.close(timeout=1)


def test_close_sends_what_is_queued_then_stops_the_sender(sender: Sender) -> None:
    events = recorder()
    for index in range(5):
        events.record(ROLLOUT, event(f"e{index}"))
    thread = events._sender
    assert thread is not None
    events.close(timeout=5)
    assert sender.sent == [f"e{i}" for i in range(5)]
    assert not thread.is_alive()
