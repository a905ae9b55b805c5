"""The API server restarted twice and etcd frozen while a canary is mid-step, on the
local control plane: the release still ends promoted, every step once, no timed
pause cut short. A controller that exits meanwhile is replaced, as its
Deployment would replace it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pytest

from e2e.localcluster import faults
from tests.support.scenario import ControllerProcess, Harness
from tests.support.waiting import eventually


@pytest.fixture(autouse=True)
def _local(harness: Harness) -> None:
    if harness.kube.audit_log is None:
        pytest.skip("needs the local control plane (restarts its processes)")


STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "4s"}},
    {"setWeight": 50},
    {"pause": {"duration": "4s"}},
    {"setWeight": 75},
    {"pause": {"duration": "4s"}},
]


class StepWatcher:
    """Polls the Rollout: each step index with every ``stepStartedAt`` it was seen with."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.seen: dict[int, set[str]] = {}
        self.order: list[int] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.harness.status()
            except Exception:  # the API server is restarting: a gap, counted
                self.errors += 1
            else:
                index, since = status.get("currentStepIndex"), status.get("stepStartedAt")
                if index is not None and since:
                    self.seen.setdefault(index, set()).add(since)
                    if not self.order or self.order[-1] != index:
                        self.order.append(index)
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_api_server_restarts_and_a_frozen_etcd_mid_release_skip_and_repeat_no_step(
    harness: Harness,
) -> None:
    state = faults.state_of(harness.kube.kubeconfig)
    harness.create_app(replicas=4)
    controllers: list[ControllerProcess] = [harness.start_controller(identity="c0")]

    def keep_one_running() -> None:
        """As a Deployment would: a controller that exited is replaced."""
        if controllers[-1].proc.poll() is not None:
            controllers.append(harness.start_controller(identity=f"c{len(controllers)}"))

    harness.create_rollout(steps=STEPS)
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    watcher = StepWatcher(harness)
    try:
        harness.set_image("web:v2")
        harness.wait_status("in the first pause", currentStepIndex=1, timeout=30)
        first = faults.restart(state, "kube-apiserver")
        keep_one_running()
        eventually(
            lambda: (harness.status().get("currentStepIndex") or 0) >= 3,
            timeout=60,
            what="on to the second pause",
        )
        second = faults.restart(state, "kube-apiserver", down_for=2)
        keep_one_running()
        with faults.paused(state, "etcd"):
            time.sleep(3)
        keep_one_running()

        def promoted() -> dict[str, Any] | None:
            keep_one_running()
            status = harness.status()
            done = status.get("phase") == "Healthy" and status.get("stableRevision") != v1
            return status if done else None

        status = eventually(promoted, timeout=120, what="the release promoted")
    finally:
        watcher.stop()

    history = [(h["action"], h["revision"]) for h in status["history"]]
    v2 = status["stableRevision"]
    assert history == [("Adopted", v1), ("ReleaseStarted", v2), ("Promoted", v2)]
    # Healthy is written with the old stable's scale-down; its pods go after that.
    eventually(
        lambda: harness.replica_sets() == {v1: (0, 0), v2: (4, 4)},
        timeout=15,
        what="the old stable's pods gone",
    )
    # No step repeated: each index began once; none skipped or cut short.
    assert watcher.order == sorted(watcher.order), watcher.order
    starts = {}
    for index, seen in watcher.seen.items():
        assert len(seen) == 1, f"step {index} started {len(seen)} times: {seen}"
        starts[index] = datetime.fromisoformat(next(iter(seen)).replace("Z", "+00:00"))
    for index in (1, 3):  # timed pauses of 4 s, both hit by a restart
        if index in starts and index + 1 in starts:
            assert (starts[index + 1] - starts[index]).total_seconds() >= 4.0
    print(f"\napiserver restarts took {first:.1f} s and {second:.1f} s (2 s down); "
          f"etcd frozen 3 s; {len(controllers)} controller process(es); "
          f"{watcher.errors} status reads failed while the API server was away")  # fmt: skip
