"""Sharding against the real control plane: three controllers, ``--shards 4``.

Each runs as the shipped ServiceAccount; the API server's audit log (each
process' user agent names its identity) tells who wrote for which Rollout, and
when; the shard Leases tell who holds what. One controller is killed (SIGKILL)
while releases are under way: its shards are taken over once their Leases
expire, and its Rollouts carry on under their new holders.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.core.sharding import shard_of
from tests.support.kube import AuditEvent
from tests.support.scenario import Harness
from tests.support.waiting import eventually

K = 4
LEASE_DURATION = 15.0  # the default, which this test keeps
LEASE = "landinggear-controller"
STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "2s"}}]


@pytest.fixture(autouse=True)
def _audited(harness: Harness) -> None:
    if harness.kube.audit_log is None:
        pytest.skip("needs the local control plane's audit log (not kept by this cluster)")


def two_per_shard(namespace: str) -> list[str]:
    """Rollout names, two in each shard (names of one length: none is another's prefix)."""
    chosen: dict[int, list[str]] = {i: [] for i in range(K)}
    for n in range(1000):
        name = f"app-{n:03d}"
        bucket = chosen[shard_of(namespace, name, K)]
        if len(bucket) < 2:
            bucket.append(name)
        if all(len(b) == 2 for b in chosen.values()):
            break
    return sorted(name for names in chosen.values() for name in names)


def shard_holders(harness: Harness, shards: int = K) -> dict[int, str]:
    listed = json.loads(harness.kube.kubectl(
        "get", "leases", f"--namespace={harness.namespace}", "-o", "json").stdout)  # fmt: skip
    holders = {}
    for lease in listed["items"]:
        name = lease["metadata"]["name"]
        for i in range(shards):
            if name == f"{LEASE}-{i}-of-{shards}":
                holders[i] = lease["spec"].get("holderIdentity") or ""
    return holders


def audited(harness: Harness, *, since: datetime) -> list[AuditEvent]:
    """Writes in the test's namespace (earlier tests' controllers had the same identities)."""
    return [e for e in harness.kube.audit(since=since) if e.namespace == harness.namespace]


def rollout_of(name: str, rollouts: list[str]) -> str | None:
    for rollout in rollouts:
        if name == rollout or name.startswith((rollout + "-", rollout + ".")):
            return rollout
    return None


def writers(events: list[AuditEvent], rollouts: list[str]) -> dict[str, list[tuple[datetime, str]]]:
    """Per Rollout, its controllers' writes (Leases aside): when, and by which identity."""
    found: dict[str, list[tuple[datetime, str]]] = {r: [] for r in rollouts}
    for event in events:
        rollout = rollout_of(event.name, rollouts)
        if rollout is None or event.resource == "leases" or not event.agent.endswith(")"):
            continue
        identity = event.agent.rsplit("(", 1)[1].rstrip(")")
        if identity in ("a", "b", "c", "old"):
            found[rollout].append((event.received, identity))
    return {r: sorted(w) for r, w in found.items()}


def healthy_at_new_stable(harness: Harness, names: list[str], old: dict[str, str]) -> bool:
    for name in names:
        status = harness.status(name)
        stable = status.get("stableRevision")
        if status.get("phase") != "Healthy" or not stable or stable == old.get(name):
            return False
    return True


@pytest.mark.timeout(600)
def test_shards_split_among_replicas_and_a_killed_replicas_shards_are_taken_over(
    harness: Harness,
) -> None:
    names = two_per_shard(harness.namespace)
    for name in names:
        harness.create_app(name=name, replicas=1)
    controllers = {who: harness.start_controller(identity=who, extra=(f"--shards={K}",))
                   for who in ("a", "b", "c")}  # fmt: skip

    def settled() -> dict[int, str] | None:
        holders = shard_holders(harness)
        counts = Counter(holders.values())
        fair = len(holders) == K and "" not in counts and max(counts.values()) <= 2
        return holders if fair and len(counts) == 3 else None

    holders = eventually(settled, timeout=90, interval=1, what="4 shards split 2, 1, 1")
    started = datetime.now(UTC)
    for name in names:
        harness.create_rollout(name=name, steps=STEPS)
    v1 = {}
    for name in names:
        v1[name] = harness.wait_status(f"{name} adopted", timeout=120, name=name,
                                       phase="Healthy")["stableRevision"]  # fmt: skip
    assert shard_holders(harness) == holders, "the shards moved while all replicas lived"

    # Each Rollout was written for by one replica only: its shard's holder.
    time.sleep(1)  # the audit log is written asynchronously
    adopted = writers(audited(harness, since=started), names)
    for name, writes in adopted.items():
        assert {who for _, who in writes} == {holders[shard_of(harness.namespace, name, K)]}, (
            name, writes)  # fmt: skip
    per_replica = Counter(holders[shard_of(harness.namespace, n, K)] for n in names)
    print(f"\nshard holders {holders}; Rollouts per replica {dict(per_replica)}")

    # Kill the replica holding the most shards, then release every app at once.
    victim = max(per_replica, key=lambda who: (per_replica[who], who))
    victims_shards = {i for i, who in holders.items() if who == victim}
    killed_wall, killed = datetime.now(UTC), time.monotonic()
    controllers[victim].proc.send_signal(signal.SIGKILL)
    controllers[victim].proc.wait(timeout=10)
    for name in names:
        harness.set_image("web:v2", name=name)

    def taken_over() -> dict[int, str] | None:
        now = shard_holders(harness)
        return now if all(now.get(i) not in ("", victim) for i in victims_shards) else None

    after = eventually(taken_over, timeout=LEASE_DURATION + 45, interval=0.5,
                       what=f"{victim}'s shards {sorted(victims_shards)} taken over")  # fmt: skip
    takeover_s = time.monotonic() - killed
    eventually(lambda: healthy_at_new_stable(harness, names, v1), timeout=180, interval=1,
               what="every Rollout promoted to its new revision")  # fmt: skip
    moved_s = time.monotonic() - killed
    print(
        f"killed {victim} (shards {sorted(victims_shards)}); held again after "
        f"{takeover_s:.1f} s by {after}; every Rollout promoted after {moved_s:.1f} s"
    )
    assert takeover_s <= LEASE_DURATION + 30  # generous: two shared cores
    assert all(controllers[w].proc.poll() is None for w in controllers if w != victim)

    # No Rollout was written for by two replicas at once: by Rollout, the victim's
    # writes all came before the kill, and one survivor wrote after.
    time.sleep(1)
    everything = writers(audited(harness, since=started), names)
    for name, writes in everything.items():
        late = [(at, who) for at, who in writes if who == victim and at > killed_wall]
        assert late == [], (name, late)
        after_kill = {who for at, who in writes if at > killed_wall + timedelta(seconds=1)}
        assert len(after_kill) == 1, (name, writes)


@pytest.mark.timeout(300)
def test_sharded_replicas_wait_for_the_unsharded_leader_to_go(harness: Harness) -> None:
    harness.create_app(replicas=1)
    old = harness.start_controller(identity="old")
    harness.create_rollout(steps=STEPS)
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    started = datetime.now(UTC)
    new = harness.start_controller(identity="a", extra=("--shards=2",))
    eventually(new.metrics, timeout=30, what="the sharded replica serving")
    time.sleep(6)  # three rounds: it must take no shard while the old leader leads
    assert set(shard_holders(harness, shards=2).values()) <= {""}
    assert old.stop() == 0  # SIGTERM: the old leader releases the single Lease
    eventually(lambda: set(shard_holders(harness, shards=2).values()) == {"a"}, timeout=30,
               interval=0.5, what="the sharded replica holding both shards")  # fmt: skip
    harness.set_image("web:v2")
    eventually(lambda: healthy_at_new_stable(harness, ["web"], {"web": v1}), timeout=90,
               interval=1, what="the release promoted by the sharded replica")  # fmt: skip
    time.sleep(1)
    writes = writers(audited(harness, since=started), ["web"])["web"]
    assert {who for at, who in writes} == {"a"}  # the old leader had nothing left to write


def first_lease_write(events: list[AuditEvent], who: str, lease: str, after: datetime) -> datetime:
    """When ``who`` first wrote ``lease`` successfully after ``after`` (far future: never)."""
    times = [e.received for e in events if e.resource == "leases" and e.name == lease
             and e.code < 300 and e.received > after and e.agent.endswith(f"({who})")]  # fmt: skip
    return min(times, default=datetime.max.replace(tzinfo=UTC))


@pytest.mark.timeout(400)
def test_a_frozen_replica_writes_nothing_for_a_shard_it_no_longer_holds(harness: Harness) -> None:
    shards = 2
    by_shard: dict[int, str] = {}
    for n in range(100):
        by_shard.setdefault(shard_of(harness.namespace, f"app-{n:03d}", shards), f"app-{n:03d}")
    names = [by_shard[0], by_shard[1]]
    for name in names:
        harness.create_app(name=name, replicas=1)
    a = harness.start_controller(identity="a", extra=(f"--shards={shards}",))
    b = harness.start_controller(identity="b", extra=(f"--shards={shards}",))

    def one_each() -> dict[int, str] | None:
        found = shard_holders(harness, shards)
        return found if sorted(found.values()) == ["a", "b"] else None

    holders = eventually(one_each, timeout=90, interval=1, what="one shard each")
    for name in names:
        harness.create_rollout(name=name, steps=STEPS)
    stable = {n: harness.wait_status(f"{n} adopted", timeout=120, name=n,
                                     phase="Healthy")["stableRevision"] for n in names}  # fmt: skip
    of_a = names[0] if holders[0] == "a" else names[1]

    # a frozen: b takes its shard over and releases a's Rollout.
    frozen_at = datetime.now(UTC)
    a.proc.send_signal(signal.SIGSTOP)
    harness.set_image("web:v2", name=of_a)
    eventually(lambda: healthy_at_new_stable(harness, [of_a], stable), timeout=120, interval=1,
               what="b promoting a's Rollout")  # fmt: skip
    stable = {n: harness.status(n)["stableRevision"] for n in names}
    left = LEASE_DURATION + 2 - (datetime.now(UTC) - frozen_at).total_seconds()
    time.sleep(max(0.0, left))

    # b frozen, a resumed with work waiting in both shards: a writes for each only
    # once it holds that shard again (b's Leases expire by a's observation).
    b.proc.send_signal(signal.SIGSTOP)
    for name in names:
        harness.set_image("web:v3", name=name)
    a_resumed = datetime.now(UTC)
    a.proc.send_signal(signal.SIGCONT)
    try:
        eventually(lambda: healthy_at_new_stable(harness, names, stable), timeout=150,
                   interval=1, what="a promoting both Rollouts")  # fmt: skip
    finally:
        b_resumed = datetime.now(UTC)
        b.proc.send_signal(signal.SIGCONT)
    time.sleep(5)  # b wakes with its fence closed; let it try
    assert a.proc.poll() is None
    assert b.proc.poll() is None  # a lost shard does not end the process

    events = audited(harness, since=frozen_at - timedelta(seconds=1))
    wrote = writers(events, names)
    for who, resumed in (("a", a_resumed), ("b", b_resumed)):
        for name in names:
            lease = f"{LEASE}-{shard_of(harness.namespace, name, shards)}-of-{shards}"
            held_again = first_lease_write(events, who, lease, resumed)
            early = [at for at, w in wrote[name] if w == who and resumed < at < held_again]
            assert early == [], f"{who} wrote for {name} before holding {lease} again: {early}"
    back = max(first_lease_write(events, "a", f"{LEASE}-{i}-of-2", a_resumed) for i in (0, 1))
    print(f"\na resumed {a_resumed.time()}, held both shards again at {back.time()}; "
          f"Abandoned reconcile in the logs of a: {'Abandoned reconcile' in a.logs()}, "
          f"of b: {'Abandoned reconcile' in b.logs()}")  # fmt: skip
