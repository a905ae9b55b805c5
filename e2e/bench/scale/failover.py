"""The scale benchmark with ``--shards`` above 1: the load split, and a failover.

:func:`split` says how the Rollouts and the writes were shared: Rollouts per
process (each Rollout's shard, and that shard's Lease holder), writes per process
(each process' own counter, Leases aside) and, from the audit log's user agents
(each names its process' identity), how many Rollouts were written for by more
than one process (none while every replica lives and the shards stay put).

:func:`run` then kills (SIGKILL) the replica holding the most shards and at once
releases up to 100 of its Rollouts (a new image): the time until every one of its
shards is held again (by observation, bounded below by the Lease duration, 15 s),
the time until every released Rollout reached its pause step under its new
holder, and which processes wrote for them after the kill.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from controller.core.sharding import shard_of
from e2e.bench.scale import figures
from e2e.bench.scale.fleet import Fleet
from e2e.bench.scale.objects import in_parallel, list_rollouts
from e2e.localcluster.controlplane import CONTROLLER_USER

__all__ = ["run", "split"]

RELEASED = 100
LEASE_DURATION = 15.0
NEW_IMAGE = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v3"}]}}}}


def _identity(agent: str) -> str:
    """``landinggear/<version> (<identity>)`` → the identity."""
    return agent.rsplit("(", 1)[-1].rstrip(")") if agent.endswith(")") else ""


def _writers(writes: list[figures.AuditWrite], names: list[str]) -> dict[str, set[str]]:
    """Rollout → the identities of the processes that wrote for it (Leases aside)."""
    width = len(names[0])
    known = set(names)
    found: dict[str, set[str]] = {}
    for write in writes:
        if write.user != CONTROLLER_USER or write.resource == "leases":
            continue
        rollout = write.name[:width]
        if rollout in known and write.name[width : width + 1] in ("", "-", "."):
            found.setdefault(rollout, set()).add(_identity(write.agent))
    return found


def split(
    fleet: Fleet, api: ApiClient, names: list[str], *, audit: Path, since: int
) -> dict[str, Any]:
    holders = fleet.holders(api)
    by_process = Counter(holders[shard_of(fleet.namespace, n, fleet.shards)] for n in names)
    writers = _writers(figures.audit_writes(audit, namespace=fleet.namespace, offset=since), names)
    return {
        "rollouts_by_process": dict(sorted(by_process.items())),
        "writes_by_process": dict(sorted(fleet.writes_per_process().items())),
        "rollouts_written_by_two": sum(1 for who in writers.values() if len(who) > 1),
    }


def _wait(what: str, check: Callable[[], bool], *, timeout: float, every: float = 0.25) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"scale failover: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


def run(
    fleet: Fleet, api: ApiClient, names: list[str], *, audit: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    holders = fleet.holders(api)
    counts = Counter(holders.values())
    victim = max(fleet.live(), key=lambda c: (counts[c.identity], c.identity))
    shards = sorted(i for i, who in holders.items() if who == victim.identity)
    mine = [n for n in names if shard_of(fleet.namespace, n, fleet.shards) in shards]
    released = mine[:RELEASED]
    apps = client.AppsV1Api(api)
    offset = audit.stat().st_size
    killed = time.monotonic()
    victim.kill()  # returns once the process is gone (SIGKILL, then wait)
    # Writes received from here on cannot be the victim's; an Event it sent just
    # before (its sender thread may still be draining the waves' Events) can be.
    killed_wall = time.time()
    in_parallel(released, lambda name: apps.patch_namespaced_deployment(
        name, fleet.namespace, NEW_IMAGE))  # fmt: skip
    say(f"killed {victim.identity} (shards {shards}, {len(mine)} Rollouts); "
        f"released {len(released)} of them")  # fmt: skip

    def held_again() -> bool:
        now = fleet.holders(api)
        return all(now[i] not in ("", victim.identity) for i in shards)

    def moved() -> bool:
        statuses = {
            r["metadata"]["name"]: r.get("status") or {}
            for r in list_rollouts(api, fleet.namespace)
        }
        return all(
            statuses[n].get("currentStepIndex") == 1
            and datetime.fromisoformat(
                statuses[n].get("stepStartedAt") or "1970-01-01T00:00:00Z"
            ).timestamp()
            > killed_wall
            for n in released
        )

    _wait("the killed replica's shards held again", held_again, timeout=LEASE_DURATION * 6)
    held_s = time.monotonic() - killed
    _wait("its released Rollouts at their pause step", moved, timeout=300, every=0.5)
    moved_s = time.monotonic() - killed
    time.sleep(1)  # the audit log is written asynchronously
    after = [w for w in figures.audit_writes(audit, namespace=fleet.namespace, offset=offset)
             if w.at > killed_wall]  # fmt: skip
    writers = _writers(after, names)
    return {
        "failover_killed": victim.identity,
        "failover_shards": shards,
        "failover_rollouts_released": len(released),
        "failover_shards_held_again_s": round(held_s, 1),
        "failover_rollouts_moved_s": round(moved_s, 1),
        "failover_new_holders": {str(i): fleet.holders(api)[i] for i in shards},
        "failover_writers_after_kill": sorted(
            set().union(*(writers.get(n, set()) for n in released))
        ),
        "failover_survivors_exited": any(not c.alive() for c in fleet.members if c is not victim),
        "lease_duration_s": LEASE_DURATION,
    }
