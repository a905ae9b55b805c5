"""Leader election decisions with a fake clock and an in-memory Lease."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from controller.kube.leaderelection import ElectionConfig, ElectionOutcome, LeaderElector
from controller.kube.lease import LeaseRecord, ObservedLease, format_micro_time
from tests.unit.kube.fakes import FakeClock, FakeLeaseLock

CONFIG = ElectionConfig(lease_duration=15, renew_deadline=10, retry_period=2)


def elector(
    lock: FakeLeaseLock, identity: str, clock: FakeClock, **kwargs: object
) -> LeaderElector:
    return LeaderElector(lock, identity, config=CONFIG, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_a_candidate_takes_a_lease_that_does_not_exist() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    assert elector(lock, "a", clock).try_acquire_or_renew()
    assert lock.holder == "a"
    assert lock.lease.record.lease_duration_seconds == 15
    assert lock.lease.record.transitions == 0


def test_a_held_lease_is_taken_only_after_lease_duration_of_observed_silence() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b first sees a's record now
    clock.advance(14.9)
    assert not b.try_acquire_or_renew()
    clock.advance(0.1)
    assert b.try_acquire_or_renew()
    assert lock.holder == "b"
    assert lock.lease.record.transitions == 1


def test_each_renewal_restarts_the_others_wait() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    a.try_acquire_or_renew()
    for _ in range(20):
        assert not b.try_acquire_or_renew()
        clock.advance(10)
        assert a.try_acquire_or_renew()
    assert lock.holder == "a"
    assert b.leader == "a"


def test_expiry_is_judged_by_local_observation_not_by_the_recorded_times() -> None:
    # A holder whose clock is far behind wrote a renewTime from 1970: a candidate
    # that compared clocks would take over at once; it must wait lease_duration.
    clock, lock = FakeClock(), FakeLeaseLock()
    ancient = datetime(1970, 1, 1, tzinfo=UTC)
    lock.lease = ObservedLease(
        LeaseRecord(
            holder="skewed", lease_duration_seconds=15, acquire_time=ancient, renew_time=ancient
        ),
        "1",
    )
    b = elector(lock, "b", clock)
    assert not b.try_acquire_or_renew()
    clock.advance(15)
    assert b.try_acquire_or_renew()


def test_the_holders_lease_duration_is_the_one_waited_for() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    lock.lease = ObservedLease(LeaseRecord(holder="x", lease_duration_seconds=60), "1")
    b = elector(lock, "b", clock)
    assert not b.try_acquire_or_renew()
    clock.advance(59)
    assert not b.try_acquire_or_renew()
    clock.advance(1)
    assert b.try_acquire_or_renew()


def test_a_released_lease_is_taken_at_once() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release()
    assert lock.holder == ""
    assert lock.lease.record.lease_duration_seconds == 1
    assert b.try_acquire_or_renew()
    assert lock.holder == "b"


class TimedLock(FakeLeaseLock):
    """Records the timeout each update was given."""

    def __init__(self) -> None:
        super().__init__()
        self.update_timeouts: list[float] = []

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self.update_timeouts.append(timeout)
        return super().update(current, record, timeout=timeout)


@pytest.mark.parametrize(
    ("by_in", "expected"), [(None, 10.0), (30.0, 10.0), (3.5, 3.5), (-2.0, 0.1)]
)
def test_a_release_asked_to_be_done_by_a_time_gives_up_by_then(
    by_in: float | None, expected: float
) -> None:
    """SIGTERM leaves the process a few seconds: the release request must not take the
    renew deadline against an API server that no longer answers."""
    clock, lock = FakeClock(), TimedLock()
    a = elector(lock, "a", clock)
    a.try_acquire_or_renew()
    a.stop(by=None if by_in is None else clock() + by_in)
    assert a.release()
    assert lock.update_timeouts[-1] == pytest.approx(expected)
    a.rearm()  # led again later: no leftover bound
    a.try_acquire_or_renew()
    assert a.release()
    assert lock.update_timeouts[-1] == pytest.approx(10.0)


def test_release_by_a_non_holder_changes_nothing() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    assert not b.release()
    assert lock.holder == "a"


def test_of_two_candidates_racing_for_one_round_only_one_wins() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    lock.lease = ObservedLease(LeaseRecord(holder="", lease_duration_seconds=1), "1")
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    results: dict[str, bool] = {}
    # a reads the free lease; before a writes, b reads the same version and writes first.
    lock.before_update = lambda: results.setdefault("b", b.try_acquire_or_renew())
    results["a"] = a.try_acquire_or_renew()
    assert results == {"b": True, "a": False}
    assert lock.holder == "b"


def test_renewal_keeps_acquire_time_and_transitions() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    times = iter(datetime(2030, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(10))
    a = elector(lock, "a", clock, now=lambda: next(times))
    a.try_acquire_or_renew()
    first = lock.lease.record
    clock.advance(2)
    a.try_acquire_or_renew()
    renewed = lock.lease.record
    assert renewed.acquire_time == first.acquire_time
    assert renewed.renew_time > first.renew_time  # type: ignore[operator]
    assert renewed.transitions == first.transitions


class Partitioned:
    """One elector's view of the shared Lease, which can be cut off from the API server."""

    def __init__(self, lock: FakeLeaseLock, clock: FakeClock) -> None:
        self.lock = lock
        self.clock = clock
        self.cut = False
        self.successful_writes: list[float] = []

    def get(self, *, timeout: float) -> ObservedLease | None:
        if self.cut:
            raise ConnectionError("partitioned")
        return self.lock.get(timeout=timeout)

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        raise AssertionError("the Lease exists in this test")

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        if self.cut:
            raise ConnectionError("partitioned")
        written: ObservedLease = self.lock.update(current, record, timeout=timeout)
        self.successful_writes.append(self.clock.now)
        return written


