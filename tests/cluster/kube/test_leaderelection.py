"""Leader election with two electors in one process, on a real Lease."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from controller.kube.leaderelection import ElectionConfig, ElectionOutcome, LeaderElector
from controller.kube.lease import KubeLeaseLock, LeaseConflict, LeaseRecord, ObservedLease
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

FAST = ElectionConfig(lease_duration=2.0, renew_deadline=1.2, retry_period=0.2)


class CuttableLock:
    """A real Lease lock whose requests can be made to fail, as in a network partition."""

    def __init__(self, lock: KubeLeaseLock) -> None:
        self.lock = lock
        self.cut = False
        self.last_write_started = 0.0

    def _check(self) -> None:
        if self.cut:
            raise ConnectionError("partitioned from the API server")

    def get(self, *, timeout: float) -> ObservedLease | None:
        self._check()
        return self.lock.get(timeout=timeout)

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        self._check()
        started = time.monotonic()
        written = self.lock.create(record, timeout=timeout)
        self.last_write_started = started
        return written

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self._check()
        started = time.monotonic()
        written = self.lock.update(current, record, timeout=timeout)
        self.last_write_started = started
        return written


@dataclass
class Candidate:
    """An elector running in its own thread, with the times of its transitions."""

    elector: LeaderElector
    started_at: list[float] = field(default_factory=list)
    stopped_at: list[float] = field(default_factory=list)
    outcome: list[ElectionOutcome] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        def run() -> None:
            self.outcome.append(
                self.elector.run(
                    lambda: self.started_at.append(time.monotonic()),
                    lambda: self.stopped_at.append(time.monotonic()),
                )
            )

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.elector.stop()
        if self.thread is not None:
            self.thread.join(10)


@pytest.fixture
def candidates(kube: ClusterUnderTest, namespace: str) -> Iterator[list[Candidate]]:
    made: list[Candidate] = []
    yield made
    for candidate in made:
        candidate.stop()


def candidate(
    kube: ClusterUnderTest, namespace: str, identity: str, made: list[Candidate]
) -> tuple[Candidate, CuttableLock]:
    lock = CuttableLock(KubeLeaseLock(kube.api(), namespace=namespace, name="landing-gear"))
    result = Candidate(LeaderElector(lock, identity, config=FAST))
    made.append(result)
    return result, lock


def test_one_leader_at_a_time_and_a_release_hands_over_at_once(
    kube: ClusterUnderTest, namespace: str, candidates: list[Candidate]
) -> None:
    a, _ = candidate(kube, namespace, "a", candidates)
    b, _ = candidate(kube, namespace, "b", candidates)
    a.start()
    eventually(a.elector.is_leader.is_set, timeout=10, what="a leads")
    b.start()
    deadline = time.monotonic() + 1.5 * FAST.lease_duration
    while time.monotonic() < deadline:  # b campaigns in vain meanwhile
        assert not b.elector.is_leader.is_set()
        time.sleep(0.01)
    assert a.elector.is_leader.is_set()
    probe = KubeLeaseLock(kube.api(), namespace=namespace, name="landing-gear")
    assert probe.get(timeout=5).record.holder == "a"

    a.stop()
    assert a.outcome == [ElectionOutcome.STOPPED]
    released_at = a.stopped_at[0]
    eventually(b.elector.is_leader.is_set, timeout=10, what="b takes over")
    assert b.started_at[0] - released_at < FAST.lease_duration
    assert probe.get(timeout=5).record.holder == "b"
    assert probe.get(timeout=5).record.transitions == 1


def test_a_leader_that_stops_renewing_gives_up_before_the_other_takes_over(
    kube: ClusterUnderTest, namespace: str, candidates: list[Candidate]
) -> None:
    a, a_lock = candidate(kube, namespace, "a", candidates)
    b, _ = candidate(kube, namespace, "b", candidates)
    a.start()
    eventually(a.elector.is_leader.is_set, timeout=10, what="a leads")
    b.start()
    eventually(lambda: b.elector.leader == "a", timeout=10, what="b sees a lead")
    a_lock.cut = True
    eventually(b.elector.is_leader.is_set, timeout=15, what="b takes over")

    last_renewal = a_lock.last_write_started
    assert a.outcome == [ElectionOutcome.LOST]
    assert a.stopped_at[0] - last_renewal <= FAST.renew_deadline + 0.5
    assert a.stopped_at[0] < b.started_at[0]
    waited = b.started_at[0] - last_renewal
    assert waited >= FAST.lease_duration
    assert waited <= FAST.lease_duration + 2 * FAST.retry_period + 1.0


def test_the_lease_lock_rejects_stale_writes_and_whole_second_times(
    kube: ClusterUnderTest, namespace: str
) -> None:
    lock = KubeLeaseLock(kube.api(), namespace=namespace, name="lock-semantics")
    on_the_second = datetime(2030, 1, 1, tzinfo=UTC)  # microsecond == 0
    record = LeaseRecord(
        holder="a", lease_duration_seconds=15, acquire_time=on_the_second, renew_time=on_the_second
    )
    first = lock.create(record, timeout=5)
    assert first.record == record
    with pytest.raises(LeaseConflict):
        lock.create(record, timeout=5)
    second = lock.update(first, LeaseRecord(holder="b", lease_duration_seconds=15), timeout=5)
    with pytest.raises(LeaseConflict):
        lock.update(first, LeaseRecord(holder="c", lease_duration_seconds=15), timeout=5)
    assert lock.get(timeout=5) == second
    assert second.record.holder == "b"
