"""``run --shards K`` wired into a real ``Manager`` (a kubeconfig that points nowhere:
nothing connects until it runs): the Leases it would hold, a fence that refuses
writes for shards not held, workers that leave other replicas' Rollouts alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from controller.kube.fencing import LeadershipLost
from controller.kube.objects import ObjectKey
from controller.manager import Manager
from controller.settings import Settings
from tests.support.waiting import eventually
from tests.unit.test_manager_health import KUBECONFIG


def manager(tmp_path: Path, **settings: Any) -> Manager:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return Manager(Settings(kubeconfig=str(path), lease_namespace="lg", **settings))


def test_one_shard_is_todays_single_lease(tmp_path: Path) -> None:
    single = manager(tmp_path)
    assert single.shards is None
    assert single.elector is not None
    assert str(single.elector.lock) == "lease lg/landinggear-controller"


def test_k_shards_are_k_shard_leases_and_k_member_leases(tmp_path: Path) -> None:
    sharded = manager(tmp_path, shards=3)
    assert sharded.elector is None
    assert sharded.shards is not None
    names = [str(e.lock) for e in (*sharded.shards._shards, *sharded.shards._members)]
    assert names == [f"lease lg/landinggear-controller-{i}-of-3" for i in range(3)] + [
        f"lease lg/landinggear-controller-member-{j}-of-3" for j in range(3)
    ]


def test_sharding_needs_leader_election() -> None:
    with pytest.raises(pydantic.ValidationError, match="need leader election"):
        Settings(shards=2, leader_elect=False)


def test_no_write_leaves_for_a_shard_not_held_and_reads_do(tmp_path: Path) -> None:
    sharded = manager(tmp_path, shards=4)
    assert sharded.shards is not None
    sharded.fence.check("GET")
    with pytest.raises(LeadershipLost):
        sharded.fence.check("POST")
    with sharded.shards.reconciling("default", "web"), pytest.raises(LeadershipLost):
        sharded.fence.check("PUT")


def test_workers_drop_the_keys_of_shards_not_held(tmp_path: Path) -> None:
    sharded = manager(tmp_path, shards=4, workers=1)
    sharded.start_workers()
    try:
        for i in range(20):
            sharded.queue.add(ObjectKey("default", f"web-{i}"))
        eventually(lambda: sharded.queue.depth == 0, timeout=10, what="the queue drained")
        (family,) = sharded.metrics.reconciles.collect()
        samples = family.samples
        assert sum(s.value for s in samples) == 0  # none reconciled
    finally:
        sharded.stop_workers(timeout=5)
        sharded.queue.shut_down()


def test_the_shards_held_are_a_gauge_only_when_sharded(tmp_path: Path) -> None:
    sharded = manager(tmp_path, shards=2)
    assert sharded.metrics.registry.get_sample_value("landinggear_shards_held") == 0
    assert sharded.metrics.registry.get_sample_value("landinggear_leader") == 0
    single = manager(tmp_path)
    assert single.metrics.registry.get_sample_value("landinggear_shards_held") is None
