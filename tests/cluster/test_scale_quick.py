"""The scale benchmark, quick: 100 Rollouts adopted and a wave of 100 releases on the
local control plane, run as a user runs it (``python -m e2e.bench.scale --quick``);
every figure issue 15 names is there and plausible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from e2e.bench.scale.figures import KEYS
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


def quick_run(kube: ClusterUnderTest, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """``python -m e2e.bench.scale --quick`` as a user runs it; its one run's figures."""
    if kube.audit_log is None:
        pytest.skip("needs the local control plane (reads its audit log and /proc)")
    out = tmp_path / "scale.json"
    proc = subprocess.run(
        [sys.executable, "-m", "e2e.bench.scale", "--quick", *extra,
         f"--kubeconfig={kube.kubeconfig}", f"--json={out}", f"--log-dir={tmp_path / 'logs'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=580, check=False,
    )  # fmt: skip
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run,) = json.loads(out.read_text())["runs"]
    assert set(KEYS) <= set(run)
    return cast(dict[str, Any], run)


@pytest.mark.timeout(600)
def test_the_quick_scale_benchmark_measures_every_figure(
    kube: ClusterUnderTest, tmp_path: Path
) -> None:
    run = quick_run(kube, tmp_path)
    assert (run["rollouts"], run["shards"]) == (100, 1)
    assert run["controller_exited"] is False
    assert run["rss_mib"] > 10
    assert run["rss_adopted_mib"] > 10
    assert run["cpu_s"] >= run["cpu_adopted_s"] > 0
    assert run["writes_per_adoption"] > 0
    assert run["writes_per_step"] > 0
    assert run["idle_reconciles"] == 100
    assert run["idle_writes"] == 0  # issue 15: an idle reconcile writes nothing
    # Every release was acted on, and its first write came before its pause began.
    assert run["releases_acted_on"] == 100
    assert 0 < run["event_to_action_p99_s"] <= run["step_latency_p99_s"]
    assert 0 < run["step_latency_p50_s"] <= run["step_latency_p99_s"]
    # The canary ReplicaSet is created before the step that waits for it ends.
    assert 0 < run["release_to_canary_rs_created_p99_s"] <= run["step_latency_p99_s"]
    assert run["wave_reconciles"] >= 100
    # The wave started on a settled cluster: the adopted Deployments' pods were gone.
    assert run["pods_behind_at_wave"] == 0
    assert run["kcm_queues_at_wave"] == {"deployment": 0, "replicaset": 0}
    assert run["pods_settled_s"] is not None
    assert run["step_latency_p99_s"] <= run["wave100_all_paused_s"] < 300
    assert run["api_rps"] > 0
    assert run["api_rps_by_verb"]
    assert run["events_per_step"] > 0  # sent on a bucket of their own, still counted
    # The cluster's floor: 100 ReplicaSets the bench creates, each pod seen available.
    assert 0 < run["floor100_available_p50_s"] <= run["floor100_all_available_s"] < 300
    # Its split, from a watch of the pods: created, then bound, then Ready, then seen
    # available (which the 0.25 s polls may see up to a poll late).
    timeline = [run[f"floor100_pod_{m}_p50_s"] for m in ("created", "bound", "ready")]
    assert 0 < timeline[0] <= timeline[1] <= timeline[2] <= run["floor100_available_p50_s"] + 0.5
    assert run["apiserver_rss_mib"] > 50
    # The API server's own figures for the wave (its /metrics before and after).
    assert run["wave_apiserver_apf_requests"] > 0
    assert run["wave_apiserver_apf_rejected"] == 0  # the budget keeps within the server's
    assert run["wave_apiserver_write_mean_ms"] > 0
    # Reads: an adoption gets its not-yet-labelled Deployment by name (again only if
    # woken before the label's watch event); the wave decides from the watch caches
    # (a watch reopened is the only read).
    reads = dict(run["adoption_reads_by"])
    assert 1.0 <= reads.pop("get deployments") <= 1.5
    assert all(key.split()[0] in ("watch", "list") for key in reads)
    assert all(key.split()[0] in ("watch", "list") for key in run["step_reads_by"])
    # Steady releases (10 per second): each acted on, its canary ReplicaSet created.
    assert run["paced_acted_on"] == run["paced_releases"] == 50
    assert 0 <= run["paced_release_to_canary_rs_created_p99_s"] < 60  # rounded: 0.00 is ok


@pytest.mark.timeout(600)
def test_the_quick_sharded_benchmark_splits_the_load_and_fails_over(
    kube: ClusterUnderTest, tmp_path: Path
) -> None:
    run = quick_run(kube, tmp_path, "--shards=2")
    assert (run["rollouts"], run["shards"], run["replicas"]) == (100, 2, 2)
    # Both processes worked, each for the Rollouts of its own shard only.
    assert sorted(run["shard_holders"].values()) == ["scale-bench-0", "scale-bench-1"]
    assert sum(run["rollouts_by_process"].values()) == 100
    assert all(n > 0 for n in run["rollouts_by_process"].values())
    assert all(w > 0 for w in run["writes_by_process"].values())
    assert run["rollouts_written_by_two"] == 0
    assert set(run["rss_mib_by_process"]) == {"scale-bench-0", "scale-bench-1"}
    assert run["rss_mib"] == pytest.approx(sum(run["rss_mib_by_process"].values()), abs=30)
    # The failover: the survivor holds the killed one's shard, and moved its Rollouts.
    (survivor,) = {"scale-bench-0", "scale-bench-1"} - {run["failover_killed"]}
    assert set(run["failover_new_holders"].values()) == {survivor}
    assert run["failover_writers_after_kill"] == [survivor]
    assert run["failover_rollouts_released"] > 0
    assert run["failover_shards_held_again_s"] <= run["failover_rollouts_moved_s"]
    assert run["failover_shards_held_again_s"] < run["lease_duration_s"] + 30  # generous
    assert run["failover_survivors_exited"] is False
