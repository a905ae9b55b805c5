"""Sharding, decided purely: which shard a Rollout is in, and which shards a replica holds.

With ``--shards K`` above 1 the Rollouts are split into K shards, each owned
through its own Lease (``controller.shards`` does the I/O). Two questions are
answered here, from values alone:

- :func:`shard_of`: a Rollout's shard, a stable hash of ``namespace/name``
  (SHA-256, not Python's ``hash()``, which is salted per process: every replica,
  and every release of the controller, must agree). The first 8 bytes, as an
  integer, modulo K; the bias this leaves is below 2**-60.
- :func:`plan_shards`: what a replica should do this round, given who holds
  every shard and which replicas are live. Its fair share is
  ``ceil(K / live replicas)``: it takes free shards (no holder, or one whose
  Lease expired by its own observation) up to that share and gives back any
  above it, so a lone replica holds all K, and a second one that starts later
  gets half of them within a round or two instead of waiting forever. Since the
  shares sum to at least K, a free shard always has some live replica below its
  share to take it: every shard is held again while one replica lives. While
  some live replica holds fewer than ``K // live`` (the floor share), the others
  stop taking at the floor and one above it gives one back, so no replica idles
  (3 replicas, 4 shards: 2, 1, 1, never 2, 2, 0).

Live replicas are counted from K *member* Leases (:func:`member_lease_names`),
one held by each replica that takes part: a replica that holds no shard yet must
still be counted, or a replica holding all K would never give any back. At most
K replicas take part; more wait as standbys for a member Lease to fall free.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import dataclass

__all__ = [
    "ShardPlan",
    "fair_share",
    "lease_names",
    "member_lease_names",
    "plan_shards",
    "shard_of",
]


def shard_of(namespace: str, name: str, shards: int) -> int:
    """The shard (``0 <= shard < shards``) of the Rollout ``namespace/name``."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def lease_names(base: str, shards: int) -> list[str]:
    """The shards' Leases: ``base`` itself for one shard (as without sharding), else
    ``<base>-<i>-of-<K>``; the count in the name keeps replicas run with different
    ``--shards`` from ever sharing a Lease for different sets of Rollouts."""
    if shards == 1:
        return [base]
    return [f"{base}-{i}-of-{shards}" for i in range(shards)]


def member_lease_names(base: str, shards: int) -> list[str]:
    """The member Leases, one per taking-part replica: ``<base>-member-<j>-of-<K>``."""
    return [f"{base}-member-{j}-of-{shards}" for j in range(shards)]


def fair_share(shards: int, live: int) -> int:
    """The most shards one of ``live`` replicas should hold: ``ceil(shards / live)``."""
    return math.ceil(shards / max(live, 1))


@dataclass(frozen=True)
class ShardPlan:
    """One round's moves for a replica: shards to try to take, shards to give back."""

    acquire: tuple[int, ...]
    """Free shards to try, in order, until the share is reached (a rival may win one)."""
    release: tuple[int, ...]
    """Held shards to give back (stop their work, then empty the Lease's holder)."""


def plan_shards(
    *,
    shards: int,
    me: str,
    holders: Mapping[int, str],
    live: Set[str],
    slot: int = 0,
) -> ShardPlan:
    """What ``me`` should do this round.

    ``holders``: each shard's holder as observed (``""``, or a shard left out,
    when it is free: no holder, or its Lease expired by ``me``'s observation).
    ``live``: the identities holding a member Lease; without ``me`` among them,
    ``me`` takes no part (a standby) and holds nothing. ``slot``, the index of
    ``me``'s member Lease, rotates where it starts looking (at ``slot * share``),
    so replicas starting together try different shards first instead of racing
    for the same ones.
    """
    mine = sorted(i for i in range(shards) if holders.get(i) == me)
    if me not in live:
        return ShardPlan(acquire=(), release=tuple(mine))
    share = fair_share(shards, len(live))
    floor = shards // len(live)
    offset = slot * share
    ordered = sorted(mine, key=lambda i: (i - offset) % shards)
    counts = Counter(holders.get(i, "") for i in range(shards))
    starving = any(counts[other] < floor for other in live if other != me)
    if len(mine) > share:
        # Give back the last ones by the rotation, keeping the first ``share``.
        return ShardPlan(acquire=(), release=tuple(ordered[share:]))
    if starving and len(mine) > floor:
        # Another replica holds fewer than the floor share (3 replicas, 4 shards: one
        # must not idle while two hold 2): give one back for it.
        return ShardPlan(acquire=(), release=tuple(ordered[-1:]))
    # While another starves, stop at the floor share: what is free is for it.
    limit = floor if starving else share
    free = [i for i in range(shards) if not holders.get(i)]
    free.sort(key=lambda i: (i - offset) % shards)
    return ShardPlan(acquire=tuple(free[: max(0, limit - len(mine))]), release=())
