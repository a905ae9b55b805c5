"""One deadline shared by the parts of a process that stop in turn."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Deadline"]


@dataclass(frozen=True)
class Deadline:
    """``at`` on ``clock`` (monotonic seconds): what each step may still take."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def left(self, cap: float | None = None, *, keep: float = 0.0) -> float:
        """Seconds until the deadline, less ``keep`` (kept for what comes after), at most
        ``cap``; 0 once past."""
        left = max(0.0, self.at - keep - self.clock())
        return left if cap is None else min(cap, left)

    def passed(self) -> bool:
        return self.clock() >= self.at
