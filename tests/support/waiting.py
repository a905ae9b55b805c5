"""Wait for the world to reach a state, instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NeverHappened(AssertionError):
    """The awaited condition did not hold before the deadline."""


def eventually(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns something truthy and return that.

    Exceptions from the probe count as "not yet"; the last one is reported if
    the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as err:
            last = err
        if time.monotonic() >= deadline:
            raise NeverHappened(f"{what} did not happen within {timeout}s (last: {last!r})")
        time.sleep(interval)
