"""Leadership that cannot overlap: renew rounds with one deadline, hanging Lease
calls, and the fence every write asks first.

The Lease is in memory (:class:`FakeLeaseLock`) and time is a fake clock; a
"hanging" call blocks its thread on an event the test holds, as a request to an
API server that never answers would. Waiting for a round to finish is injected
(:func:`fake_wait`): it gives the round's thread a moment of real time, then
lets the fake clock run out the rest, so nothing here sleeps for the timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import Configuration

from controller.kube.fencing import Fence, LeadershipLost
from controller.kube.leaderelection import ElectionConfig, ElectionOutcome, LeaderElector
from controller.kube.lease import LeaseRecord, ObservedLease
from controller.kube.ratelimit import RateLimitedApiClient, RateLimiter
from controller.kube.transport import request_json
from controller.settings import Settings
from tests.unit.kube.fakes import FakeClock, FakeLeaseLock
from tests.unit.kube.test_ratelimit import ScriptedRest

CONFIG = ElectionConfig(lease_duration=15, renew_deadline=10, retry_period=2)


class HangingLock(FakeLeaseLock):
    """Calls take ``latency`` fake seconds; once ``hang`` is set they block until
    ``release`` is set, then fail, as a request whose connection was cut late.
    Records every call's timeout."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.latency = 0.0
        self.hang = threading.Event()
        self.release = threading.Event()
        self.timeouts: list[tuple[str, float]] = []

    def _call(self, name: str, timeout: float) -> None:
        self.timeouts.append((name, timeout))
        if self.hang.is_set():
            self.release.wait()  # until the test ends: a server that never answers
            raise ConnectionError("connection reset after hanging")
        self.clock.advance(self.latency)

    def get(self, *, timeout: float) -> ObservedLease | None:
        self._call("get", timeout)
        return super().get(timeout=timeout)

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        self._call("create", timeout)
        return super().create(record, timeout=timeout)

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self._call("update", timeout)
        return super().update(current, record, timeout=timeout)


def fake_wait(clock: FakeClock) -> Callable[[threading.Event, float], bool]:
    def wait(done: threading.Event, timeout: float) -> bool:
        if done.wait(2.0):  # a round that does not hang ends at once in real time
            return True
        clock.advance(timeout)
        return done.is_set()

    return wait


def holding(clock: FakeClock) -> tuple[HangingLock, LeaderElector]:
    """A Lease just taken by "a", its calls' timeouts not yet recorded."""
    lock = HangingLock(clock)
    a = LeaderElector(lock, "a", config=CONFIG, clock=clock)
    assert a.try_acquire_or_renew()
    lock.timeouts.clear()
    return lock, a


def test_one_renew_round_shares_one_deadline_between_its_requests() -> None:
    clock = FakeClock()
    lock, a = holding(clock)
    lock.latency = 6.0  # the GET takes 6 of the round's 10 seconds
    assert a.try_acquire_or_renew(timeout=10.0)
    (get, get_timeout), (update, update_timeout) = lock.timeouts
    assert (get, update) == ("get", "update")
    assert get_timeout == 10.0
    assert update_timeout == pytest.approx(4.0)  # what was left, not another 10


def test_a_round_whose_time_ran_out_sends_nothing_more() -> None:
    clock = FakeClock()
    lock, a = holding(clock)
    lock.latency = 10.5
    assert not a.try_acquire_or_renew(timeout=10.0)
    assert [name for name, _ in lock.timeouts] == ["get"]


def test_a_leader_whose_lease_calls_hang_stops_leading_at_its_renew_deadline() -> None:
    clock = FakeClock()
    lock = HangingLock(clock)
    stopped: list[tuple[float, bool]] = []
    a = LeaderElector(lock, "a", config=CONFIG, clock=clock, sleep=clock.sleep,
                      wait=fake_wait(clock))  # fmt: skip

    def started() -> None:
        lock.hang.set()  # from now on the API server never answers

    def stopped_leading() -> None:
        stopped.append((clock.now, a.holds()))

    acquired_at = clock.now
    try:
        outcome = a.run(started, stopped_leading)
    finally:
        lock.release.set()
    assert outcome is ElectionOutcome.LOST
    [(at, held)] = stopped
    assert at - acquired_at <= CONFIG.renew_deadline  # before a rival could take over (15 s)
    assert not held  # the fence was closed before the work was told to stop


