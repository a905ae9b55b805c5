"""SIGTERM ends the controller within ``--shutdown-timeout``, even when the API server
stops answering mid-release (a reconcile's write, the Lease's release and the queued
Events all hang): a pod must be gone within its terminationGracePeriodSeconds, or the
kubelet kills it with its Lease still held and the next leader waits out the lease.

The API server "stops answering" through a local TCP proxy that black-holes the
controller's traffic (:mod:`tests.support.tcpproxy`).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.scenario import Harness
from tests.support.tcpproxy import proxied_kubeconfig

SHUTDOWN_TIMEOUT = 6.0


@pytest.mark.parametrize("shards", [1, 2])
def test_sigterm_exits_within_the_shutdown_timeout_while_the_api_server_hangs(
    harness: Harness, tmp_path: Path, shards: int
) -> None:
    proxy, proxied = proxied_kubeconfig(
        harness.controller_kubeconfig or harness.kube.kubeconfig, tmp_path / "proxied.kubeconfig"
    )
    try:
        harness.create_app(replicas=2)
        controller = harness.start_controller(
            kubeconfig=proxied,
            extra=(f"--shards={shards}", f"--shutdown-timeout={SHUTDOWN_TIMEOUT}"),
        )
        steps: list[dict[str, Any]] = [
            {"setWeight": 50},
            {"pause": {"duration": "3s"}},
            {"setWeight": 100},
        ]
        harness.create_rollout(steps=steps)
        harness.wait_status("adopted", phase="Healthy")
        harness.set_image("web:v2")
        harness.wait_status("paused at the first step", currentStepIndex=1, timeout=60)
        proxy.blackhole()  # the pause ends within 3 s: its next write hangs
        time.sleep(4.0)
        signalled = time.monotonic()
        controller.proc.send_signal(signal.SIGTERM)
        code = controller.proc.wait(timeout=SHUTDOWN_TIMEOUT + 20)
        took = time.monotonic() - signalled
    finally:
        proxy.close()
    logs = controller.logs()
    print(f"\nshards={shards}: exited {code} {took:.1f} s after SIGTERM "
          f"(--shutdown-timeout={SHUTDOWN_TIMEOUT})")  # fmt: skip
    assert code == 0, logs[-4000:]
    assert took <= SHUTDOWN_TIMEOUT + 1.5, logs[-4000:]
    assert "Stopped" in logs