def test_a_leader_that_cannot_renew_stops_before_a_rival_takes_over() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    lock.lease = ObservedLease(LeaseRecord(holder="", lease_duration_seconds=1), "1")
    view = Partitioned(lock, clock)
    rival = elector(lock, "b", clock)
    rival_led_at: list[float] = []

    def sleep(seconds: float) -> None:
        # While "a" waits, time passes and the rival polls every retry period.
        clock.sleep(seconds)
        if len(view.successful_writes) == 4:  # acquired and renewed three times
            view.cut = True
        if rival.try_acquire_or_renew():
            rival_led_at.append(clock.now)

    a = LeaderElector(view, "a", config=CONFIG, clock=clock, sleep=sleep)
    stopped_at: list[float] = []
    outcome = a.run(lambda: None, lambda: stopped_at.append(clock.now))
    assert outcome is ElectionOutcome.LOST
    assert not a.is_leader.is_set()
    last_renewal = view.successful_writes[-1]
    assert stopped_at[0] <= last_renewal + CONFIG.renew_deadline
    while not rival_led_at:
        clock.sleep(CONFIG.retry_period)
        if rival.try_acquire_or_renew():
            rival_led_at.append(clock.now)
    assert rival_led_at[0] >= last_renewal + CONFIG.lease_duration
    assert stopped_at[0] < rival_led_at[0]


def test_a_leader_that_sees_another_holder_stops_at_once() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a = elector(lock, "a", clock, sleep=clock.sleep)
    stopped_at: list[float] = []

    def usurp() -> None:
        lock.lease = ObservedLease(replace(lock.lease.record, holder="intruder"), "999")

    a_started = {"at": 0.0}

    def started() -> None:
        a_started["at"] = clock.now
        usurp()

    outcome = a.run(started, lambda: stopped_at.append(clock.now))
    assert outcome is ElectionOutcome.LOST
    assert stopped_at[0] - a_started["at"] <= CONFIG.retry_period


def test_stop_stops_the_work_first_then_releases_the_lease() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    order: list[str] = []
    renewals = {"n": 0}

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        renewals["n"] += 1
        if renewals["n"] == 5:
            a.stop()

    a = elector(lock, "a", clock, sleep=sleep)
    outcome = a.run(
        lambda: order.append("started"),
        lambda: order.append(f"stopped while holder={lock.holder!r}"),
    )
    assert outcome is ElectionOutcome.STOPPED
    assert order == ["started", "stopped while holder='a'"]
    assert lock.holder == ""
    assert not a.is_leader.is_set()


def test_observing_a_lease_tells_its_holder_until_it_expires_and_takes_nothing() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a, b = elector(lock, "a", clock), elector(lock, "b", clock)
    assert b.observe(timeout=1) == ""  # no Lease yet
    a.try_acquire_or_renew()
    assert b.observe(timeout=1) == "a"
    clock.advance(14.9)
    assert b.observe(timeout=1) == "a"
    clock.advance(0.1)
    assert b.observe(timeout=1) == ""  # expired by b's observation
    assert lock.holder == "a"
    assert b.try_acquire_or_renew()  # and taking it agrees


