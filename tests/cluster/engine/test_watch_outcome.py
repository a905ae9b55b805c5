"""``landinggear watch --until-done`` with a real controller: the exit code is the
release's outcome — 3 once an abort makes the Rollout Degraded, 0 once it is released."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.scenario import Harness


def test_watch_until_done_exits_3_on_an_abort_and_0_once_released(harness: Harness) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    v2 = harness.wait_status("canary up", currentStepIndex=1)["canaryRevision"]
    watch = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "landinggear"),
            f"--kubeconfig={harness.kube.kubeconfig}",
            f"--namespace={harness.namespace}",
            *("watch", "web", "--until-done", "--timeout", "90s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watch.stdout is not None
    first = watch.stdout.readline()  # drawn: the watch runs before the abort
    assert first.startswith(f"Rollout {harness.namespace}/web: "), first

    harness.cli("abort", "web", "--reason", "errors in the logs")
    out, err = watch.communicate(timeout=120)

    assert watch.returncode == 3, err
    assert f"Rollout {harness.namespace}/web: Degraded" in out
    harness.cli("retry", "web")
    harness.wait_status("retried", canaryRevision=v2, currentStepIndex=1, timeout=30)
    harness.cli("promote", "web", "--full")
    done = harness.cli("watch", "web", "--until-done", "--timeout", "90s", check=False)
    assert done.returncode == 0, done.stderr
    assert harness.status()["stableRevision"] == v2
