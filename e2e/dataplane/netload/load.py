"""The load itself: paced ``GET``s to a list of URLs, counted by who answered.

Each request slot (:class:`~e2e.dataplane.pacing.Pacer`) goes to the next URL in
turn. An answer is counted by its status code and by the ``X-Revision`` and
``X-Pod`` headers the demo app sends; a request that got no answer is counted as
``refused`` (connection refused: an address with nothing listening), ``timeouts``
or ``other_errors``. At most ``max_in_flight`` requests wait for an answer; a slot
finding all taken is ``dropped``. Targets and rate can change while it runs.
"""

from __future__ import annotations

import copy
import errno
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from e2e.dataplane.pacing import Pacer

__all__ = ["RECENT_ERRORS", "NetLoad", "error_kind"]

log = logging.getLogger(__name__)

RECENT_ERRORS = 50
"""How many of the latest failed requests are kept, with their time and URL."""


def error_kind(err: BaseException) -> str:
    """``refused``, ``timeouts`` or ``other_errors`` for a request that got no answer."""
    if isinstance(err, httpx.TimeoutException):
        return "timeouts"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "refused"
        cause = cause.__cause__ or cause.__context__
    return "refused" if "Connection refused" in str(err) else "other_errors"


class NetLoad:
    """Sends ``rps`` requests per second, in turn, to ``targets`` until ``stop``."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        rps: float,
        max_in_flight: int = 64,
        timeout: float = 5.0,
    ) -> None:
        self._pacer = Pacer(rps)
        self._targets = list(targets)
        self._next = 0
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._counts: dict[str, Any] = {
            "sent": 0,
            "answered": 0,
            "codes": {},
            "by_pod": {},
            "by_revision": {},
            "refused": 0,
            "timeouts": 0,
            "other_errors": 0,
            "dropped": 0,
            "no_target": 0,
        }
        self._recent: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="netload", daemon=True)

    def start(self) -> NetLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join()

    def set_rate(self, rps: float) -> None:
        self._pacer.set_rate(rps)

    def set_targets(self, targets: Sequence[str]) -> None:
        with self._lock:
            self._targets = list(targets)

    def snapshot(self) -> dict[str, Any]:
        """Every count so far, the rate, the targets and the latest failures (JSON-ready)."""
        with self._lock:
            counts = copy.deepcopy(self._counts)
            counts["dropped"] += self._pacer.skipped
            return {
                **counts,
                "rps": self._pacer.rps,
                "targets": list(self._targets),
                "recent_errors": list(self._recent),
            }

    def _target(self) -> str | None:
        with self._lock:
            if not self._targets:
                return None
            target = self._targets[self._next % len(self._targets)]
            self._next += 1
            return target

    def _run(self) -> None:
        # One connection per request, as from many clients: kube-proxy picks an
        # endpoint per connection, so kept-alive connections would skew the shares.
        limits = httpx.Limits(max_connections=self._max_in_flight, max_keepalive_connections=0)
        with (
            httpx.Client(trust_env=False, timeout=self._timeout, limits=limits) as client,
            ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="netload") as pool,
        ):
            for _ in self._pacer.slots(self._stopping):
                target = self._target()
                if target is None:
                    with self._lock:
                        self._counts["no_target"] += 1
                elif not self._slots.acquire(blocking=False):
                    with self._lock:
                        self._counts["dropped"] += 1
                else:
                    pool.submit(self._send, client, target)

    def _send(self, client: httpx.Client, url: str) -> None:
        try:
            try:
                answer = client.get(url)
            except httpx.HTTPError as err:
                self._count_failure(url, err)
                return
            code = str(answer.status_code)
            revision = answer.headers.get("X-Revision", "")
            pod = answer.headers.get("X-Pod", "")
            with self._lock:
                c = self._counts
                c["sent"] += 1
                c["answered"] += 1
                c["codes"][code] = c["codes"].get(code, 0) + 1
                by_revision = c["by_revision"].setdefault(revision, {})
                by_revision[code] = by_revision.get(code, 0) + 1
                by_pod = c["by_pod"].setdefault(pod, {"revision": revision, "codes": {}})
                by_pod["codes"][code] = by_pod["codes"].get(code, 0) + 1
        finally:
            self._slots.release()

    def _count_failure(self, url: str, err: httpx.HTTPError) -> None:
        kind = error_kind(err)
        log.debug("Request to %s failed (%s): %s", url, kind, err)
        with self._lock:
            self._counts["sent"] += 1
            self._counts[kind] += 1
            self._recent.append({"at": time.time(), "url": url, "kind": kind, "error": str(err)})
            del self._recent[:-RECENT_ERRORS]