def test_a_stopped_elector_rearmed_leads_again() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    electors: list[LeaderElector] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        electors[0].stop()

    a = elector(lock, "a", clock, sleep=sleep)
    electors.append(a)
    for _ in range(2):
        assert a.try_acquire_or_renew()
        assert a.lead(lambda: None, lambda: None) is ElectionOutcome.STOPPED
        assert lock.holder == ""  # released
        a.rearm()


def test_a_candidate_keeps_trying_every_retry_period_until_the_lease_is_free() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    a = elector(lock, "a", clock)
    a.try_acquire_or_renew()
    b = elector(lock, "b", clock, sleep=clock.sleep)
    started_at: list[float] = []
    start = clock.now

    def started() -> None:
        started_at.append(clock.now)
        b.stop()

    b.run(started, lambda: None)
    assert start + 15 <= started_at[0] <= start + 15 + CONFIG.retry_period
    assert set(clock.sleeps) == {CONFIG.retry_period}


def test_stop_while_campaigning_returns_without_leading() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    elector(lock, "a", clock).try_acquire_or_renew()
    electors: list[LeaderElector] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        electors[0].stop()

    b = elector(lock, "b", clock, sleep=sleep)
    electors.append(b)
    assert b.run(lambda: pytest.fail("must not lead"), lambda: None) is ElectionOutcome.STOPPED
    assert lock.holder == "a"
    assert clock.sleeps == [CONFIG.retry_period]


def test_errors_reading_the_lease_count_as_a_lost_round() -> None:
    clock, lock = FakeClock(), FakeLeaseLock()
    lock.failing = True
    assert not elector(lock, "a", clock).try_acquire_or_renew()


@pytest.mark.parametrize(
    "config",
    [
        {"lease_duration": 10, "renew_deadline": 10, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 2, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 10, "retry_period": 0},
    ],
)
def test_timings_must_nest(config: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        ElectionConfig(**config)  # type: ignore[arg-type]


def test_micro_time_always_has_six_fractional_digits() -> None:
    whole_second = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_micro_time(whole_second) == "2030-01-02T03:04:05.000000Z"


class SilentLock(FakeLeaseLock):
    """Once ``silent`` is set, every request gets no answer (an API server that stopped
    answering): it times out after its ``timeout``, as the real client's read does."""

    def __init__(self) -> None:
        super().__init__()
        self.silent = threading.Event()
        self.answer = threading.Event()
        """Set by the test's end: a request still hanging then is answered at once, so
        no abandoned renew thread logs its timeout into a later test's captured logs."""

    def _silence(self, timeout: float) -> None:
        if self.silent.is_set() and not self.answer.wait(timeout):
            raise TimeoutError(f"read timed out ({timeout} s)")

    def get(self, *, timeout: float) -> ObservedLease | None:
        self._silence(timeout)
        return super().get(timeout=timeout)

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self._silence(timeout)
        return super().update(current, record, timeout=timeout)


def test_stop_ends_a_renew_round_hung_on_a_silent_api_server_at_once() -> None:
    """SIGTERM's deadline is shorter than the renew deadline: a leader asked to stop must
    not wait for its hung renewal until then (real time, short periods)."""
    lock = SilentLock()
    config = ElectionConfig(lease_duration=15, renew_deadline=10, retry_period=0.05)
    a = LeaderElector(lock, "a", config=config)
    outcome: list[ElectionOutcome] = []
    runner = threading.Thread(target=lambda: outcome.append(a.run(lambda: None, lambda: None)))
    runner.start()
    try:
        assert a.is_leader.wait(5)
        lock.silent.set()
        time.sleep(0.3)  # a renew round is now hung
        started = time.monotonic()
        a.stop(by=time.monotonic() + 0.5)  # the release (unanswered too) gives up by then
        runner.join(5)
        took = time.monotonic() - started
    finally:
        lock.answer.set()
        for thread in threading.enumerate():
            if thread.name == "lease-renew":
                thread.join(5)
    assert outcome == [ElectionOutcome.STOPPED]
    assert took < 1.5, took
