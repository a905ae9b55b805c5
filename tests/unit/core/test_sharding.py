"""Sharding decided purely: a Rollout's shard, and each replica's fair share of shards."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as s

from controller.core.sharding import (
    fair_share,
    lease_names,
    member_lease_names,
    plan_shards,
    shard_of,
)


def test_a_rollouts_shard_is_a_stable_hash_of_its_namespace_and_name() -> None:
    # Pinned: every replica and every release must agree (no per-process salt).
    assert [shard_of("default", f"web-{i}", 4) for i in range(8)] == [
        shard_of("default", f"web-{i}", 4) for i in range(8)
    ]
    assert shard_of("default", "web", 4) == 0
    assert shard_of("team-a", "api", 4) == 1
    assert shard_of("default", "web", 1) == 0


def test_namespace_and_name_both_count() -> None:
    shards = {shard_of(ns, name, 64) for ns in ("a", "b", "c") for name in ("x", "y", "z")}
    assert len(shards) > 4


@given(k=s.integers(min_value=1, max_value=64), ns=s.text(max_size=20), name=s.text(max_size=40))
def test_every_rollout_has_a_shard_in_range(k: int, ns: str, name: str) -> None:
    assert 0 <= shard_of(ns, name, k) < k


def test_rollouts_spread_evenly_over_the_shards() -> None:
    for k in (2, 3, 4, 8):
        counts = Counter(shard_of(f"ns-{i % 7}", f"s-{i:05d}", k) for i in range(4000))
        assert set(counts) == set(range(k))
        expected = 4000 / k
        assert all(abs(n - expected) < 0.15 * expected for n in counts.values()), counts


def test_one_shard_keeps_the_lease_name_and_more_name_each() -> None:
    assert lease_names("lg", 1) == ["lg"]
    assert lease_names("lg", 3) == ["lg-0-of-3", "lg-1-of-3", "lg-2-of-3"]
    assert member_lease_names("lg", 2) == ["lg-member-0-of-2", "lg-member-1-of-2"]


def test_the_fair_share_rounds_up() -> None:
    assert [fair_share(4, live) for live in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 2, 1, 1]


def test_a_lone_replica_takes_every_free_shard() -> None:
    plan = plan_shards(shards=4, me="a", holders={}, live={"a"})
    assert plan.acquire == (0, 1, 2, 3)
    assert plan.release == ()


def test_a_replica_above_its_share_gives_back_the_rest_when_another_joins() -> None:
    holders = dict.fromkeys(range(4), "a")
    plan = plan_shards(shards=4, me="a", holders=holders, live={"a", "b"})
    assert plan == plan_shards(shards=4, me="a", holders=holders, live={"a", "b"})
    assert len(plan.release) == 2
    assert plan.acquire == ()
    joined = plan_shards(shards=4, me="b", holders={0: "a", 1: "a"}, live={"a", "b"}, slot=1)
    assert joined.acquire == (2, 3)


def test_no_replica_idles_while_two_hold_more_than_the_floor_share() -> None:
    holders = {0: "a", 1: "a", 2: "b", 3: "b"}
    live = {"a", "b", "c"}
    assert len(plan_shards(shards=4, me="a", holders=holders, live=live).release) == 1
    assert plan_shards(shards=4, me="c", holders={0: "a", 2: "b"}, live=live).acquire == (1, 3)
    # a, at the floor, leaves what is free for c
    assert plan_shards(shards=4, me="a", holders={0: "a", 2: "b"}, live=live).acquire == ()


def test_a_replica_without_a_member_lease_holds_nothing() -> None:
    plan = plan_shards(shards=4, me="c", holders={0: "c"}, live={"a", "b"})
    assert plan.acquire == ()
    assert plan.release == (0,)


def test_replicas_starting_together_look_first_at_different_shards() -> None:
    first = plan_shards(shards=4, me="a", holders={}, live={"a", "b"}, slot=0)
    second = plan_shards(shards=4, me="b", holders={}, live={"a", "b"}, slot=1)
    assert set(first.acquire).isdisjoint(second.acquire)


def simulate(
    shards: int, holders: dict[int, str], live: list[str], rng: random.Random, rounds: int
) -> dict[int, str]:
    """Rounds of every live replica planning and acting, in a random order each round;
    a take succeeds only on a shard still free (the Lease's resourceVersion check)."""
    slots = {me: j for j, me in enumerate(live)}
    for _ in range(rounds):
        for me in rng.sample(live, len(live)):
            plan = plan_shards(shards=shards, me=me, holders=holders, live=set(live),
                               slot=slots[me])  # fmt: skip
            for i in plan.release:
                assert holders.get(i) == me
                holders[i] = ""
            for i in plan.acquire:
                if not holders.get(i):
                    holders[i] = me
    return holders


@settings(max_examples=200, deadline=None)
@given(
    shards=s.integers(min_value=1, max_value=12),
    replicas=s.integers(min_value=1, max_value=6),
    killed=s.integers(min_value=0, max_value=5),
    seed=s.integers(min_value=0, max_value=2**32),
)
def test_every_shard_is_held_by_one_replica_within_its_share_after_a_death(
    shards: int, replicas: int, killed: int, seed: int
) -> None:
    rng = random.Random(seed)
    names = [f"r{j}" for j in range(replicas)]
    live = names[: min(replicas, shards)]  # more than K replicas: the rest are standbys
    holders = simulate(shards, {}, live, rng, rounds=4)
    assert all(holders.get(i) in live for i in range(shards))
    # Some replicas die: their Leases expire, the survivors take their shards over.
    dead = set(rng.sample(live, min(killed, len(live) - 1)))
    survivors = [me for me in live if me not in dead]
    holders = {i: ("" if h in dead else h) for i, h in holders.items()}
    holders = simulate(shards, holders, survivors, rng, rounds=4)
    share = fair_share(shards, len(survivors))
    counts = Counter(holders[i] for i in range(shards))
    assert set(counts) <= set(survivors)
    assert sum(counts.values()) == shards
    assert max(counts.values()) <= share
    # Every survivor works: at least the floor share each.
    assert all(counts[me] >= shards // len(survivors) for me in survivors)
    # Settled: nobody moves any more.
    for j, me in enumerate(survivors):
        plan = plan_shards(shards=shards, me=me, holders=holders, live=set(survivors), slot=j)
        assert plan.acquire == plan.release == ()
