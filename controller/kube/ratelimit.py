"""Client-side limits for API requests: a token bucket, and waiting out 429s.

:class:`RateLimiter` is a thread-safe token bucket (QPS 100, burst 300 by
default, the controller's ``--qps`` and ``--burst``; client-go's defaults of 5/10
are too low for a controller of a thousand rollouts). Each
:meth:`RateLimiter.acquire` reserves a token and sleeps until it is due, so
concurrent callers are served in order without busy-waiting.

When the API server sheds load it answers 429 (or 503) with ``Retry-After``.
:func:`retry_after` decides whether and how long to wait; :class:`LimitedCaller`
and :func:`call_with_limits` apply it around a client call that raises
``ApiException``; :class:`RateLimitedApiClient` applies both the bucket and the
retries to every request an ``ApiClient`` sends, generated APIs included, and
asks its :class:`~controller.kube.fencing.Fence` before each write leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from kubernetes.client import Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse

from controller.kube.counting import OnRead, OnWrite, WriteCountingApiClient
from controller.kube.fencing import Fence

__all__ = [
    "LimitedCaller",
    "RateLimitedApiClient",
    "RateLimiter",
    "RetryPolicy",
    "call_with_limits",
    "retry_after",
]

P = ParamSpec("P")
T = TypeVar("T")

Sleep = Callable[[float], None]


class RateLimiter:
    """Token bucket: ``qps`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self,
        qps: float = 100.0,
        burst: int = 300,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take a token now and return the seconds until it may be used (0 if at once)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> None:
        """Block until a token is available, then consume it."""
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How to treat responses that ask the client to come back later."""

    max_attempts: int = 5
    """Attempts in all, the first included; the last failure is raised or returned."""
    max_wait: float = 30.0
    """Cap on one wait, whatever ``Retry-After`` says."""
    default_wait: float = 1.0
    """Wait after a 429 that has no usable ``Retry-After``."""


DEFAULT_POLICY = RetryPolicy()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def retry_after(
    status: int | None, headers: Mapping[str, str] | None, policy: RetryPolicy = DEFAULT_POLICY
) -> float | None:
    """Seconds to wait before retrying a response, or None if it must not be retried.

    429 is always retried (after ``Retry-After``, else ``policy.default_wait``);
    503 only when it carries ``Retry-After``, as client-go does. Waits are capped
    at ``policy.max_wait``.
    """
    if status not in (429, 503):
        return None
    raw = _header(headers, "Retry-After")
    seconds: float | None = None
    if raw is not None:
        try:
            seconds = max(0.0, float(raw.strip()))
        except ValueError:
            seconds = None  # an HTTP date; the API server only sends seconds
    if seconds is None:
        if status == 503:
            return None
        seconds = policy.default_wait
    return min(seconds, policy.max_wait)


class LimitedCaller:
    """Calls a client function under a rate limiter, waiting out 429/503 ``Retry-After``."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Sleep | None = None,
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self._sleep = sleep or limiter.sleep

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)``, taking a token before each attempt.

        Re-raises the ``ApiException`` when it is not retryable or the attempts
        are used up.
        """
        attempt = 1
        while True:
            self.limiter.acquire()
            try:
                return fn(*args, **kwargs)
            except ApiException as err:
                wait = retry_after(err.status, err.headers, self.policy)
                if wait is None or attempt >= self.policy.max_attempts:
                    raise
            self._sleep(wait)
            attempt += 1


def call_with_limits(
    limiter: RateLimiter, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(*args, **kwargs)`` under ``limiter`` with the default :class:`RetryPolicy`."""
    return LimitedCaller(limiter).call(fn, *args, **kwargs)


class RateLimitedApiClient(WriteCountingApiClient):
    """An ``ApiClient`` whose every request takes a token and waits out 429s.

    Each write attempt that passes the fence is reported to ``on_write``
    (:mod:`controller.kube.counting`).

    Build it from an existing client's configuration::

        api = RateLimitedApiClient(plain.configuration, limiter=RateLimiter(50, 100))
    """

    def __init__(
        self,
        configuration: Configuration | None = None,
        *,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        sleep: Sleep | None = None,
        fence: Fence | None = None,
        on_write: OnWrite | None = None,
        on_read: OnRead | None = None,
    ) -> None:
        super().__init__(configuration, on_write=on_write, on_read=on_read)
        self.limiter = limiter or RateLimiter()
        self.policy = policy
        self._sleep = sleep or self.limiter.sleep
        self.fence = fence
        """Asked right before each attempt leaves, after the token wait and any
        Retry-After sleep, so a write never goes out on stale leadership."""

    def call_api(
        self,
        method: Any,
        url: Any,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> RESTResponse:
        attempt = 1
        while True:
            self.limiter.acquire()
            if self.fence is not None:
                self.fence.check(str(method))
            response = super().call_api(
                method, url, header_params, body, post_params, _request_timeout=_request_timeout
            )
            wait = retry_after(response.status, response.headers, self.policy)
            if wait is None or attempt >= self.policy.max_attempts:
                return response
            response.response.drain_conn()
            response.response.release_conn()
            self._sleep(wait)
            attempt += 1
