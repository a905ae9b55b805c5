"""Token bucket and Retry-After handling, with fake time."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.kube.ratelimit import (
    LimitedCaller,
    RateLimiter,
    RetryPolicy,
    call_with_limits,
    retry_after,
)
from tests.unit.kube.fakes import FakeClock


def throttled(status: int = 429, retry_after_header: str | None = "2") -> ApiException:
    err = ApiException(status=status, reason="Too Many Requests")
    err.headers = {"Retry-After": retry_after_header} if retry_after_header is not None else {}
    return err


class Flaky:
    """Raises the given errors in turn, then returns "ok"; records the time of each call."""

    def __init__(self, clock: FakeClock, *errors: Exception) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.calls: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append(self.clock.now)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_a_full_bucket_serves_a_burst_without_waiting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(qps=10, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []


def test_beyond_the_burst_requests_are_spaced_at_qps() -> None:
    clock = FakeClock()
    limiter = RateLimiter(qps=10, burst=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(25):
        limiter.acquire()
    # 5 from the burst, 20 more at 10 a second
    assert clock.now - start == pytest.approx(2.0)


def test_idle_time_refills_the_bucket_up_to_burst_only() -> None:
    clock = FakeClock()
    limiter = RateLimiter(qps=10, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    clock.advance(3600)
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


def test_concurrent_callers_reserve_distinct_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(qps=100, burst=1, clock=clock, sleep=lambda _: None)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = limiter.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([i / 100 for i in range(50)])


def test_defaults_are_the_controllers_qps_100_burst_300() -> None:
    from controller.settings import Settings

    limiter = RateLimiter()
    assert (limiter.qps, limiter.burst) == (100.0, 300)
    defaults = Settings.model_fields
    assert (defaults["qps"].default, defaults["burst"].default) == (limiter.qps, limiter.burst)


def test_a_429_is_retried_after_its_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    fn = Flaky(clock, throttled(retry_after_header="3"))
    assert call_with_limits(limiter, fn, "arg", key="value") == "ok"
    assert fn.calls[1] - fn.calls[0] == pytest.approx(3.0)


def test_a_503_with_retry_after_is_retried_but_without_is_raised() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    fn = Flaky(clock, throttled(503, "1"))
    assert call_with_limits(limiter, fn) == "ok"
    fn = Flaky(clock, throttled(503, None))
    with pytest.raises(ApiException) as raised:
        call_with_limits(limiter, fn)
    assert raised.value.status == 503
    assert len(fn.calls) == 1


def test_other_errors_are_raised_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    fn = Flaky(clock, ApiException(status=409, reason="Conflict"))
    with pytest.raises(ApiException):
        call_with_limits(limiter, fn)
    assert len(fn.calls) == 1


def test_retries_give_up_after_max_attempts_with_the_last_error() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    caller = LimitedCaller(limiter, policy=RetryPolicy(max_attempts=3))
    fn = Flaky(clock, *(throttled(retry_after_header="1") for _ in range(5)))
    with pytest.raises(ApiException) as raised:
        caller.call(fn)
    assert raised.value.status == 429
    assert len(fn.calls) == 3


def test_a_huge_retry_after_is_capped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    caller = LimitedCaller(limiter, policy=RetryPolicy(max_wait=30))
    fn = Flaky(clock, throttled(retry_after_header="86400"))
    assert caller.call(fn) == "ok"
    assert fn.calls[1] - fn.calls[0] == pytest.approx(30.0)


def test_each_attempt_takes_a_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(qps=1, burst=1, clock=clock, sleep=clock.sleep)
    caller = LimitedCaller(limiter, sleep=lambda _: None)  # the Retry-After wait costs nothing
    fn = Flaky(clock, throttled(retry_after_header="0"), throttled(retry_after_header="0"))
    assert caller.call(fn) == "ok"
    assert fn.calls == [pytest.approx(t) for t in (1000.0, 1001.0, 1002.0)]


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"Retry-After": "5"}, 5.0),
        (429, {"retry-after": " 7 "}, 7.0),
        (429, {}, 1.0),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.0),
        (429, None, 1.0),
        (503, {"Retry-After": "2"}, 2.0),
        (503, {}, None),
        (500, {"Retry-After": "2"}, None),
        (None, None, None),
    ],
)
def test_retry_after_decision(
    status: int | None, headers: dict[str, str] | None, expected: float | None
) -> None:
    assert retry_after(status, headers) == expected


class FakeHttpResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = "whatever"
        self.headers = headers
        self.data = body
        self.released = False

    def drain_conn(self) -> None:
        pass

    def release_conn(self) -> None:
        self.released = True


class ScriptedRest:
    """Stands in for the ApiClient's urllib3 layer: answers from a script, in turn."""

    def __init__(self, clock: FakeClock, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.sent: list[tuple[str, str, float]] = []

    def request(self, method: str, url: str, **_: Any) -> Any:
        from kubernetes.client.rest import RESTResponse

        self.sent.append((method, url, self.clock.now))
        return RESTResponse(FakeHttpResponse(*self.answers.pop(0)))


def test_rate_limited_api_client_waits_out_429_for_any_request() -> None:
    from kubernetes.client import Configuration

    from controller.kube.ratelimit import RateLimitedApiClient
    from controller.kube.transport import request_json

    clock = FakeClock()
    api = RateLimitedApiClient(
        Configuration(host="https://example.invalid"),
        limiter=RateLimiter(qps=1, burst=1, clock=clock, sleep=clock.sleep),
    )
    rest = ScriptedRest(
        clock,
        (429, {"Retry-After": "4"}, b"{}"),
        (200, {}, b'{"metadata": {"name": "x"}}'),
    )
    api.rest_client = rest  # type: ignore[assignment]
    body = request_json(api, "GET", "/api/v1/namespaces/ns/configmaps/x")
    assert body == {"metadata": {"name": "x"}}
    assert [url for _, url, _ in rest.sent] == [
        "https://example.invalid/api/v1/namespaces/ns/configmaps/x"
    ] * 2
    assert rest.sent[1][2] - rest.sent[0][2] == pytest.approx(4.0)


def test_rate_limited_api_client_returns_the_last_429_when_attempts_run_out() -> None:
    from kubernetes.client import Configuration

    from controller.kube.ratelimit import RateLimitedApiClient
    from controller.kube.transport import request_json

    clock = FakeClock()
    api = RateLimitedApiClient(
        Configuration(host="https://example.invalid"),
        limiter=RateLimiter(clock=clock, sleep=clock.sleep),
        policy=RetryPolicy(max_attempts=2),
    )
    api.rest_client = ScriptedRest(clock, *[(429, {"Retry-After": "1"}, b"{}")] * 2)  # type: ignore[assignment]
    with pytest.raises(ApiException) as raised:
        request_json(api, "GET", "/api/v1/namespaces")
    assert raised.value.status == 429
