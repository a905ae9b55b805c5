"""Leader election on a Lease, with client-go's semantics and a stricter renew deadline.

One :class:`LeaderElector` per process campaigns with its ``identity``:

- it takes the Lease only when it is free (no holder, e.g. after a release) or
  expired *by its own observation*: the record has not changed for
  ``leaseDurationSeconds`` since this process first saw it, timed with its own
  monotonic clock. Clocks of different machines are never compared;
- every write quotes the resourceVersion read, so of two candidates racing for
  the same round one gets 409 and loses;
- the leader renews every ``retry_period``. One renew round (a GET and a PUT)
  has one total deadline, the time left until ``renew_deadline`` after the last
  successful renewal (measured from *before* its request, so latency counts
  against it); each request's timeout is what is left of it, and the round runs
  on its own thread, so a request that hangs cannot hold the leader past it.
  Past that deadline, or on seeing another holder, it stops leading at once,
  well before others can take over after ``lease_duration``, whatever the API
  server answers later. ``on_stopped_leading`` is then called, and the process
  is expected to stop its work (typically exit non-zero);
- :meth:`LeaderElector.holds` answers, by the local monotonic clock alone,
  whether leadership is still held with a margin: the fence every write asks
  first (:mod:`controller.kube.fencing`);
- on a requested stop it calls ``on_stopped_leading`` first, so work stops, and
  then releases the Lease (empty holder, like client-go's ``ReleaseOnCancel``) so
  another candidate takes over at once instead of after ``lease_duration``.

Time (``clock``, ``now``) and waiting (``sleep``, and ``wait`` for a renew round
to finish) are injectable for tests.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from controller.kube.errors import describe
from controller.kube.lease import LeaseConflict, LeaseLock, LeaseRecord, ObservedLease

__all__ = ["ElectionConfig", "ElectionOutcome", "LeaderElector"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class ElectionConfig:
    """Timing of the election, in seconds (client-go's defaults)."""

    lease_duration: float = 15.0
    """How long others wait, after last seeing the record change, before taking over."""
    renew_deadline: float = 10.0
    """How long the leader keeps trying to renew before it stops leading."""
    retry_period: float = 2.0
    """Pause between attempts to acquire or renew."""
    release_on_stop: bool = True
    """Empty the Lease's holder when :meth:`LeaderElector.stop` ends the leadership."""

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")


class ElectionOutcome(enum.Enum):
    """Why :meth:`LeaderElector.run` returned."""

    STOPPED = "stopped"
    """:meth:`LeaderElector.stop` was called."""
    LOST = "lost"
    """Leadership was lost: the process must not carry on as leader."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Campaigns for ``lock`` as ``identity``; see the module docstring."""

    def __init__(
        self,
        lock: LeaseLock,
        identity: str,
        *,
        config: ElectionConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] | None = None,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty")
        self.lock = lock
        self.identity = identity
        self.config = config or ElectionConfig()
        self.is_leader = threading.Event()
        """Set while this process leads."""
        self._clock = clock
        self._now = now
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._wait = wait or _wait_for
        self._mutex = threading.Lock()
        self._observed: ObservedLease | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self._release_by: float | None = None
        self._round_done: threading.Event | None = None
        """The event the renew round in progress sets when it ends (or stop does)."""

    @property
    def leader(self) -> str:
        """The holder last observed in the Lease (``""`` if none or unknown)."""
        with self._mutex:
            return self._observed.record.holder if self._observed else ""

    def holds(self, margin: float = 0.0) -> bool:
        """Whether this process leads and will still lead ``margin`` seconds from now.

        Judged by the local monotonic clock from the start of the last successful
        renewal, never by what the API server says: a frozen or partitioned leader
        stops holding on time even if its requests never return.
        """
        renewed = self._renewed_at
        if not self.is_leader.is_set() or renewed is None:
            return False
        return self._clock() + margin < renewed + self.config.renew_deadline

    def stop(self, *, by: float | None = None) -> None:
        """End :meth:`run`: stop campaigning, or stop leading and release the Lease;
        ``by`` (on the elector's clock): when the release request must give up."""
        self._release_by = by
        self._stopping.set()
        round_done = self._round_done
        if round_done is not None:
            round_done.set()  # a renew round waited for ends now: stopping, its outcome is moot

    def rearm(self) -> None:
        """Undo :meth:`stop` once :meth:`lead` returned, so the elector may lead again
        (keeping what it observed of the Lease, and since when)."""
        self._stopping.clear()
        self._release_by = None

    def observe(self, *, timeout: float) -> str:
        """Read the Lease without taking it: its holder, or ``""`` when it is free (no
        holder, or expired by this process' observation, as :meth:`try_acquire_or_renew`
        would judge it)."""
        now = self._clock()
        current = self.lock.get(timeout=timeout)
        if current is None:
            return ""
        with self._mutex:
            if self._observed is None or self._observed.record != current.record:
                self._observed, self._observed_at = current, now
            else:
                self._observed = current
            expires_at = self._observed_at + current.record.lease_duration_seconds
        return current.record.holder if expires_at > now else ""

    # -- one round ---------------------------------------------------------------

    def try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        """Make one attempt to take or renew the Lease; True if we hold it now."""
        limit = self.config.renew_deadline if timeout is None else timeout
        started = self._clock()
        try:
            acquired = self._try_once(started, started + limit)
        except LeaseConflict:
            acquired = False
        except Exception as err:
            log.warning(
                "Failed to read or write the lease", lease=str(self.lock), error=describe(err)
            )
            acquired = False
        if acquired:
            self._renewed_at = started
        return acquired

    def _left(self, deadline: float) -> float:
        """Seconds left of the round; raises once it is over."""
        left = deadline - self._clock()
        if left <= 0:
            raise TimeoutError("the renew round ran out of time")
        return left

    def _try_once(self, now: float, deadline: float) -> bool:
        duration = math.ceil(self.config.lease_duration)
        current = self.lock.get(timeout=self._left(deadline))
        if current is None:
            wall = self._now()
            record = LeaseRecord(
                holder=self.identity, lease_duration_seconds=duration, acquire_time=wall,
                renew_time=wall,
            )  # fmt: skip
            self._remember(self.lock.create(record, timeout=self._left(deadline)), now)
            return True
        with self._mutex:
            if self._observed is None or self._observed.record != current.record:
                self._observed, self._observed_at = current, now
            else:
                self._observed = current
            held_by_other = current.record.holder not in ("", self.identity)
            expires_at = self._observed_at + current.record.lease_duration_seconds
        if held_by_other and expires_at > now:
            return False
        wall = self._now()
        mine = current.record.holder == self.identity
        record = LeaseRecord(
            holder=self.identity,
            lease_duration_seconds=duration,
            acquire_time=current.record.acquire_time if mine else wall,
            renew_time=wall,
            transitions=current.record.transitions + (0 if mine else 1),
        )
        self._remember(self.lock.update(current, record, timeout=self._left(deadline)), now)
        return True

    def _remember(self, written: ObservedLease, now: float) -> None:
        with self._mutex:
            self._observed, self._observed_at = written, now

    def release(self) -> bool:
        """Empty the Lease's holder if we hold it, so a candidate takes over at once."""
        with self._mutex:
            observed = self._observed
        if observed is None or observed.record.holder != self.identity:
            return False
        wall = self._now()
        record = LeaseRecord(
            holder="",
            lease_duration_seconds=1,
            acquire_time=wall,
            renew_time=wall,
            transitions=observed.record.transitions,
        )
        timeout = self.config.renew_deadline
        if self._release_by is not None:
            timeout = max(0.1, min(timeout, self._release_by - self._clock()))
        try:
            self._remember(self.lock.update(observed, record, timeout=timeout), self._clock())
        except Exception as err:
            log.warning("Failed to release the lease", lease=str(self.lock), error=describe(err))
            return False
        log.info("Released the lease", lease=str(self.lock), identity=self.identity)
        return True

    # -- the loop ----------------------------------------------------------------

    def run(
        self,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
    ) -> ElectionOutcome:
        """Campaign until leading, lead until lost or stopped; blocks the calling thread.

        ``on_started_leading`` is called once leadership is won and should start
        the work and return. ``on_stopped_leading`` is called when leadership
        ends for any reason and should stop the work before returning.
        """
        while True:
            if self._stopping.is_set():
                return ElectionOutcome.STOPPED
            if self.try_acquire_or_renew():
                break
            self._sleep(self.config.retry_period)
        return self.lead(on_started_leading, on_stopped_leading)

    def lead(
        self,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
    ) -> ElectionOutcome:
        """Lead, once :meth:`try_acquire_or_renew` took the Lease, until lost or stopped;
        blocks the calling thread. The second half of :meth:`run`, for callers that
        decide themselves when to take a Lease (a shard's, ``controller.shards``)."""
        self.is_leader.set()
        log.info("Became leader", lease=str(self.lock), identity=self.identity)
        outcome = ElectionOutcome.STOPPED
        try:
            on_started_leading()
            outcome = self._renew_until_done()
        finally:
            if outcome is ElectionOutcome.LOST:
                self.is_leader.clear()  # the fence closes before anything else happens
                log.error("Lost leadership", lease=str(self.lock), identity=self.identity)
            # On a requested stop the work ends while leadership still holds, so
            # in-flight reconciles may finish their writes (the fence still asks).
            on_stopped_leading()
            self.is_leader.clear()
        if outcome is ElectionOutcome.STOPPED and self.config.release_on_stop:
            self.release()
        return outcome

    def _renew_until_done(self) -> ElectionOutcome:
        wait = self.config.retry_period
        while True:
            self._sleep(wait)
            if self._stopping.is_set():
                return ElectionOutcome.STOPPED
            assert self._renewed_at is not None
            deadline = self._renewed_at + self.config.renew_deadline
            remaining = deadline - self._clock()
            if remaining <= 0:
                return ElectionOutcome.LOST
            if self._bounded_round(remaining):
                wait = self.config.retry_period
                continue
            if self.leader not in ("", self.identity):
                return ElectionOutcome.LOST
            wait = max(0.0, min(self.config.retry_period, deadline - self._clock()))

    def _bounded_round(self, remaining: float) -> bool:
        """One renew round on its own thread, waited for ``remaining`` seconds at most.

        A round still running then counts as failed; its thread is abandoned (a
        late success may only move ``_renewed_at`` to its own start, which the
        Lease as written then justifies).
        """
        done = threading.Event()
        result: list[bool] = []

        def attempt() -> None:
            try:
                result.append(self.try_acquire_or_renew(timeout=remaining))
            finally:
                done.set()

        self._round_done = done
        if self._stopping.is_set():
            return False
        threading.Thread(target=attempt, name="lease-renew", daemon=True).start()
        return self._wait(done, remaining) and bool(result and result[0])


def _wait_for(event: threading.Event, timeout: float) -> bool:
    return event.wait(timeout)
