"""Request slots at a steady rate: never a burst to catch up.

A :class:`Pacer` yields one slot every ``1/rps`` seconds, measured from its start
(so the rate does not drift with the time each slot takes). When the caller falls
more than :data:`MAX_LAG` behind, the missed slots are skipped (and counted), not
sent late. Shared by the loopback :class:`~e2e.dataplane.traffic.TrafficGenerator`
and the in-namespace load generator (:mod:`e2e.dataplane.netload`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["MAX_LAG", "Pacer"]

MAX_LAG = 0.25
"""Seconds behind schedule after which missed request slots are skipped, not sent late."""


class Pacer:
    """Slots at ``rps`` per second for ``duration`` seconds (None: until stopped)."""

    def __init__(
        self,
        rps: float,
        *,
        duration: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rps <= 0:
            raise ValueError("rps must be positive")
        self._rps = rps
        self._duration = duration
        self._clock = clock
        self._lock = threading.Lock()
        self._anchor = 0.0
        self._slot = 0
        self.skipped = 0
        """Slots skipped because the caller fell more than ``MAX_LAG`` behind."""

    @property
    def rps(self) -> float:
        return self._rps

    def set_rate(self, rps: float) -> None:
        """From now on, ``rps`` slots per second (safe from another thread)."""
        if rps <= 0:
            raise ValueError("rps must be positive")
        with self._lock:
            self._rps = rps
            self._anchor = self._clock()
            self._slot = 0

    def slots(self, stopping: threading.Event) -> Iterator[None]:
        """Yield at each slot's due time until the duration is over or ``stopping`` is set."""
        start = self._clock()
        end = None if self._duration is None else start + self._duration
        with self._lock:
            self._anchor, self._slot = start, 0
        while not stopping.is_set():
            with self._lock:
                due = self._anchor + self._slot / self._rps
                rps = self._rps
            if end is not None and due >= end:
                return
            lag = self._clock() - due
            if lag < 0:
                if stopping.wait(-lag):
                    return
                continue
            with self._lock:
                if lag > MAX_LAG:
                    missed = int(lag * rps)
                    self.skipped += missed
                    self._slot += missed
                    continue
                self._slot += 1
            yield
