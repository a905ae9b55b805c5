"""Analysis looks that change no verdict are not each a status write, and lose nothing.

Real Prometheus scraping real apps, real traffic (as ``test_analysis``). A canary
is held at a 60 s pause while the analysis looks every 2 s: the looks' evidence
reaches the stored status at most every 30 s
(:data:`controller.core.pacing.LOOK_WRITE_INTERVAL`), the controller keeps
counting from what it put off (the counts grow, no look is taken twice), and a
verdict is still written at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from controller.core.pacing import LOOK_WRITE_INTERVAL
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import analysis_rollout, metric_status
from tests.support.scenario import ControllerProcess, Harness
from tests.support.waiting import eventually

ERRORS: list[dict[str, Any]] = [{"name": "errors", "builtin": "app-errors"}]
HELD_S = 60.0


def _status_writes(controller: ControllerProcess) -> float:
    return sum(
        value
        for name, value in controller.metrics().items()
        if name.startswith("landinggear_api_writes_total{")
        and "resource=rollouts/status" in name
        and "verb=update" in name
    )


def _looks(controller: ControllerProcess) -> float:
    return sum(
        value
        for name, value in controller.metrics().items()
        if name.startswith("landinggear_analysis_looks_total{")
    )


def test_looks_are_written_at_most_every_30_seconds_and_counted_in_full(
    harness: Harness, cluster_prometheus: Endpoint, web_traffic: ServiceTraffic
) -> None:
    harness.create_app(replicas=3, network=True)
    controller = harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": f"{HELD_S + 30:.0f}s"}}],
        metrics=ERRORS,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    eventually(controller.metrics, timeout=10, what="metrics served")
    harness.set_image("web:v2")
    harness.wait_status("at the pause", currentStepIndex=1, timeout=60)
    writes, looks = _status_writes(controller), _looks(controller)

    seen: list[dict[str, Any]] = []
    end = time.monotonic() + HELD_S
    while time.monotonic() < end:
        seen.append(metric_status(harness.status(), "errors"))
        time.sleep(1)
    writes, looks = _status_writes(controller) - writes, _looks(controller) - looks
    print(f"{looks:.0f} looks, {writes:.0f} status writes in {HELD_S:.0f} s at the pause")

    assert looks >= HELD_S / 2 / 2, "the analysis stopped looking"  # every 2 s, slack for load
    assert looks <= HELD_S / 2 + 3, "looks taken again: decided from the stored status"
    # Evidence alone: one write per interval (and one for a write that came due at the start).
    assert writes <= HELD_S / LOOK_WRITE_INTERVAL.total_seconds() + 1
    stored = [m["canaryRequests"] for m in seen]
    assert stored == sorted(stored), "a stored count went back: a look was counted from scratch"
    assert len(set(stored)) >= 2, f"the evidence never reached the status: {stored}"
    last = metric_status(harness.status(), "errors")
    measured = datetime.fromisoformat(last["measuredAt"])
    assert (datetime.now(UTC) - measured) < LOOK_WRITE_INTERVAL + LOOK_WRITE_INTERVAL / 2

    promoted = harness.wait_status(
        "promoted", phase="Healthy", previousStableRevision=v1, timeout=90
    )
    final = metric_status(promoted, "errors")
    assert final["verdict"] != "Fail"
    assert final["canaryRequests"] >= stored[-1]