def test_holds_is_true_until_the_renew_deadline_minus_the_margin() -> None:
    clock = FakeClock()
    lock = HangingLock(clock)
    a = LeaderElector(lock, "a", config=CONFIG, clock=clock)
    assert not a.holds()  # not leading yet
    assert a.try_acquire_or_renew()
    a.is_leader.set()  # as run() does once it leads
    clock.advance(7.9)
    assert a.holds(margin=2.0)
    clock.advance(0.1)
    assert not a.holds(margin=2.0)
    assert a.holds(margin=0.0)
    clock.advance(2.0)
    assert not a.holds()


def test_a_requested_stop_lets_in_flight_work_write_while_a_loss_does_not() -> None:
    clock = FakeClock()
    lock = HangingLock(clock)
    held_while_stopping: list[bool] = []

    def sleep_then_stop(seconds: float) -> None:
        clock.sleep(seconds)
        a.stop()

    a = LeaderElector(lock, "a", config=CONFIG, clock=clock, wait=fake_wait(clock),
                      sleep=sleep_then_stop)  # fmt: skip
    outcome = a.run(lambda: None, lambda: held_while_stopping.append(a.holds(1.0)))
    assert outcome is ElectionOutcome.STOPPED
    assert held_while_stopping == [True]
    assert not a.holds()  # and not after


# ------------------------------------------------------------------ the fence


def test_the_fence_refuses_writes_once_leadership_is_not_held_with_the_margin() -> None:
    asked: list[float] = []
    leading = True

    def holds(margin: float) -> bool:
        asked.append(margin)
        return leading

    fence = Fence(holds, margin=2.0)
    for method in ("POST", "PUT", "PATCH", "DELETE", "GET"):
        fence.check(method)
    leading = False
    for method in ("POST", "put", "PATCH", "DELETE"):
        with pytest.raises(LeadershipLost):
            fence.check(method)
    fence.check("GET")  # reads keep the standby's caches warm
    fence.check("HEAD")
    assert fence.refused == 4
    assert set(asked) == {2.0}


def test_without_leader_election_every_write_may_go() -> None:
    fence = Fence(None, margin=2.0)
    fence.check("DELETE")
    assert fence.refused == 0


def test_the_client_asks_the_fence_before_each_write_leaves_and_sends_nothing_when_refused() -> (
    None
):
    clock = FakeClock()
    leading = [True]
    api = RateLimitedApiClient(
        Configuration(host="https://example.invalid"),
        limiter=RateLimiter(clock=clock, sleep=clock.sleep),
        fence=Fence(lambda margin: leading[0], margin=1.0),
    )
    rest = ScriptedRest(clock, *[(200, {}, b"{}")] * 3)
    api.rest_client = rest  # type: ignore[assignment]
    request_json(api, "PATCH", "/apis/apps/v1/namespaces/ns/replicasets/x", body={})
    leading[0] = False
    with pytest.raises(LeadershipLost):
        request_json(api, "PATCH", "/apis/apps/v1/namespaces/ns/replicasets/x", body={})
    request_json(api, "GET", "/apis/apps/v1/namespaces/ns/replicasets/x")
    assert [method for method, _, _ in rest.sent] == ["PATCH", "GET"]


def lose_while_waiting(clock: FakeClock, leading: list[bool], seconds: float) -> None:
    clock.sleep(seconds)
    leading[0] = False


def test_a_write_retried_after_429_is_fenced_again_before_the_retry() -> None:
    clock = FakeClock()
    leading = [True]
    api = RateLimitedApiClient(
        Configuration(host="https://example.invalid"),
        limiter=RateLimiter(clock=clock, sleep=clock.sleep),
        fence=Fence(lambda margin: leading[0], margin=1.0),
        sleep=lambda seconds: lose_while_waiting(clock, leading, seconds),
    )
    rest = ScriptedRest(clock, (429, {"Retry-After": "5"}, b"{}"), (200, {}, b"{}"))
    api.rest_client = rest  # type: ignore[assignment]
    with pytest.raises(LeadershipLost):
        request_json(api, "PUT", "/api/v1/namespaces/ns/configmaps/x", body={})
    assert len(rest.sent) == 1  # the retry never left


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"renew_deadline": 20.0}, "retry-period < renew-deadline < lease-duration"),
        ({"retry_period": 12.0}, "retry-period < renew-deadline < lease-duration"),
        ({"fence_margin": 10.0}, "fence-margin (10.0) must be below renew-deadline"),
    ],
)
def test_timings_that_cannot_work_are_refused_with_a_clear_message(
    values: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Settings(**values)
