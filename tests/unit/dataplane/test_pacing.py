"""Request pacing: steady slots, skipped (not burst) when the caller falls behind."""

from __future__ import annotations

import itertools
import threading

import pytest

from e2e.dataplane.pacing import Pacer


class FakeTime(threading.Event):
    """A clock that moves only when the pacer waits (or the test says so)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        self.now += timeout or 0.0
        return self.is_set()


def test_slots_are_evenly_spaced_from_the_start_until_the_duration_ends() -> None:
    time = FakeTime()
    pacer = Pacer(10, duration=1.0, clock=time.clock)
    due = [round(time.now - 100.0, 6) for _ in pacer.slots(time)]
    assert due == pytest.approx([i / 10 for i in range(10)])


def test_a_caller_far_behind_skips_the_missed_slots_instead_of_bursting() -> None:
    time = FakeTime()
    pacer = Pacer(10, duration=3.0, clock=time.clock)
    sent = []
    for _ in pacer.slots(time):
        sent.append(round(time.now - 100.0, 6))
        if len(sent) == 2:
            time.now += 1.0  # the caller stalled for a second
    # 0.9 s of slots were missed: all but those within MAX_LAG are skipped
    assert pacer.skipped in (8, 9)
    assert len(sent) == 30 - pacer.skipped
    assert sent.count(sent[2]) <= 1 + 0.25 * 10  # what is sent late is at most MAX_LAG's worth
    assert sent[-1] - sent[-2] == pytest.approx(0.1)


def test_a_new_rate_applies_from_the_moment_it_is_set() -> None:
    time = FakeTime()
    pacer = Pacer(10, clock=time.clock)
    sent = []
    for _ in pacer.slots(time):
        sent.append(time.now - 100.0)
        if len(sent) == 3:
            pacer.set_rate(2)
        if len(sent) == 5:
            time.set()
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sent)]
    assert gaps == [0.1, 0.1, 0.0, 0.5]


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
