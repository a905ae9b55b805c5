"""One lock file per named harness instance, so ``up`` and ``down`` of a name never overlap."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def named_lock(root: Path, name: str) -> Iterator[None]:
    """Hold ``<root>/<name>.lock`` exclusively (an flock, released on exit or crash)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
