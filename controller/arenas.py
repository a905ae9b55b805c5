"""glibc's malloc arenas, capped for the controller process.

glibc gives a thread that finds the arenas busy an arena of its own, up to eight
per core, and an arena keeps the pages it once held. The controller's threads
(16 reconcile workers, an informer per resource, the Events sender, the
measurements' loop, ``/metrics``) allocate mostly under the GIL, so more arenas buy
little speed, but each keeps its own free pages: at 1,000 progressing Rollouts
``/proc/<pid>/smaps`` showed 15 thread arenas holding 21 to 24 MiB of the process' RSS.

``landinggear run`` and ``landinggear chatops`` (a request pool, a notifier per
room, the identities' loop) cap them at :data:`ARENAS` before their threads start,
unless ``MALLOC_ARENA_MAX`` is set (glibc reads that itself: the operator's choice
wins).
Elsewhere than glibc (musl, macOS) there is no such call, and nothing changes.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

__all__ = ["ARENAS", "M_ARENA_MAX", "cap"]

ARENAS = 2
"""The main arena and one more: what ``MALLOC_ARENA_MAX=2`` gives."""
M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the arena cap (glibc's ``malloc.h``)."""


def cap(environ: Mapping[str, str] = os.environ, *, arenas: int = ARENAS) -> bool:
    """Cap this process' malloc arenas at ``arenas``; True if glibc took the cap.

    Call it before the threads start: a thread already given an arena keeps it.
    """
    if "MALLOC_ARENA_MAX" in environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas) == 1)
