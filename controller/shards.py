"""Sharding on Kubernetes itself: K shard Leases, K member Leases, a fair share each.

With ``--shards K`` above 1 every replica works. A Rollout belongs to shard
:func:`controller.core.sharding.shard_of` (a stable hash of namespace/name); shard
``i`` is owned through the Lease ``<lease-name>-<i>-of-<K>``, with the same
election as the single Lease (:class:`controller.kube.leaderelection.LeaderElector`:
expiry judged by local observation, a bounded renew round on its own thread, the
Lease released on a requested stop). What is new is who campaigns for what:

- every ``retry_period`` one coordinating thread per replica holds (or tries to
  take) one of K member Leases, so that replicas that hold no shard yet are
  counted; reads the other member Leases and every shard Lease it does not hold;
  and asks :func:`controller.core.sharding.plan_shards` what to do: take free
  shards (no holder, or expired by its own observation) up to its fair share
  ``ceil(K / live replicas)``, give back any above it. A dead replica's shards
  are free once their Leases expire (``lease_duration`` after their last change
  was seen) and are taken within the next round;
- a shard taken is led on its own thread (:meth:`LeaderElector.lead`); it is lost
  when its renewal fails past ``renew_deadline`` or another holder shows, exactly
  like the single Lease, but the process carries on with its other shards (no
  exit 1): the shard's writes stop at once, whoever takes it next reconciles it;
- fencing is per shard: a worker reconciling a Rollout sets its shard in a
  context variable (:meth:`ShardSet.reconciling`) and every write asks
  :meth:`ShardSet.may_write`, which holds only while *that* shard's Lease is held
  with ``fence_margin`` to spare. A write made outside any reconcile needs some
  shard held with margin (Lease writes have their own, unfenced client).

While the unsharded Lease (``--lease-name`` itself, what ``--shards 1`` holds) has
a live holder, a sharded replica takes no shard and gives back what it holds:
changing from 1 to K shards, the new replicas wait for the old leader to go;
from K to 1, the new leader starts at once and the sharded replicas leave within
a round (their reconciles in flight drain first). Replicas run with two
different K above 1 are not kept apart: change K with the controller scaled to
zero.

Giving a shard back (a new replica joined, or SIGTERM) first waits, up to
``drain_timeout``, for the reconciles of that shard in flight, then empties the
Lease's holder so the next holder starts at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

import structlog

from controller.core.sharding import plan_shards, shard_of
from controller.kube.errors import describe
from controller.kube.leaderelection import ElectionConfig, LeaderElector
from controller.kube.lease import LeaseLock

__all__ = ["ShardSet"]

log = structlog.get_logger("landinggear.shards")

_current: ContextVar[int | None] = ContextVar("landinggear_shard", default=None)
"""The shard of the Rollout the current thread reconciles (None: none)."""

_UNKNOWN = "?"
"""A Lease that could not be read: held by someone, as far as this round knows."""


class ShardSet:
    """The shards one replica campaigns for, holds and gives back; see the module docstring."""

    def __init__(
        self,
        *,
        identity: str,
        shard_locks: Sequence[LeaseLock],
        member_locks: Sequence[LeaseLock],
        config: ElectionConfig,
        on_gained: Callable[[int], None],
        drain_timeout: float,
        single_lock: LeaseLock | None = None,
    ) -> None:
        self.identity = identity
        self.count = len(shard_locks)
        self.config = config
        self._on_gained = on_gained
        self._drain_timeout = drain_timeout
        self._shards = [LeaderElector(lock, identity, config=config) for lock in shard_locks]
        self._members = [LeaderElector(lock, identity, config=config) for lock in member_locks]
        self._single = LeaderElector(single_lock, identity, config=config) if single_lock else None
        """Only read: the unsharded leader's Lease, held while a K = 1 replica still runs."""
        self._blocked = False
        self._threads: dict[int, threading.Thread] = {}
        """Shard → the thread leading it (while alive)."""
        self._member: tuple[int, threading.Thread] | None = None
        self._in_flight = [0] * self.count
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._run_stop: threading.Event | None = None
        self._drain_by: float | None = None
        """Once closing: when draining must end, so that the releases fit the close."""

    # ------------------------------------------------------------ questions

    def shard_of(self, namespace: str, name: str) -> int:
        return shard_of(namespace, name, self.count)

    def holds(self, shard: int, margin: float = 0.0) -> bool:
        """Whether this replica holds ``shard`` and will ``margin`` seconds from now."""
        return self._shards[shard].holds(margin)

    def held(self) -> list[int]:
        return [i for i in range(self.count) if self.holds(i)]

    def holds_any(self, margin: float = 0.0) -> bool:
        return any(self.holds(i, margin) for i in range(self.count))

    def owns(self, namespace: str, name: str) -> bool:
        """Whether the Rollout ``namespace/name`` is in a shard held now."""
        return self.holds(self.shard_of(namespace, name))

    def may_write(self, margin: float) -> bool:
        """The fence's question: the current reconcile's shard (else any) held with margin."""
        shard = _current.get()
        return self.holds_any(margin) if shard is None else self.holds(shard, margin)

    @contextlib.contextmanager
    def reconciling(self, namespace: str, name: str) -> Iterator[int]:
        """While a worker reconciles ``namespace/name``: its shard is the one writes ask for."""
        shard = self.shard_of(namespace, name)
        token = _current.set(shard)
        with self._mutex:
            self._in_flight[shard] += 1
        try:
            yield shard
        finally:
            with self._mutex:
                self._in_flight[shard] -= 1
            _current.reset(token)

    # ------------------------------------------------------------ one round

    def _observe(self, elector: LeaderElector) -> str:
        if self._halted():
            return _UNKNOWN
        try:
            holder = elector.observe(timeout=self.config.retry_period)
        except Exception as err:
            log.warning("Failed to read a lease", lease=str(elector.lock), error=describe(err))
            return _UNKNOWN
        return "" if holder == self.identity else holder  # ours from before: take it back

    def _live(self) -> set[str]:
        """The replicas holding a member Lease, this one taking one first if it can."""
        if self._member is not None and not self._member[1].is_alive():
            self._member = None
        live: set[str] = set()
        for slot, elector in enumerate(self._members):
            if self._member is not None and self._member[0] == slot:
                live.add(self.identity)
                continue
            if self._member is None and not self._halted():
                elector.rearm()
                if elector.try_acquire_or_renew(timeout=self.config.retry_period):
                    self._member = (slot, self._start(elector, f"member-{slot}"))
                    live.add(self.identity)
                    continue
            holder = self._observe(elector)
            if holder and holder != _UNKNOWN:
                live.add(holder)
        return live

    def round(self) -> None:
        """Take part once: hold a member Lease, read the rest, take and give back shards."""
        live = self._live()
        single = self._observe(self._single) if self._single is not None else ""
        blocked = single not in ("", _UNKNOWN)
        if blocked != self._blocked:
            log.info("An unsharded leader holds the single Lease; taking no shard" if blocked
                     else "The single Lease is free; taking shards", holder=single)  # fmt: skip
        self._blocked = blocked
        if blocked:
            # An unsharded leader (``--shards 1``, during a change of K) reconciles
            # every Rollout: take nothing, give everything back, until it is gone.
            live = set()
        holders: dict[int, str] = {}
        for i, elector in enumerate(self._shards):
            thread = self._threads.get(i)
            if thread is not None and thread.is_alive():
                holders[i] = self.identity if elector.is_leader.is_set() else _UNKNOWN
            else:
                holders[i] = self._observe(elector)
        if self._halted():  # asked to stop mid-round: what was read may be partial
            return
        slot = self._member[0] if self._member is not None else 0
        plan = plan_shards(shards=self.count, me=self.identity, holders=holders, live=live,
                           slot=slot)  # fmt: skip
        for i in plan.release:
            log.info("Giving back a shard", shard=i, live=len(live))
            self._shards[i].stop()
        for i in plan.acquire:
            if self._halted():
                return
            elector = self._shards[i]
            elector.rearm()
            if elector.try_acquire_or_renew(timeout=self.config.retry_period):
                self._threads[i] = self._start(elector, f"shard-{i}", shard=i)

    def _start(
        self, elector: LeaderElector, name: str, *, shard: int | None = None
    ) -> threading.Thread:
        def started() -> None:
            if shard is not None:
                log.info("Acquired a shard", shard=shard, lease=str(elector.lock))
                self._on_gained(shard)

        def stopped() -> None:
            if shard is not None:
                self._drain(shard, elector)

        thread = threading.Thread(
            target=elector.lead, args=(started, stopped), name=f"lease-{name}", daemon=True
        )
        thread.start()
        return thread

    def _drain(self, shard: int, elector: LeaderElector) -> None:
        """Before a shard's Lease is released: let its reconciles in flight finish (lost,
        there is nothing to wait for: the fence already refuses their writes)."""
        deadline = time.monotonic() + self._drain_timeout
        if self._drain_by is not None:
            deadline = min(deadline, self._drain_by)
        while elector.holds() and time.monotonic() < deadline:
            with self._mutex:
                if self._in_flight[shard] == 0:
                    break
            time.sleep(0.05)
        log.info("Stopped working on a shard", shard=shard, lost=not elector.holds())

    # ------------------------------------------------------------ the loop

    def _halted(self) -> bool:
        """Asked to stop: a round in progress sends no further Lease request (each may
        take up to ``retry_period``), so a SIGTERM is not held up by a silent server."""
        return self._stop.is_set() or (self._run_stop is not None and self._run_stop.is_set())

    def run(self, stop: threading.Event) -> None:
        """Take part every ``retry_period`` until ``stop`` (then :meth:`close`)."""
        self._run_stop = stop
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.round()
            except Exception as err:  # one bad round must not end the replica's part
                log.exception("Shard round failed", error=describe(err))
            stop.wait(max(0.0, self.config.retry_period - (time.monotonic() - started)))

    def close(self, *, timeout: float) -> None:
        """Give back every shard (draining each), then the member Lease, within
        ``timeout`` seconds (a thread still blocked then is a daemon, left to the exit)."""
        deadline = time.monotonic() + timeout
        self._drain_by = deadline - min(1.0, timeout / 4)  # the rest for the releases
        self._stop.set()
        for elector in self._shards:
            elector.stop(by=deadline)
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._member is not None:
            self._members[self._member[0]].stop(by=deadline)
            self._member[1].join(max(0.0, deadline - time.monotonic()))
