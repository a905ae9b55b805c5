"""The scale bench reads the controller's figures with ``?name[]=`` scrapes: the same
sums as a whole page, without the per-Rollout series (at 10,000 Rollouts a whole page
is 5.9 MiB and about 0.6 s of the controller's CPU, and the wave polls 4 times a second).

A real :class:`controller.metrics.Metrics` served on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.kube.objects import ObjectKey
from controller.metrics import Metrics, serve
from controller.reconcile.reconciler import Observation
from e2e.bench.scale import realistic, run
from e2e.bench.scale.fleet import Controller

pytestmark = pytest.mark.unit


@pytest.fixture
def reads() -> list[int]:
    return []


@pytest.fixture
def metrics(reads: list[int]) -> Metrics:
    def observed() -> dict[ObjectKey, Observation]:
        reads.append(1)
        return {ObjectKey("shop", f"web-{i}"): Observation("Healthy", 0, None) for i in range(50)}

    found = Metrics(observed=observed, queue_depth=lambda: 5, leading=lambda: True)
    found.reconciles.labels("done").inc(3)
    found.reconciles.labels("requeue").inc(2)
    found.duration.observe(0.5)
    found.count_write("create", "events")
    found.count_write("update", "rollouts/status")
    found.count_write("update", "leases")
    found.count_read("get", "deployments")
    found.count_provider_error("prometheus", "timeout")
    return found


@pytest.fixture
def controller(metrics: Metrics) -> Iterator[Controller]:
    server = serve("127.0.0.1:0", registry=metrics.registry, ready=lambda: True)
    # The bench's handle on a controller process, pointed at this server instead.
    handle = object.__new__(Controller)
    handle.port = server.server_address[1]
    yield handle
    server.shutdown()
    server.server_close()


def test_values_are_read_by_name_without_the_rollouts_state(
    controller: Controller, reads: list[int]
) -> None:
    assert controller.value(run.DONE) == 3
    assert controller.value("landinggear_reconcile_total{") == 5
    assert controller.value("landinggear_reconcile_duration_seconds_sum") == 0.5
    assert controller.value("landinggear_workqueue_depth") == 5
    assert controller.value("landinggear_leader ") == 1
    assert controller.value(realistic.TIMEOUTS) == 1
    assert controller.writes_by() == {"create events": 1, "update rollouts/status": 1}
    assert controller.writes_by("reads") == {"get deployments": 1}
    assert reads == []  # no scrape gathered the per-Rollout series


def test_a_name_asks_for_those_samples_only(controller: Controller) -> None:
    lines = controller.metrics("landinggear_reconcile_total")
    assert sorted(line.split(" ")[0] for line in lines) == [
        'landinggear_reconcile_total{result="done"}',
        'landinggear_reconcile_total{result="requeue"}',
    ]
