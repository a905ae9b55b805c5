"""The scale bench starts its wave on a settled cluster: the adopted Deployments' pods,
which run on until the controller manager deletes them, count as not settled yet, and
so do the controller manager's queues until they are drained."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e.bench.scale.objects import behind
from e2e.bench.scale.settle import queues_of, settled, settled_after

pytestmark = pytest.mark.unit


def _pod(phase: str = "Running", *, deleting: bool = False) -> dict[str, Any]:
    meta = {"deletionTimestamp": "2026-12-02T04:00:00Z"} if deleting else {}
    return {"metadata": {"name": "p", **meta}, "status": {"phase": phase}}


def test_the_end_state_is_settled() -> None:
    assert behind([_pod() for _ in range(3)], 3) == 0


def test_scaled_away_pods_still_running_are_not_settled() -> None:
    # What the 10,000 wave of 2 Dec met: every Rollout Healthy, 15,887 pods running.
    assert behind([_pod() for _ in range(5)], 3) == 2


def test_terminating_and_pending_pods_are_not_settled() -> None:
    pods = [_pod(), _pod(), _pod(deleting=True), _pod("Pending")]
    assert behind(pods, 2) == 2
    assert behind(pods, 3) == 3  # and one of the 3 is not running yet


def test_without_an_expected_count_only_the_moving_pods_count() -> None:
    assert behind([_pod(), _pod(), _pod(deleting=True), _pod("Pending")]) == 2
    assert behind([]) == 0


def test_a_pod_without_a_status_yet_is_starting() -> None:
    assert behind([{"metadata": {"name": "p"}}], 0) == 1


@given(
    running=st.integers(0, 50),
    terminating=st.integers(0, 50),
    pending=st.integers(0, 50),
    expected=st.integers(0, 50),
)
def test_settled_exactly_when_the_expected_pods_run_and_nothing_moves(
    running: int, terminating: int, pending: int, expected: int
) -> None:
    pods = [_pod() for _ in range(running)]
    pods += [_pod(deleting=True) for _ in range(terminating)]
    pods += [_pod("Pending") for _ in range(pending)]
    settled = running == expected and not terminating and not pending
    assert (behind(pods, expected) == 0) is settled


# As kube-controller-manager v1.36 serves it (the 2 Dec run's cluster, abridged).
METRICS = """\
# HELP workqueue_depth [STABLE] Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="deployment"} 0
workqueue_depth{name="garbage_collector_attempt_to_delete"} 1291
workqueue_depth{name="replicaset"} 2854
# HELP workqueue_adds_total [STABLE] Total number of adds handled by workqueue
# TYPE workqueue_adds_total counter
workqueue_adds_total{name="replicaset"} 111196
"""


def test_the_queues_are_read_by_name_from_the_metrics_page() -> None:
    assert queues_of(METRICS) == {"deployment": 0, "replicaset": 2854}


def test_a_backed_up_queue_is_not_settled_though_the_pods_are() -> None:
    depths = queues_of(METRICS)
    assert not settled(0, depths)
    assert settled(0, {**depths, "replicaset": 0})
    assert not settled(1, {**depths, "replicaset": 0})


def test_a_queue_the_page_does_not_carry_is_not_taken_as_empty() -> None:
    depths = queues_of(METRICS.replace('name="replicaset"', 'name="other"'))
    assert "replicaset" not in depths
    assert not settled(0, depths)


@given(
    deployment=st.integers(0, 3),
    replicaset=st.integers(0, 3),
    behind_count=st.integers(0, 3),
)
def test_the_pods_are_counted_only_once_the_queues_are_empty(
    deployment: int, replicaset: int, behind_count: int
) -> None:
    counted: list[int] = []

    def pods_behind() -> int:
        counted.append(behind_count)
        return behind_count

    depths = {"deployment": float(deployment), "replicaset": float(replicaset)}
    answer = settled_after(depths, pods_behind)
    assert answer is settled(behind_count, depths)
    assert bool(counted) is (deployment == replicaset == 0)
