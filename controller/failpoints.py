"""Fault injection for end-to-end tests, off unless ``LANDINGGEAR_FAILPOINTS`` is set.

``LANDINGGEAR_FAILPOINTS="crash-before-status-write=2"`` SIGKILLs the process the
2nd time a reconcile has applied actions and is about to write the status: the
exact window in which a crash could lose a step's bookkeeping. Tests use it to
prove a restarted controller neither repeats a step nor regresses traffic.
"""

from __future__ import annotations

import os
import signal
import threading

CRASH_BEFORE_STATUS_WRITE = "crash-before-status-write"

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _armed() -> dict[str, int]:
    spec = os.environ.get("LANDINGGEAR_FAILPOINTS", "")
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("=")
        armed[name] = int(nth or "1")
    return armed


def hit(name: str) -> None:
    """Count a pass through failpoint ``name``; SIGKILL ourselves on the armed pass."""
    nth = _armed().get(name)
    if nth is None:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
