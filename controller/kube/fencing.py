"""Fencing: every write asks first whether this process may still write.

A leader that was frozen (SIGSTOP, a long GC pause, a suspended VM) or cut off
from the API server may wake up after a standby took over. Renewing the Lease
cannot stop such a process from acting on a decision it was about to apply, so
the write path itself asks, right before each request leaves: is leadership
still held, by the local monotonic clock, with ``margin`` seconds to spare?
If not, :class:`LeadershipLost` is raised and nothing is sent.

Reads are never fenced: a standby keeps its caches warm.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["READ_METHODS", "Fence", "LeadershipLost"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LeadershipLost(Exception):
    """This process no longer leads (or may not by the time a write lands): it must not write."""


class Fence:
    """Raises :class:`LeadershipLost` before a write unless ``holds(margin)`` is True.

    ``holds`` is :meth:`controller.kube.leaderelection.LeaderElector.holds`; None
    means no leader election (a single controller), where every write may go.
    """

    def __init__(self, holds: Callable[[float], bool] | None, *, margin: float) -> None:
        if margin < 0:
            raise ValueError("margin must not be negative")
        self._holds = holds
        self.margin = margin
        self.refused = 0
        """Writes refused so far."""

    def check(self, method: str) -> None:
        """Return if a ``method`` request may be sent now; else raise."""
        if method.upper() in READ_METHODS or self._holds is None:
            return
        if not self._holds(self.margin):
            self.refused += 1
            raise LeadershipLost(f"refused a {method} request: leadership is not held")
