"""A rate-limited, delaying work queue with client-go's guarantees, for worker threads.

Keys (usually :class:`~controller.kube.objects.ObjectKey`) move through three
states: *queued* (waiting for a worker), *processing* (handed out by
:meth:`WorkQueue.get`, until :meth:`WorkQueue.done`) and *waiting* (scheduled by
:meth:`WorkQueue.add_after` for a later time). The guarantees:

- a key queued several times is handed out once (deduplication);
- a key being processed is never handed to a second worker; adding it meanwhile
  marks it dirty, and :meth:`WorkQueue.done` queues it again;
- :meth:`WorkQueue.add_after` keeps the earliest time asked for a key;
- :meth:`WorkQueue.add_rate_limited` backs off per key: 5 ms doubling to 1000 s,
  until :meth:`WorkQueue.forget`.

After :meth:`WorkQueue.shut_down` no key is accepted and :meth:`WorkQueue.get`
returns ``None`` at once; keys still queued are dropped, which is safe for a
level-triggered controller because its next start lists everything again.

Delays are measured with an injectable ``clock`` (monotonic seconds), so tests
advance time instead of sleeping; the ``timeout`` of :meth:`WorkQueue.get` is how
long the calling thread blocks, in real seconds.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_BASE_DELAY", "DEFAULT_MAX_DELAY", "Clock", "WorkQueue"]

K = TypeVar("K", bound=Hashable)

Clock = Callable[[], float]
"""Monotonic seconds."""

DEFAULT_BASE_DELAY = 0.005
DEFAULT_MAX_DELAY = 1000.0


class WorkQueue(Generic[K]):
    """Deduplicating FIFO of keys with per-key backoff and delayed adds; thread-safe."""

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
    ) -> None:
        if not 0 < base_delay <= max_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        self._clock = clock
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()
        self._failures: dict[K, int] = {}
        self._shutting_down = False

    # -- adding ------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already queued; if processing, queue it after done."""
        with self._cond:
            self._add_locked(key)

    def add_after(self, key: K, seconds: float) -> None:
        """Queue ``key`` after ``seconds``; an earlier time already asked for wins."""
        if seconds <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutting_down:
                return
            ready_at = self._clock() + seconds
            current = self._waiting.get(key)
            if current is not None and current <= ready_at:
                return
            self._waiting[key] = ready_at
            heapq.heappush(self._heap, (ready_at, next(self._sequence), key))
            if self._heap[0][2] == key:
                # The new earliest: every idle worker waits until it at the latest (one
                # woken alone might take a queued key and leave it untimed). A later
                # time wakes no one: the idle workers already wake sooner.
                self._cond.notify_all()

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its backoff (5 ms, 10 ms, 20 ms, ... up to 1000 s)."""
        self.add_after(key, self._next_backoff(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff; call after it was processed successfully."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited adds ``key`` had since it was last forgotten."""
        with self._cond:
            return self._failures.get(key, 0)

    def _next_backoff(self, key: K) -> float:
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        if failures >= 64:  # 2**64 * base is beyond any cap; avoid float overflow
            return self._max_delay
        return float(min(self._base_delay * 2**failures, self._max_delay))

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._cond.notify()

    def _promote_due_locked(self) -> float | None:
        """Queue waiting keys whose time has come; return seconds until the next one."""
        now = self._clock()
        while self._heap:
            ready_at, _, key = self._heap[0]
            if self._waiting.get(key) != ready_at:
                heapq.heappop(self._heap)  # superseded by an earlier add_after
                continue
            if ready_at > now:
                return ready_at - now
            heapq.heappop(self._heap)
            del self._waiting[key]
            self._add_locked(key)
        return None

    # -- processing --------------------------------------------------------------

    def get(self, timeout: float | None = None) -> K | None:
        """Hand out the next key, blocking up to ``timeout`` seconds (None: forever).

        Returns None on timeout or once the queue is shut down. The caller owns
        the key until it calls :meth:`done`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                until_next = self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                wait = until_next
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was added meanwhile, queue it again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()
            elif self._shutting_down and not self._processing:
                self._cond.notify_all()  # shut_down_with_drain waits for this

    # -- shutting down -----------------------------------------------------------

    def shut_down(self) -> None:
        """Stop accepting keys and wake every worker; :meth:`get` returns None from now on."""
        with self._cond:
            self._shutting_down = True
            self._queue.clear()
            self._dirty.clear()
            self._waiting.clear()
            self._heap.clear()
            self._cond.notify_all()

    def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down, then wait until every key being processed is done.

        Returns False if ``timeout`` (real seconds) passed first.
        """
        self.shut_down()
        with self._cond:
            return self._cond.wait_for(lambda: not self._processing, timeout)

    @property
    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    # -- metrics -----------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Keys ready for a worker now (not those processing, nor waiting for their time)."""
        with self._cond:
            self._promote_due_locked()
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Keys being processed now."""
        with self._cond:
            return len(self._processing)

    @property
    def waiting(self) -> int:
        """Keys scheduled for later."""
        with self._cond:
            return len(self._waiting)

    def __len__(self) -> int:
        return self.depth
