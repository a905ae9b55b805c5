"""Replicas sharing K shard Leases (in memory, short real timings): a fair share each,
a dead replica's shards taken over, writes fenced by the shard being reconciled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from controller.kube.leaderelection import ElectionConfig, LeaderElector
from controller.kube.lease import LeaseRecord, ObservedLease
from controller.shards import ShardSet
from tests.support.waiting import eventually
from tests.unit.kube.fakes import FakeLeaseLock

K = 4
CONFIG = ElectionConfig(lease_duration=3.0, renew_deadline=2.0, retry_period=0.2)


class Severable:
    """One replica's view of a shared Lease; ``cut`` makes its every call fail."""

    def __init__(self, lock: FakeLeaseLock) -> None:
        self.lock = lock
        self.cut = False

    def _check(self) -> None:
        if self.cut:
            raise ConnectionError("cut off")

    def get(self, *, timeout: float) -> ObservedLease | None:
        self._check()
        return self.lock.get(timeout=timeout)

    def create(self, record: LeaseRecord, *, timeout: float) -> ObservedLease:
        self._check()
        return self.lock.create(record, timeout=timeout)

    def update(
        self, current: ObservedLease, record: LeaseRecord, *, timeout: float
    ) -> ObservedLease:
        self._check()
        return self.lock.update(current, record, timeout=timeout)


class Replica:
    def __init__(
        self,
        name: str,
        shards: list[FakeLeaseLock],
        members: list[FakeLeaseLock],
        single: FakeLeaseLock | None = None,
    ) -> None:
        self.views = [Severable(lock) for lock in (*shards, *members)]
        self.gained: list[int] = []
        self.set = ShardSet(
            identity=name,
            shard_locks=self.views[:K],
            member_locks=self.views[K:],
            config=CONFIG,
            on_gained=self.gained.append,
            drain_timeout=0.3,
            single_lock=single,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.set.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def cut(self) -> None:
        for view in self.views:
            view.cut = True

    def close(self) -> None:
        """As the manager stops a sharded replica: the rounds end, then every shard and
        the member Lease are given back."""
        self.stop.set()
        self.thread.join(5)
        self.set.close(timeout=5)


World = tuple[list[FakeLeaseLock], list[FakeLeaseLock], list[Replica]]


@pytest.fixture
def world() -> Iterator[World]:
    shards, members = [FakeLeaseLock() for _ in range(K)], [FakeLeaseLock() for _ in range(K)]
    replicas: list[Replica] = []
    yield shards, members, replicas
    for replica in replicas:
        replica.close()


def holders(shards: list[FakeLeaseLock]) -> list[str]:
    return [lock.holder for lock in shards]


def test_a_lone_replica_holds_every_shard_and_a_second_gets_half(world: World) -> None:
    shards, members, replicas = world
    replicas.append(a := Replica("a", shards, members))
    eventually(lambda: holders(shards) == ["a"] * K, timeout=10, what="a holding all")
    assert sorted(a.gained) == list(range(K))
    replicas.append(b := Replica("b", shards, members))
    eventually(lambda: sorted(holders(shards)) == ["a", "a", "b", "b"], timeout=10,
               what="two shards each")  # fmt: skip
    # Each holds its two by its own clock too (a renewal may be late on a busy machine).
    eventually(lambda: sorted(a.set.held() + b.set.held()) == list(range(K)), timeout=10,
               what="each holding its two")  # fmt: skip


def test_a_dead_replicas_shards_are_taken_over_once_their_leases_expire(world: World) -> None:
    shards, members, replicas = world
    replicas += [a := Replica("a", shards, members), Replica("b", shards, members)]
    eventually(lambda: sorted(holders(shards)) == ["a", "a", "b", "b"], timeout=10,
               what="two shards each")  # fmt: skip
    a.cut()
    eventually(lambda: a.set.held() == [], timeout=5, what="a's fence closed")
    eventually(lambda: holders(shards) == ["b"] * K, timeout=10, what="b holding all")


def test_writes_are_fenced_by_the_shard_being_reconciled(world: World) -> None:
    shards, members, replicas = world
    replicas += [a := Replica("a", shards, members), b := Replica("b", shards, members)]
    eventually(lambda: len(a.set.held()) == len(b.set.held()) == 2, timeout=10,
               what="two shards each")  # fmt: skip
    mine = next(f"r{i}" for i in range(100) if a.set.shard_of("ns", f"r{i}") in a.set.held())
    theirs = next(f"r{i}" for i in range(100) if a.set.shard_of("ns", f"r{i}") in b.set.held())
    assert a.set.owns("ns", mine)
    assert not a.set.owns("ns", theirs)
    with a.set.reconciling("ns", theirs):
        assert not a.set.may_write(0.0)

    def writes_for(name: str | None) -> bool:
        if name is None:
            return a.set.may_write(0.1)  # outside a reconcile: some shard held
        with a.set.reconciling("ns", name):
            return a.set.may_write(0.1)

    eventually(lambda: writes_for(mine), timeout=5, what="a writing for its own shard")
    eventually(lambda: writes_for(None), timeout=5, what="a writing outside a reconcile")


def test_stopping_gives_every_shard_back_at_once(world: World) -> None:
    shards, members, replicas = world
    replicas.append(a := Replica("a", shards, members))
    eventually(lambda: holders(shards) == ["a"] * K, timeout=10, what="a holding all")
    a.close()
    assert holders(shards) == [""] * K
    assert [lock.holder for lock in members] == [""] * K


def test_no_shard_is_taken_while_an_unsharded_leader_holds_the_single_lease(world: World) -> None:
    shards, members, replicas = world
    single = FakeLeaseLock()
    slow = ElectionConfig(lease_duration=60, renew_deadline=40, retry_period=1)
    old = LeaderElector(single, "old", config=slow)
    assert old.try_acquire_or_renew()
    replicas.append(Replica("a", shards, members, single))
    time.sleep(1.0)  # rounds every 0.2 s; the old leader's Lease holds for 60 s
    assert holders(shards) == [""] * K
    old.release()  # the old leader stopped
    eventually(lambda: holders(shards) == ["a"] * K, timeout=10, what="a holding all")
    # And back to one shard: a new unsharded leader; the sharded replica leaves.
    new = LeaderElector(single, "new", config=slow)
    assert new.try_acquire_or_renew()
    eventually(lambda: holders(shards) == [""] * K, timeout=10, what="every shard given back")
