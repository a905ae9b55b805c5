"""Client traffic as one Service over stable and canary pods would deliver it.

Each request picks a revision with probability proportional to its Ready pods
(``Route.weight``), then ``GET /`` on that revision's app. Requests are paced at
a fixed rate and never burst to catch up (:class:`~e2e.dataplane.pacing.Pacer`);
at most ``max_in_flight`` wait for an answer (a request finding every slot taken
is dropped and counted). Only loopback addresses are accepted.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx

from e2e.dataplane.pacing import Pacer

__all__ = ["RevisionCounts", "Route", "TrafficGenerator", "choose_route"]

log = logging.getLogger(__name__)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only "localhost" is trusted to stay local
        return False


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where one revision's app listens and how many Ready pods it stands for."""

    revision: str
    address: str
    weight: int

    def __post_init__(self) -> None:
        host, sep, port = self.address.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit():
            raise ValueError(f"address {self.address!r} is not host:port")
        if host != "localhost" and not _is_loopback_ip(host):
            raise ValueError(f"address {self.address!r} is not on loopback")


@dataclass(frozen=True, kw_only=True)
class RevisionCounts:
    """Requests sent to one revision and finished: answered below 500, 5xx, or not at all.

    A request is counted when it finishes, so ``sent == ok + errors + failed``.
    """

    sent: int = 0
    ok: int = 0
    errors: int = 0
    failed: int = 0

    @property
    def error_ratio(self) -> float:
        """Share of sent requests that got a 5xx or no answer (0 when none were sent)."""
        return (self.errors + self.failed) / self.sent if self.sent else 0.0


def choose_route(routes: Sequence[Route], rng: random.Random) -> Route | None:
    """A route drawn with probability weight / total weight; None if no weight is positive."""
    candidates = [route for route in routes if route.weight > 0]
    total = sum(route.weight for route in candidates)
    if total <= 0:
        return None
    point = rng.random() * total
    for route in candidates:
        point -= route.weight
        if point < 0:
            return route
    return candidates[-1]  # float rounding at the very top of the range


class TrafficGenerator:
    """Send ``rps`` requests per second for ``duration`` seconds (None: until ``stop``)."""

    def __init__(
        self,
        routes: Callable[[], Sequence[Route]],
        *,
        rps: float,
        duration: float | None = None,
        seed: int | None = None,
        max_in_flight: int = 32,
        timeout: float = 5.0,
        on_dispatch: Callable[[str, float], None] | None = None,
    ) -> None:
        """``on_dispatch(revision, time.time())`` is called as each request is sent
        (from the pacing thread, so it must be quick)."""
        self._pacer = Pacer(rps, duration=duration)
        self.rps = rps
        self.duration = duration
        self._routes = routes
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._on_dispatch = on_dispatch
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._counts: dict[str, RevisionCounts] = {}
        self._unrouted = 0
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> TrafficGenerator:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the duration is over (and in-flight requests answered); True if done."""
        if self._thread.ident is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def counts(self) -> dict[str, RevisionCounts]:
        """Requests per revision so far."""
        with self._lock:
            return dict(self._counts)

    @property
    def failed(self) -> int:
        """Requests that got no answer (connection refused, timed out…), all revisions."""
        with self._lock:
            return sum(counts.failed for counts in self._counts.values())

    @property
    def unrouted(self) -> int:
        """Request slots that found no revision with Ready pods."""
        return self._unrouted

    @property
    def dropped(self) -> int:
        """Request slots skipped because the generator fell behind or all slots were busy."""
        return self._dropped + self._pacer.skipped

    def _run(self) -> None:
        limits = httpx.Limits(max_connections=self._max_in_flight)
        with (
            httpx.Client(trust_env=False, timeout=self._timeout, limits=limits) as client,
            ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="traffic") as pool,
        ):
            for _ in self._pacer.slots(self._stopping):
                route = choose_route(self._routes(), self._rng)
                if route is None:
                    self._unrouted += 1
                elif not self._slots.acquire(blocking=False):
                    self._dropped += 1
                else:
                    if self._on_dispatch is not None:
                        self._on_dispatch(route.revision, time.time())
                    pool.submit(self._send, client, route)

    def _send(self, client: httpx.Client, route: Route) -> None:
        try:
            try:
                code = client.get(f"http://{route.address}/").status_code
            except httpx.HTTPError as err:
                log.debug("Request to revision %s failed: %s", route.revision, err)
                code = 0
            with self._lock:
                now = self._counts.get(route.revision, RevisionCounts())
                self._counts[route.revision] = replace(
                    now,
                    sent=now.sent + 1,
                    ok=now.ok + (0 < code < 500),
                    errors=now.errors + (code >= 500),
                    failed=now.failed + (code == 0),
                )
        finally:
            self._slots.release()
